"""The container image and compose file, read against what the service actually reads: every
variable they set is a setting of `service/settings.py`, ports and the health path agree with
the spec, and MongoDB runs as the replica set the URL names. (No container engine runs here:
these checks are what `docker compose config` and a first start would catch.)"""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from service.http.contract import Contract

ROOT = Path(__file__).resolve().parents[1]
ENV_NAME = re.compile(r"[A-Z][A-Z0-9_]+")


def settings_variables() -> set[str]:
    """Every environment variable `Settings.from_env` reads: the upper-case string literals
    passed to its readers (`text("X")`, `_int(env, "X", ...)`, `_bool(env, "X", ...)`)."""
    tree = ast.parse((ROOT / "service" / "settings.py").read_text())
    from_env = next(
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and node.name == "from_env"
    )
    return {
        arg.value
        for call in ast.walk(from_env)
        if isinstance(call, ast.Call)
        for arg in call.args
        if isinstance(arg, ast.Constant)
        and isinstance(arg.value, str)
        and ENV_NAME.fullmatch(arg.value)
    }


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) per instruction, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def instructions(name: str) -> list[str]:
    return [args for instruction, args in dockerfile() if instruction == name]


def exec_form(args: str) -> list[str]:
    return yaml.safe_load(args)  # a JSON array is YAML


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


@pytest.fixture(scope="module")
def api(compose) -> dict:
    (name,) = [n for n, s in compose["services"].items() if s.get("build")]
    return compose["services"][name]


@pytest.fixture(scope="module")
def mongo(compose) -> dict:
    (service,) = [
        s for s in compose["services"].values() if str(s.get("image", "")).startswith("mongo:")
    ]
    return service


@pytest.fixture(scope="module")
def contract() -> Contract:
    return Contract.load()


def health_path(contract: Contract) -> str:
    return contract.operations["getHealth"].path


# ---------------------------------------------------------------- the settings
def test_the_settings_variables_are_found():
    found = settings_variables()
    assert {
        "MONGODB_URL",
        "ADMIN_API_TOKEN",
        "WEBHOOK_DISPATCH",
        "RATE_LIMIT_PER_MINUTE",
        "LOG_FORMAT",
        "METRICS_TOKEN",
        "PROXIES_COUNT",
    } <= found


def test_every_variable_compose_sets_is_a_setting(api):
    unknown = set(api["environment"]) - settings_variables()
    assert not unknown, f"compose sets variables the service never reads: {sorted(unknown)}"


def test_every_variable_the_image_sets_is_a_setting():
    names = set()
    for args in instructions("ENV"):
        names |= {pair.split("=", 1)[0] for pair in shlex.split(args)}
    unknown = names - settings_variables()
    assert not unknown, f"the Dockerfile sets variables the service never reads: {sorted(unknown)}"


def test_compose_values_are_ones_the_settings_accept(api):
    from service.settings import Settings

    # ${NAME:-default} as compose would expand it with nothing in the shell.
    env = {
        name: re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", str(value))
        for name, value in api["environment"].items()
    }
    settings = Settings.from_env(env)
    assert settings.store_name == "mongodb"
    assert settings.webhook_dispatch and settings.access_log
    assert settings.log_format == "json"


def documented_settings() -> set[str]:
    """The variables named in the first cell of a row of `docs/operating.md`'s tables."""
    text = (ROOT / "docs" / "operating.md").read_text()
    return {
        name
        for row in re.findall(r"^\| (`[A-Z].*?) \|", text, flags=re.M)
        for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row)
    }


def test_every_setting_is_documented():
    assert settings_variables() <= documented_settings(), sorted(
        settings_variables() - documented_settings()
    )


def test_every_documented_setting_is_in_compose_or_left_out_for_a_reason(api):
    documented = documented_settings()
    # SQLite's settings do not apply on MongoDB; the rest are tests' and fakes' switches.
    left_out = {
        "SQLITE_PATH",
        "SQLITE_SYNCHRONOUS",
        "SQLITE_MMAP_SIZE",
        "STRIPE_API_BASE",
        "VALIDATE_RESPONSES",
        "PROVIDERS_FILE",
        "REAL_IP_HEADER",
        "FORWARDED_SECRET",
        "WEBHOOK_LOOPBACK_ONLY",
        "RAKUBUN_HARNESS_RUN",  # rakubun-harness up's own, never a deployment's
    }
    assert documented - left_out <= set(api["environment"]), sorted(
        documented - left_out - set(api["environment"])
    )


