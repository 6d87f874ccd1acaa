"""The plugin's recorded calls (`contracts/plugin-calls.json`, read from this repository) and
the one filler of their `{{name}}` placeholders, which the recorded Stripe events
(`contracts/fixtures/stripe_events/`) share."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
PLUGIN_CALLS_FILE = REPO_ROOT / "contracts" / "plugin-calls.json"
PLACEHOLDER = re.compile(r"\{\{(\w+)\}\}")


def load_plugin_calls() -> dict[str, Any]:
    """plugin-calls.json: `calls` in the order a purchase session makes them, `header_sets`."""
    return dict(json.loads(PLUGIN_CALLS_FILE.read_text(encoding="utf-8")))


def fill_placeholders(value: Any, values: dict[str, str]) -> Any:
    """Replace `{{name}}` in every string of a JSON value; an unknown name is a KeyError."""
    if isinstance(value, str):
        return PLACEHOLDER.sub(lambda m: values[m.group(1)], value)
    if isinstance(value, dict):
        return {k: fill_placeholders(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [fill_placeholders(v, values) for v in value]
    return copy.deepcopy(value)
