"""The vendored copy of the plugin's calls stays equal to the shared contract."""

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "contract" / "plugin-calls.json"


def test_vendored_plugin_calls_match_the_shared_contract():
    if not SHARED.exists():
        pytest.skip("the shared contract is not beside this checkout")
    vendored = json.loads((ROOT / "contracts" / "plugin-calls.json").read_text(encoding="utf-8"))
    assert vendored == json.loads(SHARED.read_text(encoding="utf-8"))
