"""rakubun-harness: run the whole stack offline, buy credits through it, trigger Stripe events.

`up` starts the fake Stripe and the plugin simulator in this process and the service as a
subprocess, wired together; `buy` and `trigger` drive a running `up` through harness.json.
This module is the command line only: each subcommand lives in its own module.

Invariant: bad arguments are refused here, before anything starts or is sent: usage and the
reason on stderr, exit status 2, and with `--json` our one JSON document on stdout
(`{"ok": false, "failed_at": "arguments", "error": ...}`).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from harness.buy import run_buy
from harness.console import emit_json
from harness.harness_file import DEFAULT_DATA_DIR
from harness.stripe_fixture import ParamChange
from harness.trigger import run_resend, run_trigger, trigger_events
from harness.up import run_up


class BadArguments(SystemExit):
    """argparse's exit on bad arguments (status 2), with its message kept for `--json`."""

    def __init__(self, message: str) -> None:
        super().__init__(2)
        self.message = message


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose exit on bad arguments carries the message (BadArguments)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise BadArguments(message)


def _whole_number(text: str, least: int) -> int:
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if number < least:
        raise argparse.ArgumentTypeError(f"{number} is below {least}")
    return number


def positive_int(text: str) -> int:
    """A whole number from 1 (a worker count, a user id, an amount in the currency's unit)."""
    return _whole_number(text, 1)


def non_negative_int(text: str) -> int:
    """A whole number from 0 (a rate limit, where 0 means none)."""
    return _whole_number(text, 0)


def seconds(text: str) -> float:
    """A duration in seconds: a finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text} is not a duration (a number above 0)")
    return value


def port_number(text: str) -> int:
    """A TCP port for argparse: 0 (any free port) to 65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port (0 to 65535)")
    return port


def _change(kind: str) -> Callable[[str], str]:
    """An argparse type checking a --override/--add/--remove (parsed again when run)."""

    def check(text: str) -> str:
        try:
            ParamChange.parse(kind, text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
        return text

    return check


def build_parser() -> argparse.ArgumentParser:
    """The `rakubun-harness` argument parser with its up, buy and trigger subcommands."""
    parser = _Parser(
        prog="rakubun-harness",
        description="Run the Rakubun dashboard offline with a fake Stripe and a plugin simulator.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def data_dir_option(command: argparse.ArgumentParser) -> None:
        command.add_argument(
            "--data-dir",
            default=str(DEFAULT_DATA_DIR),
            help="where harness.json, the database and the fakes' state live (default: ./.harness)",
        )

    up = commands.add_parser(
        "up", help="start service, fake Stripe and plugin simulator, wired together"
    )
    data_dir_option(up)
    up.add_argument(
        "--host",
        default="127.0.0.1",
        help="address the three servers bind (default: 127.0.0.1; 0.0.0.0 lets a WordPress in"
        " a container reach them, e.g. at host.docker.internal)",
    )
    port_help = "port (0: any free port; default: the previous run's if free)"
    up.add_argument("--api-port", type=port_number, help=f"service {port_help}")
    up.add_argument("--stripe-port", type=port_number, help=f"fake Stripe {port_help}")
    up.add_argument("--plugin-port", type=port_number, help=f"plugin simulator {port_help}")
    up.add_argument(
        "--rate-limit",
        type=non_negative_int,
        default=100_000,
        help="service requests per minute per site (default: 100000, so load runs are not throttled)",
    )
    up.add_argument(
        "--workers", type=positive_int, default=1, help="service worker processes (default: 1)"
    )
    up.add_argument("--mongodb-url", help="use this MongoDB instead of the embedded SQLite store")
    up.add_argument(
        "--startup-timeout",
        type=seconds,
        default=60.0,
        help="seconds to wait for the service's health check (default: 60)",
    )
    up.set_defaults(run=run_up)

    buy = commands.add_parser(
        "buy", help="buy a credit package through a running `up`, as a WordPress user would"
    )
    data_dir_option(buy)
    buy.add_argument(
        "--package", default="article_starter", help="package_id (default: article_starter)"
    )
    buy.add_argument(
        "--user-id", type=positive_int, default=1, help="WordPress user id (default: 1)"
    )
    buy.add_argument("--email", default="editor@example.com", help="the user's email")
    buy.add_argument(
        "--flow",
        choices=("checkout", "intent"),
        default="checkout",
        help="hosted Checkout Session or PaymentIntent (default: checkout)",
    )
    buy.add_argument(
        "--manual",
        action="store_true",
        help="print the payment page and wait for Enter instead of paying automatically",
    )
    buy.add_argument(
        "--webhook-timeout",
        type=seconds,
        default=30.0,
        help="seconds to wait for the plugin's credits_updated webhook (default: 30)",
    )
    buy.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document on stdout for scripts (progress goes to stderr)",
    )
    buy.set_defaults(run=run_buy)

    trigger = commands.add_parser(
        "trigger",
        help="make the fake Stripe send an event to a running `up`, as `stripe trigger` does",
    )
    trigger.add_argument(
        "event", metavar="EVENT", choices=trigger_events(), help=", ".join(trigger_events())
    )
    data_dir_option(trigger)
    target = trigger.add_mutually_exclusive_group()
    target.add_argument("--session", help="apply the event to this Checkout Session")
    target.add_argument("--intent", help="apply the event to this PaymentIntent")
    target.add_argument(
        "--purchase",
        action="store_true",
        help="apply the event to a fresh purchase of the service, made through the plugin",
    )
    for kind, meaning in (
        ("override", "replace a fixture call's param: name:path=value"),
        ("add", "add a param to a fixture call: name:path=value"),
        ("remove", "remove a fixture call's param: name:path"),
    ):
        trigger.add_argument(
            f"--{kind}", action="append", type=_change(kind), metavar="CHANGE", help=meaning
        )
    trigger.add_argument("--amount", type=positive_int, help="refund amount (charge.refunded)")
    trigger.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document on stdout for scripts (progress goes to stderr)",
    )
    trigger.set_defaults(run=run_trigger)

    events = commands.add_parser("events", help="the fake Stripe's events")
    actions = events.add_subparsers(dest="action", required=True, metavar="ACTION")
    resend = actions.add_parser("resend", help="send a stored event again to every endpoint")
    resend.add_argument("event_id", metavar="EVT_ID")
    data_dir_option(resend)
    resend.add_argument(
        "--json",
        action="store_true",
        help="print one JSON document on stdout for scripts (progress goes to stderr)",
    )
    resend.set_defaults(run=run_resend)
    return parser


def run(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` and run the subcommand; returns the exit status (2: bad arguments)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
    except BadArguments as error:  # usage and reason are on stderr already
        if "--json" in argv:
            emit_json({"ok": False, "failed_at": "arguments", "error": error.message})
        return 2
    return int(asyncio.run(args.run(args)))


def main() -> None:
    """Console entry point of `rakubun-harness`."""
    sys.exit(run())


if __name__ == "__main__":
    main()
