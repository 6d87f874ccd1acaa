"""`harness.client`: a call that gets no answer, or an answer outside 2xx, fails with a
message naming the part of the harness and what it said."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from harness.client import HarnessCallFailed, HarnessClient
from harness.plugin_sim import PluginSimulator
from harness.ports import free_port


@pytest.fixture
async def simulator() -> AsyncIterator[PluginSimulator]:
    # The service it would call is a closed port: only the /_sim/ API answers.
    simulator = PluginSimulator(f"http://127.0.0.1:{free_port()}")
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.stop()


def settings(*, plugin_url: str, stripe_url: str = "", api_url: str = "") -> dict[str, str]:
    closed = f"http://127.0.0.1:{free_port()}"
    return {
        "plugin_url": plugin_url,
        "stripe_url": stripe_url or closed,
        "api_url": api_url or closed,
    }


async def test_an_answer_outside_2xx_names_the_part_and_its_answer(simulator):
    async with HarnessClient(settings(plugin_url=simulator.url)) as harness:
        with pytest.raises(HarnessCallFailed, match=r"^simulator answered 404: .*no-such-call"):
            await harness.plugin.call("no-such-call")


async def test_a_part_that_does_not_listen_is_named_unreachable(simulator):
    async with HarnessClient(settings(plugin_url=simulator.url)) as harness:
        with pytest.raises(HarnessCallFailed, match=r"_harness/drain is unreachable .*`up`"):
            await harness.stripe.drain()


async def test_the_simulators_answers_come_back_decoded(simulator):
    async with HarnessClient(settings(plugin_url=simulator.url)) as harness:
        assert await harness.plugin.last_webhook_seq() == 0
        assert await harness.plugin.webhooks("credits_updated", after=0, wait=0.01) == []
