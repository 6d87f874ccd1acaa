"""Schemathesis walks the links of openapi.yaml as the plugin does: register -> credits ->
deduct; register -> checkout -> session status -> verify; create-intent -> confirm; and the
admin's site, package and webhook sequences, every check on.

The service talks to the fake Stripe, and every checkout session and payment intent a step
creates is paid there at once: verify and confirm then grant credits while Stripe's own
signed webhook races them. After each scenario every balance must equal its ledger.
"""

from __future__ import annotations

import itertools
import re
import secrets
import time
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, seed, settings
from hypothesis.errors import FlakyStrategyDefinition

from contracts.support import SCHEMA_TARGET, load_contract_schema
from service.domain.catalogue import DEFAULT_PACKAGES

service = SCHEMA_TARGET.start()
schema = load_contract_schema(service)
#: The steps' own calls share one client: a new one per call loads the CA bundle each time.
http = httpx.Client(timeout=30)


#: Ids a scenario creates, with the pattern a valid one matches: each call gets a fresh one,
#: or every scenario after the first would stop at a 409 and never walk its links.
FRESH_IDS = {
    "registerPlugin": ("instance_id", re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,50}")),
    "adminCreatePackage": ("package_id", re.compile(r"[a-z0-9][a-z0-9_-]{0,50}")),
}


def give_fresh_id(operation_id: str, case: schemathesis.Case) -> None:
    """Append a unique suffix to the id a valid create request carries (invalid ones stay)."""
    field, valid = FRESH_IDS.get(operation_id, (None, None))
    if field is None or valid is None or not isinstance(case.body, dict):
        return
    value = case.body.get(field)
    if isinstance(value, str) and valid.fullmatch(value):
        case.body[field] = f"{value}-{secrets.token_hex(6)}"


def price_like_the_plugin(operation_id: str, case: schemathesis.Case) -> None:
    """A valid order of a catalogue package carries its price, currency and credit type, as
    the plugin copies them from GET /packages (the stateless suite fuzzes the mismatches)."""
    if operation_id not in ("createCheckoutSession", "createPaymentIntent"):
        return
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    if not isinstance(case.body, dict):
        return
    answer = http.get(f"{service.url}/api/v1/packages", timeout=10)
    catalogue = answer.json()["packages"]["packages"] if answer.status_code == 200 else []
    for package in catalogue:
        if package["package_id"] == case.body.get("package_id"):
            case.body.update(
                amount=package["price"],
                currency=package["currency"],
                credit_type=package["credit_type"],
            )


def reopen_the_catalogue() -> None:
    """Reactivate the seeded packages an earlier scenario deactivated: each scenario starts
    with the catalogue the plugin knows (inferred links deactivate what GET /packages lists)."""
    admin = {"Authorization": f"Bearer {service.admin_token}"}
    listed = http.get(f"{service.url}/api/v1/admin/packages", headers=admin, timeout=10)
    assert listed.status_code == 200, listed.text
    seeded = {package.package_id for package in DEFAULT_PACKAGES}
    for package in listed.json()["packages"]:
        if package["package_id"] in seeded and not package.get("active", True):
            answer = http.put(
                f"{service.url}/api/v1/admin/packages/{package['package_id']}",
                json={"active": True},
                headers=admin,
                timeout=10,
            )
            assert answer.status_code == 200, answer.text


def pay_on_fake_stripe(operation_id: str, body: Any) -> None:
    """Complete a session or intent the way a paying user would."""
    stripe_url = SCHEMA_TARGET.stripe.url
    if operation_id == "createCheckoutSession":
        path = f"checkout/sessions/{body['session_id']}/complete"
        payload = {"outcome": "paid"}
    elif operation_id == "createPaymentIntent":
        path, payload = f"payment_intents/{body['payment_intent_id']}/succeed", {}
    else:
        return
    answer = http.post(f"{stripe_url}/_harness/{path}", json=payload, timeout=10)
    assert answer.status_code == 200, f"fake Stripe refused to pay: {answer.text}"


class PurchaseSequences(schema.as_state_machine()):  # type: ignore[misc]
    """The spec's state machine, with the plugin's pricing, fresh ids, instant payments and a
    ledger reconciliation after every scenario."""

    scenarios = 0

    def setup(self) -> None:
        reopen_the_catalogue()

    def before_call(self, case: schemathesis.Case) -> None:
        super().before_call(case)
        operation_id = case.operation.definition.raw["operationId"]
        give_fresh_id(operation_id, case)
        price_like_the_plugin(operation_id, case)

    def after_call(self, response: schemathesis.Response, case: schemathesis.Case) -> None:
        super().after_call(response, case)
        if response.status_code == 200:
            pay_on_fake_stripe(case.operation.definition.raw["operationId"], response.json())

    def teardown(self) -> None:
        answer = http.post(
            f"{service.url}/api/v1/admin/reconcile",
            timeout=30,
            headers={"Authorization": f"Bearer {service.admin_token}"},
        )
        assert answer.status_code == 200, answer.text
        report = answer.json()
        assert report["ok"], f"balances differ from their ledger: {report['differences']}"
        PurchaseSequences.scenarios += 1
        super().teardown()


SCENARIOS = 200  # in all runs together
BUDGET_SECONDS = 90  # checked between runs
SETTINGS = settings(
    max_examples=50,  # scenarios per run
    stateful_step_count=10,
    deadline=None,
    database=None,
    phases=[Phase.generate],
    suppress_health_check=list(HealthCheck),
)


def is_inconsistent_replay(error: BaseException) -> bool:
    """Hypothesis's own assertion that a replayed step drew differently (what
    FlakyStrategyDefinition says in other places)."""
    traceback = error.__traceback__
    while traceback is not None and traceback.tb_next is not None:
        traceback = traceback.tb_next
    return (
        isinstance(error, AssertionError)
        and traceback is not None
        and traceback.tb_frame.f_globals.get("__name__")
        == "hypothesis.internal.conjecture.datatree"
    )


def test_linked_sequences_keep_the_contract() -> None:
    """Runs of the state machine, one seed each, until SCENARIOS scenarios or the time budget.

    A live service does not answer a replayed prefix as it did the first time (the site it
    registered exists now, the balance it spent is gone), and Hypothesis then abandons its run
    with FlakyStrategyDefinition. Schemathesis's own runner starts a new run then; so does
    this test. A failing check, a server error or a broken ledger fails it with its `curl`.
    """
    started = time.monotonic()
    for run in itertools.count():
        machine = seed(run)(type(f"PurchaseSequencesSeed{run}", (PurchaseSequences,), {}))
        try:
            machine.run(settings=SETTINGS)
        except FlakyStrategyDefinition:
            pass
        except Exception as error:
            if not is_inconsistent_replay(error):
                error.add_note(f"stateful run with @seed({run})")
                raise
        if PurchaseSequences.scenarios >= SCENARIOS or time.monotonic() - started > BUDGET_SECONDS:
            break
    assert PurchaseSequences.scenarios >= SCENARIOS // 4, (
        f"only {PurchaseSequences.scenarios} scenarios ran in {run + 1} runs"
    )
