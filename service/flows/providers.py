"""The AI provider catalogue (YAML) and how a site's effective provider settings are resolved.

Layers, later wins: the catalogue's defaults, the deployment's stored settings for the
provider (admin API), the site's own overrides (admin API). The site's provider choice is
`site.config["provider"]` (PUT /config/provider).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DEFAULT_FILE = Path(__file__).resolve().parent.parent / "providers.yaml"
SETTING_KEYS = (
    "model_article",
    "model_image",
    "model_rewrite",
    "max_tokens",
    "temperature",
    "image_quality",
    "system_prompt",
)


@dataclass(frozen=True)
class ProviderCatalogue:
    default_provider: str
    providers: dict[str, dict[str, Any]]
    image_sizes: list[str]
    rewrite_strategies: list[str]
    system_prompt: str

    @classmethod
    def load(cls, path: Path | None = None) -> ProviderCatalogue:
        with open(path or DEFAULT_FILE, encoding="utf-8") as fh:
            raw = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        providers = raw["providers"]
        default = raw.get("default_provider") or next(iter(providers))
        if default not in providers:
            raise ValueError(f"default_provider {default!r} is not in the catalogue")
        return cls(
            default,
            providers,
            list(raw.get("image_sizes", [])),
            list(raw.get("rewrite_strategies", [])),
            raw.get("system_prompt", ""),
        )

    def __contains__(self, name: object) -> bool:
        return name in self.providers

    def resolve(
        self, name: str, stored: dict[str, Any] | None, site_overrides: dict[str, Any] | None
    ) -> dict[str, Any]:
        """The effective settings of provider `name` for one site, key included."""
        entry = self.providers[name]
        stored = stored or {}
        settings: dict[str, Any] = {k: entry.get("defaults", {}).get(k) for k in SETTING_KEYS}
        settings["system_prompt"] = settings["system_prompt"] or self.system_prompt
        settings.update({k: v for k, v in stored.items() if k in SETTING_KEYS})
        for key, value in (site_overrides or {}).items():
            if key in SETTING_KEYS:
                settings[key] = value
        env_key = os.environ.get(entry.get("api_key_env", "") or "", "") or None
        api_key = stored["api_key"] if "api_key" in stored else env_key
        return {
            "provider": name,
            "label": entry.get("label", name),
            "api_key": api_key or None,
            "base_url": stored.get("base_url") or entry["base_url"],
            "models": entry.get("models", {}),
            **settings,
        }

    def summary(self, name: str, stored: dict[str, Any] | None) -> dict[str, Any]:
        """What may be listed: everything but the key, which shows only as present or not."""
        resolved = self.resolve(name, stored, None)
        return {
            "name": name,
            "label": resolved["label"],
            "base_url": resolved["base_url"],
            "has_api_key": bool(resolved["api_key"]),
            "models": {k: list(v) for k, v in resolved["models"].items()},
            "defaults": {k: resolved[k] for k in SETTING_KEYS if k != "system_prompt"},
        }
