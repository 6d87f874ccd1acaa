"""`WebhookDispatcher.close` closes every client it made, in the order made, each even when
another's close fails, and forgets them so the next delivery makes new ones."""

from __future__ import annotations

import pytest

from service.outbound.notify import WebhookDispatcher
from tests.support.service import service_settings


class Client:
    """A stand-in client that records its close and may fail it."""

    def __init__(self, name: str, closed: list[str], *, fails: bool = False) -> None:
        self.name, self.closed, self.fails = name, closed, fails

    async def close(self) -> None:
        self.closed.append(self.name)
        if self.fails:
            raise OSError(f"{self.name} failed to close")


@pytest.mark.parametrize("failing", ["fast", "client", "guard", None])
async def test_close_closes_every_client_in_order_even_when_one_fails(tmp_path, failing):
    dispatcher = WebhookDispatcher(store=None, settings=service_settings(tmp_path))  # type: ignore[arg-type]
    closed: list[str] = []
    fast, client, guard = (
        Client(n, closed, fails=n == failing) for n in ("fast", "client", "guard")
    )
    dispatcher._fast, dispatcher._client, dispatcher._guard = fast, client, guard  # type: ignore[assignment]

    if failing is None:
        await dispatcher.close()
    else:
        with pytest.raises(OSError, match=failing):
            await dispatcher.close()

    assert closed == ["fast", "client", "guard"]
    assert (dispatcher._fast, dispatcher._client, dispatcher._guard) == (None, None, None)
