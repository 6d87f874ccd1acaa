"""The `rakubun-harness` command line: its parser (every flag documented), harness.json and
port choice."""

from __future__ import annotations

import argparse
import json
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import build_parser, run
from harness.harness_file import harness_secrets, read_harness_file, write_harness_file
from harness.ports import choose_port
from harness.service_process import service_environment

CLI = [sys.executable, "-c", "from harness.cli import main; main()"]


def test_help_lists_the_subcommands():
    result = subprocess.run([*CLI, "--help"], capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    for command in ("up", "buy", "trigger"):
        assert command in result.stdout


def test_trigger_refuses_an_unknown_event():
    result = subprocess.run(
        [*CLI, "trigger", "invoice.paid"], capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 2
    assert "invalid choice" in result.stderr


def test_up_defaults_raise_the_rate_limit():
    args = build_parser().parse_args(["up"])

    assert (args.rate_limit, args.workers, args.data_dir) == (100_000, 1, ".harness")
    assert args.api_port is None


def test_secrets_are_made_once_and_kept(tmp_path):
    first = harness_secrets(read_harness_file(tmp_path))
    write_harness_file(tmp_path, {"api_url": "http://127.0.0.1:1", **first})

    again = harness_secrets(read_harness_file(tmp_path))

    assert again == first
    assert first["stripe_secret_key"].startswith("sk_test_")
    assert first["stripe_publishable_key"].startswith("pk_test_")
    assert first["stripe_webhook_secret"].startswith("whsec_")
    assert len(set(first.values())) == 4


def test_harness_file_is_private(tmp_path):
    path = write_harness_file(tmp_path, {"admin_token": "secret"})

    assert path.stat().st_mode & 0o077 == 0


def test_previous_port_is_reused_when_free():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        taken = probe.getsockname()[1]
        assert choose_port(None, f"http://127.0.0.1:{taken}") == 0
    assert choose_port(None, f"http://127.0.0.1:{taken}") == taken
    assert choose_port(0, f"http://127.0.0.1:{taken}") == 0
    assert choose_port(None, None) == 0


def test_service_environment_configures_everything(tmp_path, monkeypatch):
    monkeypatch.setenv("MONGODB_URL", "mongodb://elsewhere")
    keys = harness_secrets({})

    env = service_environment(
        data_dir=tmp_path,
        stripe_url="http://127.0.0.1:8001",
        keys=keys,
        webhook_secret="whsec_endpoint",
        rate_limit=100_000,
        mongodb_url=None,
    )

    assert "MONGODB_URL" not in env
    assert env["SQLITE_PATH"] == str(tmp_path.resolve() / "rakubun.sqlite3")
    assert env["STRIPE_API_BASE"] == "http://127.0.0.1:8001"
    assert env["STRIPE_WEBHOOK_SECRET"] == "whsec_endpoint"
    assert env["ADMIN_API_TOKEN"] == keys["admin_token"]
    assert env["RATE_LIMIT_PER_MINUTE"] == "100000"
    assert env["WEBHOOK_RETRY_DELAYS"] == "1,2,4,8,16,32,64,128"
    assert env["WEBHOOK_ALLOW_PRIVATE_TARGETS"] == "1"
    assert env["PROVIDER_KEY_POLICY"] == "all"


# -- every flag is in harness/README.md ---------------------------------------------------------

README = Path(__file__).resolve().parents[2] / "harness" / "README.md"


def subcommand_parsers(
    parser: argparse.ArgumentParser | None = None, prefix: str = ""
) -> dict[str, argparse.ArgumentParser]:
    """Every leaf subcommand by its words: `up`, ..., `events resend`."""
    parser = parser or build_parser()
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found.update(subcommand_parsers(child, f"{prefix}{name} "))
    return found or {prefix.strip(): parser}


def readme_section(command: str) -> str:
    """The `## \\`rakubun-harness <command>...\\`` section of harness/README.md."""
    text = README.read_text(encoding="utf-8")
    [section] = [s for s in text.split("\n## ") if s.startswith(f"`rakubun-harness {command}")]
    return section


def shown(default: object) -> str:
    return (
        str(int(default)) if isinstance(default, float) and default.is_integer() else str(default)
    )


def test_every_flag_of_every_subcommand_has_a_readme_row_with_its_default():
    commands = subcommand_parsers()
    assert set(commands) == {"up", "buy", "trigger", "events resend"}
    for command, parser in commands.items():
        section = readme_section(command)
        for action in parser._actions:
            for flag in action.option_strings:
                if flag in ("-h", "--help"):
                    continue
                rows = [line for line in section.splitlines() if line.startswith(f"| `{flag}")]
                assert rows, f"{command} {flag} has no row in harness/README.md"
                default_cell = re.split(r"(?<!\\)\|", rows[0])[2]
                if action.default not in (None, False):
                    assert shown(action.default) in default_cell, (command, flag, rows[0])


# -- bad arguments are refused before anything starts --------------------------------------------

BAD_ARGUMENTS = [
    ("up", "--workers", "0"),
    ("up", "--workers", "two"),
    ("up", "--rate-limit", "-1"),
    ("up", "--startup-timeout", "nan"),
    ("up", "--startup-timeout", "0"),
    ("up", "--api-port", "65536"),
    ("buy", "--user-id", "0"),
    ("buy", "--user-id", "1.5"),
    ("buy", "--webhook-timeout", "inf"),
    ("buy", "--flow", "wire"),
    ("trigger", "charge.refunded", "--amount", "-5"),
    ("trigger", "charge.refunded", "--session", "cs_1", "--intent", "pi_1"),
    ("trigger", "invoice.paid"),
]


@pytest.mark.parametrize("argv", BAD_ARGUMENTS, ids=" ".join)
def test_bad_arguments_exit_2_with_usage_and_start_nothing(argv, tmp_path, capsys):
    data_dir = tmp_path / "never"

    status = run([*argv, "--data-dir", str(data_dir)])

    out, err = capsys.readouterr()
    assert status == 2
    assert err.startswith("usage: rakubun-harness") and ": error: " in err
    assert out == ""
    assert not data_dir.exists()


@pytest.mark.parametrize("argv", [a for a in BAD_ARGUMENTS if a[0] != "up"], ids=" ".join)
def test_bad_arguments_with_json_print_the_json_document(argv, capsys):
    status = run([*argv, "--json"])

    out, _ = capsys.readouterr()
    document = json.loads(out)
    assert status == 2
    assert document["ok"] is False and document["failed_at"] == "arguments"
    assert document["error"].startswith("argument ")
