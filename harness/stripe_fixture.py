"""The Stripe CLI's trigger fixtures (`harness/stripe_fixtures/`), run against the fake Stripe.

A fixture is a list of API calls (`name`, `path`, `method`, `params`, optional
`expected_error_type`); `${name:a.b.0}` in a path or param is that field of an earlier call's
answer. `--override`/`--add`/`--remove name:path[=value]` change a call's params first, as
`stripe trigger` does.

Invariant: the calls run in the file's order through the fake's public `/v1` API with the
harness's secret key, Stripe's form encoding, and nothing else; an answer that is an error
stops the run unless it is the call's `expected_error_type`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from harness.console import report, short
from harness.errors import HarnessError

FIXTURES_DIR = Path(__file__).resolve().parent / "stripe_fixtures"
_REFERENCE = re.compile(r"\$\{([A-Za-z0-9_]+):([^}]+)\}")
_PATH_PART = re.compile(r"[^.\[\]]+")


def fixture_events() -> list[str]:
    """The events a fixture file exists for (the CLI's payment triggers)."""
    return sorted(path.stem for path in FIXTURES_DIR.glob("*.json"))


def load_fixture(event: str) -> dict[str, Any]:
    """The fixture file of `event`."""
    return dict(json.loads((FIXTURES_DIR / f"{event}.json").read_text(encoding="utf-8")))


@dataclass(frozen=True)
class ParamChange:
    """One `--override`, `--add` or `--remove`: `name:path=value` (`name:path` to remove)."""

    kind: str  # "override", "add" or "remove"
    name: str  # the fixture call it changes
    path: tuple[str, ...]  # `metadata.order_id` or `line_items[0][quantity]`
    value: str | None = None

    @classmethod
    def parse(cls, kind: str, text: str) -> ParamChange:
        """Read `name:path=value`; raises ValueError with what is wrong."""
        name, colon, rest = text.partition(":")
        if not colon or not name:
            raise ValueError(f"{text!r}: expected name:path{'' if kind == 'remove' else '=value'}")
        path, equals, value = rest.partition("=")
        if kind != "remove" and not equals:
            raise ValueError(f"{text!r}: expected name:path=value")
        parts = tuple(_PATH_PART.findall(path))
        if not parts:
            raise ValueError(f"{text!r}: no parameter path")
        return cls(kind, name, parts, value if kind != "remove" else None)

    def apply(self, params: dict[str, Any]) -> None:
        """Change `params` in place."""
        node: Any = params
        for part in self.path[:-1]:
            node = _child(node, part, create=self.kind != "remove")
            if node is None:
                return
        last = self.path[-1]
        if self.kind == "remove":
            if isinstance(node, dict):
                node.pop(last, None)
            elif isinstance(node, list) and last.isdigit() and int(last) < len(node):
                del node[int(last)]
            return
        if isinstance(node, list) and last.isdigit():
            index = int(last)
            node.extend([None] * (index + 1 - len(node)))
            node[index] = self.value
        elif isinstance(node, dict):
            node[last] = self.value


def _child(node: Any, part: str, *, create: bool) -> Any:
    if isinstance(node, list) and part.isdigit():
        index = int(part)
        if index >= len(node):
            if not create:
                return None
            node.extend({} for _ in range(index + 1 - len(node)))
        if node[index] is None and create:
            node[index] = {}
        return node[index]
    if isinstance(node, dict):
        if part not in node or not isinstance(node[part], dict | list):
            if not create:
                return None
            node[part] = {}
        return node[part]
    return None


def change_params(fixture: dict[str, Any], changes: list[ParamChange]) -> dict[str, Any]:
    """The fixture with the changes applied; a change naming no call is a HarnessError."""
    calls = [dict(call) for call in fixture.get("fixtures", [])]
    names = [call["name"] for call in calls]
    for change in changes:
        if change.name not in names:
            raise HarnessError(
                "arguments", f"--{change.kind} {change.name}: no such call; the calls: {names}"
            )
        for call in calls:
            if call["name"] == change.name:
                call["params"] = json.loads(json.dumps(call.get("params") or {}))
                change.apply(call["params"])
    return {**fixture, "fixtures": calls}


def fill(value: Any, answers: dict[str, Any]) -> Any:
    """`${name:field.path}` in every string replaced by that field of an earlier answer."""
    if isinstance(value, str):
        return _REFERENCE.sub(lambda m: str(_lookup(answers, m.group(1), m.group(2))), value)
    if isinstance(value, dict):
        return {k: fill(v, answers) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, answers) for v in value]
    return value


def _lookup(answers: dict[str, Any], name: str, path: str) -> Any:
    if name not in answers:
        raise HarnessError(f"fixture {name}", f"${{{name}:{path}}}: no answer named {name} yet")
    node: Any = answers[name]
    for part in path.split("."):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise HarnessError(
                f"fixture {name}", f"${{{name}:{path}}}: the answer has no {part!r} ({short(node)})"
            )
    return node


def form_pairs(params: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Stripe's form encoding: `a[b][0]=x`; booleans `true`/`false`."""
    if isinstance(params, dict):
        pairs: list[tuple[str, str]] = []
        for key, value in params.items():
            pairs += form_pairs(value, f"{prefix}[{key}]" if prefix else str(key))
        return pairs
    if isinstance(params, list):
        pairs = []
        for index, value in enumerate(params):
            pairs += form_pairs(value, f"{prefix}[{index}]")
        return pairs
    if isinstance(params, bool):
        return [(prefix, "true" if params else "false")]
    return [(prefix, "" if params is None else str(params))]


async def run_fixture(
    http: httpx.AsyncClient, stripe_url: str, secret_key: str, fixture: dict[str, Any]
) -> dict[str, Any]:
    """Make each call in turn; answers every call's answer by its name."""
    answers: dict[str, Any] = {}
    headers = {"Authorization": f"Bearer {secret_key}"}
    for call in fixture.get("fixtures", []):
        name, method = str(call["name"]), str(call.get("method", "post")).upper()
        path = fill(call["path"], answers)
        form = httpx.QueryParams(tuple(form_pairs(fill(call.get("params") or {}, answers))))
        url = f"{stripe_url}{path}"
        try:
            if method == "GET":
                response = await http.get(url, params=form, headers=headers)
            else:
                response = await http.request(
                    method,
                    url,
                    content=str(form),
                    headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
                )
            status = response.status_code
            answer = response.json()
        except (httpx.HTTPError, ValueError) as failure:
            raise HarnessError(f"fixture {name}", f"{method} {url}: {failure}") from None
        if status >= 400:
            error = answer.get("error", {}) if isinstance(answer, dict) else {}
            if error.get("type") != call.get("expected_error_type"):
                raise HarnessError(
                    f"fixture {name}",
                    f"{method} {path} answered {status}: {error.get('message') or short(answer)}",
                )
            report(f"fixture {name}", f"{method} {path}: {status} {error.get('type')}, as expected")
            answers[name] = error.get("payment_intent") or error
            continue
        report(f"fixture {name}", f"{method} {path}: {answer.get('id', '')}")
        answers[name] = answer
    return answers
