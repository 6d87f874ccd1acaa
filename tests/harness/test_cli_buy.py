"""`rakubun-harness buy` and `trigger` drive the simulator and the fake's control API.

The service and the fake Stripe are small in-test fakes here; test_cli_up_buy.py runs the
real ones.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from harness.cli import build_parser
from harness.harness_file import write_harness_file
from harness.plugin_sim import PluginSimulator, sign_body
from harness.trigger import run_trigger
from tests.support.capture import CapturedRequest, CaptureServer

PACKAGES = [
    {"package_id": "article_starter", "credit_type": "article", "credits": 10, "price": 750},
    {"package_id": "image_starter", "credit_type": "image", "credits": 20, "price": 300},
]


PAID_INTENTS = {"pi_paid", "pi_3", "pi_refunded", "pi_disputed"}


@dataclass
class FakeWorld:
    """A scripted fake service and fake Stripe control API behind one capture server, as `up`
    would wire them."""

    url: str = ""
    site_url: str = ""
    secret: str = "whsec_plugin"
    credits: dict[str, int] = field(
        default_factory=lambda: {"article_credits": 5, "image_credits": 10, "rewrite_credits": 3}
    )
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    control_calls: list[str] = field(default_factory=list)
    send_webhooks: bool = True
    verify_status: int = 200
    no_open_sessions: bool = False
    no_intents: bool = False
    succeeded: set[str] = field(default_factory=set)
    instance_id: str = ""
    #: The admin API's deliveries to the registered site (None: no admin API at all).
    deliveries: list[dict[str, Any]] | None = None

    async def notify(self, order: dict[str, Any]) -> None:
        if not self.send_webhooks:
            return
        body = json.dumps(
            {
                "event": "credits_updated",
                "data": {"user_email": order["user_email"], "credit_type": order["credit_type"]},
            }
        ).encode()
        headers = {"X-Rakubun-Signature": sign_body(self.secret, body)}
        url = f"{self.site_url}/wp-admin/admin-ajax.php?action=rakubun_webhook"
        async with aiohttp.ClientSession() as http, http.post(url, data=body, headers=headers):
            pass

    async def grant(self, order_id: str) -> dict[str, Any]:
        order = self.orders[order_id]
        package = next(p for p in PACKAGES if p["package_id"] == order["package_id"])
        self.credits[f"{package['credit_type']}_credits"] += package["credits"]
        await self.notify(order)
        return {"success": True, "credits_added": package["credits"], "credit_type": "article"}

    async def handle(self, request: CapturedRequest) -> web.Response:
        body = request.json() or {}
        path = request.path
        if path == "/api/v1/plugins/register":
            self.site_url = body["site_url"]
            self.instance_id = body["instance_id"]
            return web.json_response(
                {"success": True, "api_token": "tok", "webhook_secret": self.secret}
            )
        if path.startswith("/api/v1/admin/") and self.deliveries is not None:
            if path == "/api/v1/admin/sites":
                site = {"site_id": "site_1", "instance_id": self.instance_id}
                return web.json_response({"success": True, "sites": [site]})
            if path == "/api/v1/admin/sites/site_1/webhooks":
                return web.json_response({"success": True, "deliveries": self.deliveries})
        if path == "/api/v1/packages":
            return web.json_response({"success": True, "packages": {"packages": PACKAGES}})
        if path == "/api/v1/users/credits":
            return web.json_response({"success": True, "credits": dict(self.credits)})
        if path == "/api/v1/checkout/sessions":
            self.orders["cs_1"] = {**body, "paid": False}
            return web.json_response(
                {"success": True, "session_id": "cs_1", "url": f"{self.url}/checkout/pay/cs_1"}
            )
        if path == "/api/v1/checkout/verify":
            if self.verify_status != 200:
                return web.json_response(
                    {"success": False, "error": "payment_not_completed", "message": "unpaid"},
                    status=self.verify_status,
                )
            return web.json_response(await self.grant(body["session_id"]))
        if path == "/api/v1/payments/create-intent":
            self.orders["pi_1"] = {**body, "paid": False}
            return web.json_response(
                {"success": True, "payment_intent_id": "pi_1", "amount": 300, "currency": "jpy"}
            )
        if path == "/api/v1/payments/confirm":
            self.orders["pi_1"]["confirm_body"] = body
            answer = await self.grant("pi_1")
            return web.json_response({**answer, "transaction_id": "tx_1"})
        if path.startswith("/_harness/"):
            self.control_calls.append(f"{request.method} {path} {json.dumps(body)}")
            if path.endswith("/succeed"):
                self.succeeded.add(path.split("/")[-2])
            return web.json_response([] if path.endswith("deliveries") else {"ok": True})
        if path == "/v1/checkout/sessions":
            sessions = [
                {"id": "cs_paid", "status": "complete"},
                {"id": "cs_open", "status": "open"},
            ]
            if self.no_open_sessions:
                sessions = sessions[:1]
            return web.json_response({"data": sessions})
        if path.startswith("/v1/checkout/sessions/"):
            session_id = path.rsplit("/", 1)[1]
            status = "complete" if session_id == "cs_paid" else "open"
            return web.json_response({"id": session_id, "status": status, "payment_intent": "pi_9"})
        if path.startswith("/v1/payment_intents/"):
            intent_id = path.rsplit("/", 1)[1]
            paid = intent_id in self.succeeded or intent_id in PAID_INTENTS
            status = "succeeded" if paid else "requires_payment_method"
            charge = f"ch_{intent_id[3:]}" if paid else None
            return web.json_response({"id": intent_id, "status": status, "latest_charge": charge})
        if path.startswith("/v1/charges/"):
            charge_id = path.rsplit("/", 1)[1]
            refunded = 750 if charge_id == "ch_refunded" else 0
            disputed = charge_id == "ch_disputed"
            return web.json_response(
                {"id": charge_id, "amount": 750, "amount_refunded": refunded, "disputed": disputed}
            )
        if path == "/v1/payment_intents":
            intents = [
                {"id": "pi_open", "status": "requires_payment_method"},
                {"id": "pi_paid", "status": "succeeded"},
            ]
            return web.json_response({"data": [] if self.no_intents else intents})
        if path == "/v1/disputes":
            disputes = [
                {"id": "dp_won", "status": "won", "payment_intent": "pi_paid"},
                {"id": "dp_open", "status": "needs_response", "payment_intent": "pi_paid"},
            ]
            wanted = request.query.get("payment_intent")
            return web.json_response(
                {"data": [d for d in disputes if wanted in (None, d["payment_intent"])]}
            )
        return web.json_response({"success": False}, status=404)


@pytest.fixture
async def world() -> AsyncIterator[FakeWorld]:
    world = FakeWorld()
    async with CaptureServer(world.handle) as server:
        world.url = server.url
        yield world


@pytest.fixture
async def harness_dir(world: FakeWorld, tmp_path: Path) -> AsyncIterator[Path]:
    simulator = PluginSimulator(world.url, data_dir=tmp_path)
    plugin_url = await simulator.start()
    write_harness_file(
        tmp_path,
        {
            "api_url": world.url,
            "stripe_url": world.url,
            "plugin_url": plugin_url,
            "stripe_secret_key": "sk_test_x",
        },
    )
    yield tmp_path
    await simulator.stop()


async def buy(harness_dir: Path, *extra: str) -> int:
    args = build_parser().parse_args(["buy", "--data-dir", str(harness_dir), *extra])
    return await args.run(args)


async def test_checkout_purchase_passes_every_step(world, harness_dir, capsys):
    status = await buy(harness_dir, "--webhook-timeout", "10")

    out = capsys.readouterr().out
    assert status == 0, out
    assert world.credits["article_credits"] == 15
    assert (
        'POST /_harness/checkout/sessions/cs_1/complete {"outcome": "paid"}' in world.control_calls
    )
    assert world.orders["cs_1"]["amount"] == 750
    assert "credits_updated  signature_valid=true  answered 200" in out
    assert "article 5 -> 15" in out
    assert out.rstrip().endswith("purchase complete")


async def test_intent_purchase_confirms(world, harness_dir, capsys):
    status = await buy(harness_dir, "--flow", "intent", "--package", "image_starter")

    out = capsys.readouterr().out
    assert status == 0, out
    assert world.credits["image_credits"] == 30
    assert "POST /_harness/payment_intents/pi_1/succeed {}" in world.control_calls
    assert world.orders["pi_1"]["confirm_body"]["payment_intent_id"] == "pi_1"
    assert "user_email" not in world.orders["pi_1"]["confirm_body"]


async def test_failed_verify_fails_the_purchase(world, harness_dir, capsys):
    world.verify_status = 402

    status = await buy(harness_dir)

    out = capsys.readouterr().out
    assert status == 1
    assert "FAILED at verify: service answered 402" in out


async def test_missing_plugin_webhook_fails_the_purchase(world, harness_dir, capsys):
    world.send_webhooks = False

    status = await buy(harness_dir, "--webhook-timeout", "0.2")

    out = capsys.readouterr().out
    assert status == 1
    assert "FAILED at plugin webhooks: no credits_updated" in out
    assert (
        "the service's deliveries could not be read (service deliveries: service answered 404"
        in out
    )


async def test_a_missing_plugin_webhook_is_explained_by_the_services_last_error(
    world, harness_dir, capsys
):
    world.send_webhooks = False
    old_url = "http://127.0.0.1:9/wp-admin/admin-ajax.php?action=rakubun_webhook"
    world.deliveries = [
        {"delivery_id": "wh_2", "event": "test_webhook", "status": "delivered"},
        {
            "delivery_id": "wh_1",
            "event": "credits_updated",
            "url": old_url,
            "status": "pending",
            "attempts": 2,
            "last_status_code": None,
            "last_error": "ClientConnectorError: Cannot connect to host 127.0.0.1:9",
        },
    ]

    status = await buy(harness_dir, "--webhook-timeout", "0.2")

    out = capsys.readouterr().out
    assert status == 1
    assert (
        "FAILED at plugin webhooks: no credits_updated reached the plugin within 0.2s;"
        f" the service's credits_updated delivery wh_1 to {old_url} is pending after 2"
        " attempt(s); last error: ClientConnectorError: Cannot connect to host 127.0.0.1:9"
    ) in out, out


async def test_a_missing_plugin_webhook_says_when_the_service_made_none(world, harness_dir, capsys):
    world.send_webhooks = False
    world.deliveries = []

    status = await buy(harness_dir, "--webhook-timeout", "0.2")

    assert status == 1
    assert "the service made no credits_updated delivery" in capsys.readouterr().out


async def test_unknown_package_lists_the_known_ones(world, harness_dir, capsys):
    status = await buy(harness_dir, "--package", "rewrite_business")

    assert status == 1
    assert "known: article_starter, image_starter" in capsys.readouterr().out


async def test_buy_without_a_running_harness_says_how_to_start_one(tmp_path, capsys):
    assert await buy(tmp_path / "nowhere") == 1
    assert "start `rakubun-harness up` first" in capsys.readouterr().out


async def trigger(harness_dir: Path, *argv: str) -> int:
    args = build_parser().parse_args(["trigger", *argv, "--data-dir", str(harness_dir)])
    return await run_trigger(args)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["checkout.session.expired", "--session", "cs_7"],
            'POST /_harness/checkout/sessions/cs_7/complete {"outcome": "expired"}',
        ),
        (
            ["checkout.session.completed", "--session", "cs_open"],
            'POST /_harness/checkout/sessions/cs_open/complete {"outcome": "paid"}',
        ),
        (
            ["payment_intent.succeeded", "--intent", "pi_open"],
            "POST /_harness/payment_intents/pi_open/succeed {}",
        ),
        (
            ["charge.refunded", "--intent", "pi_3", "--amount", "100"],
            'POST /_harness/payment_intents/pi_3/refund {"amount": 100}',
        ),
        (
            ["charge.dispute.created", "--intent", "pi_paid"],
            "POST /_harness/payment_intents/pi_paid/dispute {}",
        ),
        (
            ["charge.dispute.closed", "--intent", "pi_paid"],
            'POST /_harness/disputes/dp_open/close {"outcome": "lost"}',
        ),
        (
            ["charge.dispute.funds_reinstated", "--intent", "pi_paid"],
            'POST /_harness/disputes/dp_open/close {"outcome": "won"}',
        ),
        (
            ["payment_intent.payment_failed", "--session", "cs_4"],
            "POST /_harness/payment_intents/pi_9/fail {}",
        ),
    ],
)
async def test_trigger_uses_the_control_api(world, harness_dir, argv, expected):
    """With --session/--intent, the control API applies the event to that object."""
    assert await trigger(harness_dir, *argv) == 0
    assert expected in world.control_calls
    assert any(call.startswith("POST /_harness/drain") for call in world.control_calls)


async def test_trigger_purchase_opens_a_session_through_the_plugin(world, harness_dir):
    assert await trigger(harness_dir, "checkout.session.expired", "--purchase") == 0

    assert world.orders["cs_1"]["package_id"] == "article_starter"
    assert world.orders["cs_1"]["user_email"] == "editor@example.com"
    assert 'POST /_harness/checkout/sessions/cs_1/complete {"outcome": "expired"}' in (
        world.control_calls
    )


async def test_trigger_refund_of_a_purchase_creates_and_pays_one(world, harness_dir):
    assert await trigger(harness_dir, "charge.refunded", "--purchase") == 0

    paid_then_refunded = [call for call in world.control_calls if "/payment_intents/" in call]
    assert paid_then_refunded == [
        "POST /_harness/payment_intents/pi_1/succeed {}",
        "POST /_harness/payment_intents/pi_1/refund {}",
    ]


async def test_trigger_json_prints_one_document_on_stdout(world, harness_dir, capsys):
    assert await trigger(harness_dir, "payment_intent.succeeded", "--purchase", "--json") == 0

    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert document["ok"] is True
    assert (document["event"], document["target"], document["created"]) == (
        "payment_intent.succeeded",
        "pi_1",
        "pi_1",
    )
    assert [step["step"] for step in document["steps"]][:1] == ["create target"]
    assert "ok  payment_intent.succeeded" in captured.err


@pytest.mark.parametrize(
    ("argv", "why"),
    [
        (
            ["charge.dispute.created", "--intent", "pi_refunded"],
            "charge.dispute.created cannot apply to PaymentIntent pi_refunded: its charge"
            " ch_refunded is fully refunded",
        ),
        (
            ["charge.dispute.created", "--intent", "pi_disputed"],
            "its charge ch_disputed is already disputed",
        ),
        (
            ["charge.refunded", "--intent", "pi_open"],
            "charge.refunded cannot apply to PaymentIntent pi_open: its status is"
            " requires_payment_method; it needs succeeded",
        ),
        (
            ["payment_intent.succeeded", "--intent", "pi_paid"],
            "its status is succeeded; it needs processing or requires_action",
        ),
        (
            ["checkout.session.completed", "--session", "cs_paid"],
            "cannot apply to Checkout Session cs_paid: its status is complete; it needs open",
        ),
        (
            ["charge.dispute.closed", "--intent", "pi_3"],
            "pi_3: it has no open dispute",
        ),
        (
            ["payment_intent.created", "--intent", "pi_paid"],
            "payment_intent.created cannot apply to a named object",
        ),
        (
            ["charge.refunded", "--intent", "pi_paid", "--override", "refund:amount=5"],
            "--override/--add/--remove change fixture runs only",
        ),
    ],
)
async def test_trigger_refuses_an_event_its_target_cannot_take(
    world, harness_dir, capsys, argv, why
):
    assert await trigger(harness_dir, *argv) == 1

    assert why in capsys.readouterr().out
    assert not [call for call in world.control_calls if "/payment_intents/" in call]
    assert not [call for call in world.control_calls if "/disputes/" in call]


async def test_buy_json_prints_ids_and_balances(world, harness_dir, capsys):
    status = await buy(harness_dir, "--json", "--webhook-timeout", "10")

    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert status == 0, captured.err
    assert document["ok"] is True
    assert document["session_id"] == "cs_1"
    assert document["credits_before"]["article"] == 5
    assert document["credits_after"]["article"] == 15
    assert [
        (w["event"], w["status"], w["signature_valid"]) for w in document["plugin_webhooks"]
    ] == [("credits_updated", 200, True)]
    assert "purchase complete" in captured.err


async def test_buy_json_reports_the_failed_step(world, harness_dir, capsys):
    world.verify_status = 402

    status = await buy(harness_dir, "--json")

    document = json.loads(capsys.readouterr().out)
    assert status == 1
    assert (document["ok"], document["failed_at"]) == (False, "verify")
    assert "402" in document["error"]
