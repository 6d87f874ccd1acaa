"""The data dir's harness.json: where a running `up` lives and the secrets it uses."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, overload

from harness.errors import HarnessError

HARNESS_FILE = "harness.json"
DEFAULT_DATA_DIR = Path(".harness")
SECRET_KEYS = (
    "admin_token",
    "stripe_secret_key",
    "stripe_publishable_key",
    "stripe_webhook_secret",
)


def read_harness_file(data_dir: Path) -> dict[str, Any]:
    """The saved harness.json of a data dir, or {} when there is none yet."""
    path = data_dir / HARNESS_FILE
    if not path.is_file():
        return {}
    try:
        saved = json.loads(path.read_text())
    except ValueError as error:  # hand-edited: refuse rather than mint new secrets over it
        raise HarnessError("harness.json", f"{path} is not valid JSON ({error})") from None
    if not isinstance(saved, dict):
        raise HarnessError("harness.json", f"{path} does not hold a JSON object")
    return saved


def write_harness_file(data_dir: Path, values: Mapping[str, Any]) -> Path:
    """Write harness.json atomically, readable only by its owner (it holds secrets)."""
    path = data_dir / HARNESS_FILE
    partial = path.with_suffix(".json.tmp")
    partial.write_text(json.dumps(dict(values), indent=2) + "\n")
    partial.chmod(0o600)
    os.replace(partial, path)
    return path


def harness_secrets(saved: Mapping[str, Any]) -> dict[str, str]:
    """The data dir's admin token and Stripe keys: the saved ones, new ones where missing."""
    fresh = {
        "admin_token": secrets.token_urlsafe(32),
        "stripe_secret_key": "sk_test_" + secrets.token_urlsafe(24),
        "stripe_publishable_key": "pk_test_" + secrets.token_urlsafe(24),
        "stripe_webhook_secret": "whsec_" + secrets.token_urlsafe(24),
    }
    return {key: str(saved.get(key) or fresh[key]) for key in SECRET_KEYS}


def load_running_harness(data_dir: Path) -> dict[str, Any]:
    """harness.json of a running `up`, or a HarnessError telling how to start one."""
    saved = read_harness_file(data_dir)
    if not saved.get("api_url"):
        raise HarnessError(
            "harness.json", f"no {data_dir / HARNESS_FILE}; start `rakubun-harness up` first"
        )
    return saved


class HoldsSettings(Protocol):
    """An object holding harness.json's values."""

    @property
    def settings(self) -> Mapping[str, Any]: ...


class Setting:
    """A harness.json value, read as text from the `settings` of the object it is declared on,
    under the attribute's own name (`api_url = Setting()` reads `settings["api_url"]`)."""

    key = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.key = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Setting: ...
    @overload
    def __get__(self, obj: HoldsSettings, owner: type | None = None) -> str: ...
    def __get__(self, obj: HoldsSettings | None, owner: type | None = None) -> Setting | str:
        if obj is None:
            return self
        return str(obj.settings[self.key])


class HarnessAddresses:
    """Where a harness listens, from the harness.json values it holds in `settings`."""

    api_url = Setting()
    stripe_url = Setting()
    plugin_url = Setting()
