"""The plugin's WordPress options (instance id, credentials, status), kept in plugin-sim.json."""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

OPTIONS_FILE = "plugin-sim.json"
#: The options no tool may see: what the service handed out at registration.
SECRET_FIELDS = ("api_token", "webhook_secret")


@dataclass
class PluginOptions:
    """What the real plugin stores with update_option(), plus the site it registered as."""

    instance_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    api_token: str | None = None
    webhook_secret: str | None = None
    registered_site_url: str | None = None
    status: str = "enabled"
    disabled_reason: str | None = None

    @property
    def registered(self) -> bool:
        """True once registration handed out an api_token."""
        return bool(self.api_token)

    def public_view(self) -> dict[str, Any]:
        """The options a tool may see: everything except the token and the secret."""
        public = {k: v for k, v in asdict(self).items() if k not in SECRET_FIELDS}
        return {**public, "registered": self.registered}


class OptionsStore:
    """Loads and saves PluginOptions under a data directory; keeps them in memory without one."""

    def __init__(self, data_dir: Path | None) -> None:
        self.path = Path(data_dir) / OPTIONS_FILE if data_dir is not None else None

    def load(self) -> PluginOptions:
        """Read the saved options, or make fresh ones (a new instance id) on first activation."""
        if self.path is None or not self.path.exists():
            options = PluginOptions()
            self.save(options)
            return options
        saved = json.loads(self.path.read_text())
        known = {name: saved[name] for name in PluginOptions.__dataclass_fields__ if name in saved}
        return PluginOptions(**known)

    def save(self, options: PluginOptions) -> None:
        """Write atomically, so a crash never leaves half a file behind."""
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".json.tmp")
        partial.write_text(json.dumps(asdict(options), indent=2))
        partial.chmod(0o600)  # the api token and webhook secret live here
        os.replace(partial, self.path)
