"""One settings object, read from the environment, with defaults that run offline."""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

DEFAULT_WEBHOOK_RETRY_DELAYS = (60.0, 300.0, 900.0, 3600.0, 7200.0, 21600.0, 43200.0)
#: `all`: every site gets the provider keys; `approved`: only sites an admin approved.
PROVIDER_KEY_POLICIES = ("all", "approved")


def _int(env: dict[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    # ASCII digits only: int() also takes "1_000" and other scripts' digits.
    if not re.fullmatch(r"-?[0-9]+", raw):
        raise ValueError(f"{name} must be an integer, got {raw!r}")
    value = int(raw)
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


#: The spellings a boolean setting accepts, in any case; anything else refuses start-up.
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


def _bool(env: dict[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if raw.lower() in TRUE_WORDS:
        return True
    if raw.lower() in FALSE_WORDS:
        return False
    raise ValueError(
        f"{name} must be one of {'/'.join(TRUE_WORDS)} or "
        f"{'/'.join(FALSE_WORDS)} (any case), got {raw!r}"
    )


#: Seconds as a plain decimal: float() also takes "nan", "inf", "1e999" (inf) and "1_0".
SECONDS = re.compile(r"[0-9]+(\.[0-9]+)?")


def _delays(raw: str) -> tuple[float, ...]:
    parts = [x.strip() for x in raw.split(",") if x.strip()]
    for part in parts:
        if part.startswith("-") and SECONDS.fullmatch(part[1:]):
            raise ValueError("WEBHOOK_RETRY_DELAYS must not be negative")
        if not SECONDS.fullmatch(part):
            raise ValueError(f"WEBHOOK_RETRY_DELAYS must be comma-separated seconds, got {raw!r}")
    delays = tuple(float(part) for part in parts)
    if not all(math.isfinite(d) for d in delays):
        raise ValueError("WEBHOOK_RETRY_DELAYS holds a delay too large to be a number of seconds")
    return delays


@dataclass(frozen=True)
class Settings:
    """Everything the service reads from its environment. Secrets stay out of `repr`."""

    mongodb_url: str | None = field(default=None, repr=False)
    mongodb_database: str | None = None  # None: the URL's database, else "rakubun"
    mongodb_timeout_ms: int = 10000
    mongodb_index_build_timeout_ms: int = 600_000
    sqlite_path: Path = Path("var/rakubun.sqlite3")
    sqlite_synchronous: str = "FULL"
    sqlite_mmap_size: int = 1 << 30
    stripe_secret_key: str | None = field(default=None, repr=False)
    stripe_public_key: str | None = None
    stripe_webhook_secret: str | None = field(default=None, repr=False)
    stripe_api_base: str | None = None
    stripe_currency: str = "JPY"
    admin_api_token: str | None = field(default=None, repr=False)
    free_article_credits: int = 5
    free_image_credits: int = 10
    free_rewrite_credits: int = 3
    rate_limit_per_minute: int = 100
    providers_file: Path | None = None
    webhook_retry_delays: tuple[float, ...] = DEFAULT_WEBHOOK_RETRY_DELAYS
    webhook_timeout_seconds: float = 10.0
    webhook_poll_seconds: float = 2.0
    webhook_dispatch: bool = True
    webhook_retention_days: int = 7
    # Local development only: webhooks may go to loopback and private networks.
    webhook_allow_private_targets: bool = False
    webhook_loopback_only: bool = False
    provider_key_policy: str = "approved"
    max_body_bytes: int = 1_048_576
    validate_responses: bool = False
    access_log: bool = True
    log_format: str = "text"
    metrics_token: str | None = field(default=None, repr=False)
    proxies_count: int = 0
    real_ip_header: str | None = None
    forwarded_secret: str | None = field(default=None, repr=False)
    api_docs: bool = True
    worker_cpu_affinity: str = "off"
    # Set by `rakubun-harness up`: /health echoes it, proving the answer came from its child.
    harness_run: str | None = None

    @property
    def free_credits(self) -> dict[str, int]:
        return {
            "article": self.free_article_credits,
            "image": self.free_image_credits,
            "rewrite": self.free_rewrite_credits,
        }

    @property
    def store_name(self) -> str:
        return "mongodb" if self.mongodb_url else "sqlite"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Read the settings from `env` (default: os.environ); `overrides` win."""
        env = dict(os.environ if env is None else env)

        def text(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        values: dict[str, Any] = {
            "mongodb_url": text("MONGODB_URL"),
            "mongodb_database": text("MONGODB_DATABASE"),
            "mongodb_timeout_ms": _int(env, "MONGODB_TIMEOUT_MS", 10000, minimum=1),
            "mongodb_index_build_timeout_ms": _int(
                env, "MONGODB_INDEX_BUILD_TIMEOUT_MS", 600_000, minimum=1
            ),
            "sqlite_path": Path(text("SQLITE_PATH") or "var/rakubun.sqlite3"),
            "sqlite_synchronous": (text("SQLITE_SYNCHRONOUS") or "FULL").upper(),
            "sqlite_mmap_size": _int(env, "SQLITE_MMAP_SIZE", 1 << 30),
            "stripe_secret_key": text("STRIPE_SECRET_KEY"),
            "stripe_public_key": text("STRIPE_PUBLIC_KEY"),
            "stripe_webhook_secret": text("STRIPE_WEBHOOK_SECRET"),
            "stripe_api_base": text("STRIPE_API_BASE"),
            "stripe_currency": (text("STRIPE_CURRENCY") or "JPY").upper(),
            "admin_api_token": text("ADMIN_API_TOKEN"),
            "free_article_credits": _int(env, "FREE_ARTICLE_CREDITS", 5),
            "free_image_credits": _int(env, "FREE_IMAGE_CREDITS", 10),
            "free_rewrite_credits": _int(env, "FREE_REWRITE_CREDITS", 3),
            "rate_limit_per_minute": _int(env, "RATE_LIMIT_PER_MINUTE", 100),  # 0: no limit
            "max_body_bytes": _int(env, "MAX_BODY_BYTES", 1_048_576, minimum=1),
            "providers_file": Path(p) if (p := text("PROVIDERS_FILE")) else None,
            "webhook_retry_delays": _delays(text("WEBHOOK_RETRY_DELAYS") or "")
            or DEFAULT_WEBHOOK_RETRY_DELAYS,
            "webhook_dispatch": _bool(env, "WEBHOOK_DISPATCH", True),
            "webhook_retention_days": _int(env, "WEBHOOK_RETENTION_DAYS", 7, minimum=1),
            "validate_responses": _bool(env, "VALIDATE_RESPONSES", False),
            "access_log": _bool(env, "ACCESS_LOG", True),
            "log_format": (text("LOG_FORMAT") or "text").lower(),
            "metrics_token": text("METRICS_TOKEN"),
            "proxies_count": _int(env, "PROXIES_COUNT", 0),
            "real_ip_header": text("REAL_IP_HEADER"),
            "forwarded_secret": text("FORWARDED_SECRET"),
            "api_docs": _bool(env, "API_DOCS", True),
            "webhook_allow_private_targets": _bool(env, "WEBHOOK_ALLOW_PRIVATE_TARGETS", False),
            "webhook_loopback_only": _bool(env, "WEBHOOK_LOOPBACK_ONLY", False),
            "provider_key_policy": (text("PROVIDER_KEY_POLICY") or "approved").lower(),
            "worker_cpu_affinity": (text("WORKER_CPU_AFFINITY") or "off").lower(),
            "harness_run": text("RAKUBUN_HARNESS_RUN"),
        }
        if values["log_format"] not in ("text", "json"):
            raise ValueError(f"LOG_FORMAT must be text or json, got {values['log_format']!r}")
        if values["sqlite_synchronous"] not in ("OFF", "NORMAL", "FULL", "EXTRA"):
            raise ValueError("SQLITE_SYNCHRONOUS must be OFF, NORMAL, FULL or EXTRA")
        known = {f.name for f in fields(cls)}
        unknown = set(overrides) - known
        if unknown:
            raise TypeError(f"unknown settings: {sorted(unknown)}")
        values.update(overrides)
        if values["provider_key_policy"] not in PROVIDER_KEY_POLICIES:
            raise ValueError("PROVIDER_KEY_POLICY must be all or approved")
        if values["worker_cpu_affinity"] not in ("off", "auto"):
            raise ValueError(
                f"WORKER_CPU_AFFINITY must be off or auto, got {values['worker_cpu_affinity']!r}"
            )
        return cls(**values)
