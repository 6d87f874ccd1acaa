"""`rakubun-service`: the console script that runs the API on the embedded store."""

from __future__ import annotations

import subprocess

import httpx
import pytest

from tests.support.service_process import (
    SCRIPT,
    clean_env,
    free_port,
    running_service_process,
    start_service_process,
)


def test_the_console_script_is_installed():
    assert SCRIPT.is_file()


def test_help_names_the_options_and_exits_0():
    result = subprocess.run(
        [str(SCRIPT), "--help"], capture_output=True, text=True, timeout=60, env=clean_env()
    )
    assert result.returncode == 0, result.stderr
    for option in ("--host", "--port", "--workers"):
        assert option in result.stdout


def test_a_bad_setting_stops_it_before_it_serves(tmp_path):
    result = subprocess.run(
        [str(SCRIPT), "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(SQLITE_PATH=str(tmp_path / "db.sqlite3"), RATE_LIMIT_PER_MINUTE="lots"),
    )
    assert result.returncode != 0
    assert "RATE_LIMIT_PER_MINUTE" in result.stderr


@pytest.mark.parametrize("name", ["WEBHOOK_DISPATCH", "ACCESS_LOG"])
def test_an_unknown_boolean_spelling_stops_it_naming_the_variable(tmp_path, name):
    result = subprocess.run(
        [str(SCRIPT), "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(SQLITE_PATH=str(tmp_path / "db.sqlite3"), **{name: "enabled"}),
    )
    assert result.returncode != 0
    assert name in result.stderr and "'enabled'" in result.stderr
    assert not (tmp_path / "db.sqlite3").exists()


@pytest.mark.parametrize("workers", [1, 2])
def test_no_mongodb_at_the_url_stops_it_with_one_line_and_exit_3(tmp_path, workers):
    """A URL where nothing listens (a closed port on 127.0.0.1), run under a wrapper shell
    in its own session: one line on stderr, exit 3, and the wrapper lives on (a worker that
    fails its start makes Sanic SIGKILL the whole process group)."""
    from service.runtime.cli import EXIT_STORE_UNUSABLE

    url = f"mongodb://app:s3cret-pw@127.0.0.1:{free_port()}/?replicaSet=rs0"
    service = f"{SCRIPT} --port {free_port()} --workers {workers}"
    result = subprocess.run(
        ["sh", "-c", f'{service}; echo "wrapper-alive $?"'],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(MONGODB_URL=url, MONGODB_TIMEOUT_MS="300"),
        start_new_session=True,  # if the group is killed, the test runner is not in it
    )
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    assert result.stdout.strip().splitlines()[-1] == f"wrapper-alive {EXIT_STORE_UNUSABLE}"
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("rakubun-service: the mongodb store cannot be opened: MongoDB at")
    assert "MONGODB_TIMEOUT_MS (300 ms)" in line and "s3cret-pw" not in line


def test_a_sqlite_file_it_cannot_open_stops_it_with_one_line_and_exit_3(tmp_path):
    from service.runtime.cli import EXIT_STORE_UNUSABLE

    (tmp_path / "not-a-folder").write_text("")
    result = subprocess.run(
        [str(SCRIPT), "--port", str(free_port()), "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(SQLITE_PATH=str(tmp_path / "not-a-folder" / "db.sqlite3")),
        start_new_session=True,
    )
    assert result.returncode == EXIT_STORE_UNUSABLE, result.stderr[-2000:]
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("rakubun-service: the sqlite store cannot be opened: ")
    assert "not-a-folder" in line


@pytest.fixture
def running_service(tmp_path):
    port = free_port()
    db = tmp_path / "var" / "rakubun.sqlite3"
    secret = "sk_test_never_in_the_log_0123456789"
    env = {"SQLITE_PATH": str(db), "STRIPE_SECRET_KEY": secret, "ADMIN_API_TOKEN": "adm-" * 8}
    process = start_service_process(port, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    with running_service_process(process, port) as (url, health):
        yield url, health, db, process, secret


def test_it_starts_on_the_embedded_store_and_answers_health(running_service):
    url, health, db, process, _ = running_service
    assert health.status_code == 200, health.text
    assert health.json()["success"] is True
    assert health.json()["store"] == "sqlite"
    assert db.is_file()
    packages = httpx.get(f"{url}/api/v1/packages", timeout=5)
    assert packages.status_code == 200
    assert packages.json()["packages"]["articles"]


def test_it_stops_cleanly_and_never_logs_secrets(running_service):
    url, _, _, process, secret = running_service
    httpx.post(
        f"{url}/api/v1/plugins/register",
        timeout=5,
        json={
            "instance_id": "cli-site",
            "site_url": "https://a.example",
            "admin_email": "a@example.com",
        },
    )
    process.terminate()
    output, _ = process.communicate(timeout=20)
    assert process.returncode == 0, output
    assert secret not in output
    assert "rk_" not in output  # no API token either
