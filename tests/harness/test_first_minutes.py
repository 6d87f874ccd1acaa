"""A newcomer's first minutes with `rakubun-harness up`: what it prints works as printed.

The next steps it prints run as they stand, its plugin token and instance id authorize a
plugin call (the API reference's "Try it out"), and every root a newcomer opens answers a
page of links rather than a 404.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import aiohttp
import pytest

from tests.harness.test_cli_up_buy import run_cli, start_up

pytestmark = pytest.mark.e2e


def printed_value(output: list[str], label: str) -> str:
    """The value `up` printed after `label` (`plugin token    <value>`)."""
    [value] = [line[len(label) :].split()[0] for line in output if line.startswith(label)]
    return value


def printed_command(output: list[str], subcommand: str) -> list[str]:
    """The argv of the `rakubun-harness <subcommand> ...` next step, without the program."""
    [line] = [line for line in output if line.strip().startswith(f"rakubun-harness {subcommand}")]
    command = line.strip().split("  ")[0]  # two spaces part the command from its explanation
    return shlex.split(command)[1:]


async def test_up_prints_a_plugin_token_that_authorizes_a_plugin_call(running_up):
    settings = running_up.settings
    token = printed_value(running_up.output, "plugin token")
    instance_id = printed_value(running_up.output, "instance id")
    headers = {"Authorization": f"Bearer {token}", "X-Instance-ID": instance_id}

    async with aiohttp.ClientSession() as http:
        url = f"{settings['api_url']}/api/v1/users/credits?user_id=1"
        async with http.get(url, headers=headers) as response:
            body = await response.json()
    log = Path(settings["service_log"]).read_text()

    assert response.status == 200 and body["success"] is True, body
    assert token not in log and token not in (running_up.data_dir / "harness.json").read_text()


async def test_a_restarted_up_prints_the_same_plugin_token(running_up):
    first = printed_value(running_up.output, "plugin token")
    exit_status, rest = await running_up.stop()
    assert exit_status == 0, rest

    again = await start_up(running_up.data_dir)
    try:
        assert printed_value(again.output, "plugin token") == first
    finally:
        await again.stop()


async def test_the_printed_next_steps_buy_and_refund(running_up):
    buy = printed_command(running_up.output, "buy")
    trigger = printed_command(running_up.output, "trigger")
    [inspector] = re.findall(r"^  open (\S+/_harness/) ", "\n".join(running_up.output), re.M)

    status, out = await run_cli(*buy)
    assert status == 0, out
    status, out = await run_cli(*trigger)
    assert status == 0, out
    assert re.search(r"create target +PaymentIntent pi_", out), out  # the site's own purchase
    async with aiohttp.ClientSession() as http:
        async with http.get(inspector) as response:
            page = await response.text()

    assert buy[:3] == ["buy", "--data-dir", str(running_up.data_dir)], buy
    assert trigger[:2] == ["trigger", "charge.refunded"], trigger
    assert response.status == 200
    assert re.search(r'<tr id="re_\w+"', page), page
