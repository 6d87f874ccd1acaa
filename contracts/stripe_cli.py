"""The official Stripe CLI, installed from npm once per machine, run so nothing leaves it.

Invariant: the binary is the pinned `@stripe/cli` version's Linux build, taken from a cache
directory outside the repository; every run has telemetry off and its proxies pointed at a
closed loopback port, so only the fake Stripe on 127.0.0.1 is reached.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

VERSION = "1.52.0"
PACKAGE = f"@stripe/cli@{VERSION}"
CLOSED_PORT_PROXY = "http://127.0.0.1:9"  # the discard port: nothing listens, so it refuses

# Its payment triggers: the fixture files `stripe trigger` runs (stripe-cli pkg/fixtures/triggers).
PAYMENT_EVENTS = (
    "charge.captured",
    "charge.dispute.closed",
    "charge.dispute.created",
    "charge.dispute.updated",
    "charge.failed",
    "charge.refund.updated",
    "charge.refunded",
    "charge.succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.completed",
    "checkout.session.expired",
    "payment_intent.amount_capturable_updated",
    "payment_intent.canceled",
    "payment_intent.created",
    "payment_intent.partially_funded",
    "payment_intent.payment_failed",
    "payment_intent.processing",
    "payment_intent.requires_action",
    "payment_intent.succeeded",
)


def cache_dir() -> Path:
    """Where the npm package lives: `$RAKUBUN_TOOLS_CACHE` or `~/.cache/rakubun-dashboard`."""
    root = os.environ.get("RAKUBUN_TOOLS_CACHE") or Path.home() / ".cache" / "rakubun-dashboard"
    return Path(root) / f"stripe-cli-{VERSION}"


def binary_in(prefix: Path) -> Path:
    """The Linux binary the npm package ships in its platform dependency."""
    return prefix / "node_modules" / "@stripe" / "cli-linux-x64" / "bin" / "stripe"


def install() -> Path | str:
    """The CLI's binary, installed with npm if missing; a reason (str) when it cannot be."""
    prefix = cache_dir()
    binary = binary_in(prefix)
    if binary.exists():
        return binary
    npm = shutil.which("npm")
    if npm is None:
        return "npm is not installed, so the official Stripe CLI cannot be"
    prefix.mkdir(parents=True, exist_ok=True)
    # Its postinstall script only checks the platform package, which npm installs anyway.
    subprocess.run(
        [npm, "install", "--prefix", str(prefix), "--no-save", "--ignore-scripts"]
        + ["--no-audit", "--no-fund", "--loglevel=error", PACKAGE],
        check=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    if not binary.exists():
        return f"{PACKAGE} has no Linux x64 binary on this machine"
    return binary


def offline_env(home: Path) -> dict[str, str]:
    """The CLI's environment: no telemetry, its update check and any stray call refused."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        STRIPE_CLI_TELEMETRY_OPTOUT="1",
        HTTP_PROXY=CLOSED_PORT_PROXY,
        HTTPS_PROXY=CLOSED_PORT_PROXY,
        http_proxy=CLOSED_PORT_PROXY,
        https_proxy=CLOSED_PORT_PROXY,
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    return env


def trigger(binary: Path, event: str, api_key: str, api_base: str, home: Path) -> str:
    """Run `stripe trigger EVENT` against `api_base`; its output, or AssertionError on failure."""
    home.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [str(binary), "trigger", event, "--api-key", api_key, "--api-base", api_base],
        env=offline_env(home),
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0 and "Trigger succeeded" in output, output
    return output
