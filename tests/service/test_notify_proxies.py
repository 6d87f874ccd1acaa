"""Plugin webhooks honour the environment's proxies, read once per dispatcher."""

from __future__ import annotations

from service.outbound.notify import WebhookDispatcher
from tests.support.service import service_settings


async def test_proxies_come_from_the_environment_and_no_proxy_is_honoured(tmp_path, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    dispatcher = WebhookDispatcher(store=None, settings=service_settings(tmp_path))  # type: ignore[arg-type]
    dispatcher._http()
    try:
        assert (
            dispatcher._proxy_for("http://blog.example.com/wp-admin/admin-ajax.php")
            == "http://proxy.internal:3128"
        )
        assert dispatcher._proxy_for("http://127.0.0.1:8080/wp-admin/admin-ajax.php") is None
    finally:
        await dispatcher.close()


async def test_without_proxies_nothing_is_proxied(tmp_path, monkeypatch):
    for name in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "http_proxy",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    dispatcher = WebhookDispatcher(store=None, settings=service_settings(tmp_path))  # type: ignore[arg-type]
    dispatcher._http()
    try:
        assert dispatcher._proxy_for("http://blog.example.com/") is None
    finally:
        await dispatcher.close()