# ---------------------------------------------------------------- the image
def test_the_image_is_slim_python_and_runs_as_a_non_root_user():
    (base,) = instructions("FROM")
    assert re.fullmatch(r"python:3\.11-slim(@sha256:[0-9a-f]{64})?", base)
    (user,) = instructions("USER")
    assert user.split(":")[0] not in ("root", "0")


def test_the_image_installs_the_repository_with_the_pinned_resolution():
    (run,) = [r for r in instructions("RUN") if "pip install" in r]
    assert "--constraint constraints.txt ." in run
    copied = " ".join(instructions("COPY"))
    for needed in ("pyproject.toml", "constraints.txt", "openapi.yaml", "service", "harness"):
        assert needed in copied


def test_the_image_serves_on_all_interfaces_on_the_exposed_port(contract):
    entrypoint = exec_form(instructions("ENTRYPOINT")[0])
    assert entrypoint[:3] == ["rakubun-service", "--host", "0.0.0.0"]
    port = entrypoint[entrypoint.index("--port") + 1]
    assert instructions("EXPOSE") == [port]
    spec_port = urlsplit(contract.spec["servers"][0]["url"]).port
    assert int(port) == spec_port


def test_the_healthcheck_asks_the_spec_health_path_with_python(contract):
    (check,) = instructions("HEALTHCHECK")
    command = exec_form(check.split("CMD", 1)[1].strip())
    assert command[0] == "python" and "curl" not in check
    port = exec_form(instructions("ENTRYPOINT")[0])[-1]
    assert f"http://127.0.0.1:{port}{health_path(contract)}" in command[-1]


# ---------------------------------------------------------------- compose
def test_compose_runs_two_workers_on_the_image_port(api):
    command = api["command"]
    assert command[command.index("--workers") + 1] == "2"
    port = exec_form(instructions("ENTRYPOINT")[0])[-1]
    published = [str(p).rsplit(":", 1)[-1] for p in api["ports"]]
    assert published == [port]


def test_the_api_waits_for_a_healthy_mongo(api, compose, mongo):
    name = next(n for n, s in compose["services"].items() if s is mongo)
    assert api["depends_on"][name]["condition"] == "service_healthy"


def test_mongo_is_7_with_the_replica_set_the_url_names(api, compose, mongo):
    assert re.fullmatch(r"mongo:7(\.\d+)*", mongo["image"])
    command = mongo["command"]
    replica_set = command[command.index("--replSet") + 1]
    url = urlsplit(api["environment"]["MONGODB_URL"])
    assert parse_qs(url.query)["replicaSet"] == [replica_set]
    name = next(n for n, s in compose["services"].items() if s is mongo)
    assert url.hostname == name
    script = mongo["healthcheck"]["test"][-1]
    assert "rs.initiate(" in script and f'_id: "{replica_set}"' in script
    assert f'host: "{name}:27017"' in script


def test_mongo_keeps_its_data_in_a_named_volume(compose, mongo):
    (volume,) = mongo["volumes"]
    source, target = volume.split(":")[:2]
    assert target == "/data/db" and source in compose["volumes"]


async def test_the_healthcheck_command_passes_on_a_live_service_and_fails_without_one(service):
    import asyncio
    import sys

    (check,) = instructions("HEALTHCHECK")
    command = exec_form(check.split("CMD", 1)[1].strip())
    port = exec_form(instructions("ENTRYPOINT")[0])[-1]

    async def exit_code(url: str) -> int:
        code = command[-1].replace(f"http://127.0.0.1:{port}", url)
        process = await asyncio.create_subprocess_exec(
            sys.executable, *command[1:-1], code, stderr=asyncio.subprocess.DEVNULL
        )
        return await asyncio.wait_for(process.wait(), timeout=30)

    assert await exit_code(service.url) == 0
    await service.stop()
    assert await exit_code(service.url) != 0
