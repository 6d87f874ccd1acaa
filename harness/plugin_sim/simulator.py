"""PluginSimulator: a WordPress site with the Rakubun plugin installed, on one aiohttp server."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from harness.plugin_sim.app_state import SIMULATOR
from harness.plugin_sim.client import ApiAnswer, PluginClient
from harness.plugin_sim.control import add_control_routes
from harness.plugin_sim.inbox import ReceivedWebhook, WebhookInbox
from harness.plugin_sim.options import SECRET_FIELDS, OptionsStore, PluginOptions
from harness.plugin_sim.wordpress import (
    MAINTENANCE_HTML,
    SIGNATURE_HEADER,
    add_wordpress_routes,
    process_webhook,
)
from harness.ports import url_host

REDACTED = "[kept by the plugin simulator]"


class NotStarted(RuntimeError):
    """The simulator has no URL before start()."""


class PluginSimulator:
    """Receives the dashboard's webhooks like the plugin and makes the plugin's calls.

    `api_url` is the service (its origin or its `/api/v1` base). `site_url` is what the
    plugin registers as; by default the simulator's own URL, so webhooks come back here.
    With `data_dir`, the plugin's options survive restarts in `plugin-sim.json`.
    """

    def __init__(
        self,
        api_url: str,
        *,
        data_dir: Path | None = None,
        site_url: str | None = None,
        wp_version: str = "6.8.1",
        plugin_version: str = "2.2.0",
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.wp_version = wp_version
        self.plugin_version = plugin_version
        self._options_store = OptionsStore(data_dir)
        self.options: PluginOptions = self._options_store.load()
        self.inbox = WebhookInbox()
        self.landings: list[dict[str, Any]] = []
        self.webhooks_down = False
        self._site_url = site_url.rstrip("/") if site_url else None
        self._url: str | None = None
        self._runner: web.AppRunner | None = None
        self._client: PluginClient | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def build_app(self) -> web.Application:
        """The aiohttp application: WordPress's URLs plus the /_sim/ control API."""
        app = web.Application()
        app[SIMULATOR] = self
        add_wordpress_routes(app)
        add_control_routes(app)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on host:port (0 picks a free port) and return the base URL."""
        self._runner = web.AppRunner(self.build_app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound_port = self._runner.addresses[0][1]
        self._url = f"http://{url_host(host)}:{bound_port}"
        return self._url

    async def stop(self) -> None:
        """Stop serving and close the HTTP client."""
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        if self._url is None:
            raise NotStarted("PluginSimulator.start() has not been awaited")
        return self._url

    @property
    def site_url(self) -> str:
        """The WordPress site URL the plugin reports (no trailing slash, like home_url())."""
        return self._site_url or self.url

    @property
    def client(self) -> PluginClient:
        """A PluginClient carrying the stored instance id and api token."""
        if self._client is None:
            self._client = PluginClient(
                self.api_url,
                instance_id=self.options.instance_id,
                site_url=self.site_url,
                wp_version=self.wp_version,
                plugin_version=self.plugin_version,
            )
        self._client.instance_id = self.options.instance_id
        self._client.api_token = self.options.api_token
        return self._client

    def public_state(self) -> dict[str, Any]:
        """The plugin's state as /_sim/state shows it: no token, no secret."""
        return {
            **self.options.public_view(),
            "api_url": self.api_url,
            "site_url": self.site_url,
            "plugin_url": self.url,
            "webhooks_down": self.webhooks_down,
            "webhooks_received": self.inbox.last_seq,
        }

    # -- acting as the WordPress admin -------------------------------------------------------

    async def register(self, *, force: bool = False) -> dict[str, Any]:
        """Activate the plugin: register with the service once and keep token and secret.

        Already registered: answers the stored instance id without calling the service.
        `force` starts over with a fresh instance id, like deleting and reinstalling.
        """
        if self.options.registered and not force:
            return {
                "success": True,
                "already_registered": True,
                "instance_id": self.options.instance_id,
                "registered_site_url": self.options.registered_site_url,
            }
        if force:
            self.options = PluginOptions()
            self._options_store.save(self.options)
        answer = await self.client.call("register")
        stored = self._store_credentials(answer)
        outcome: dict[str, Any] = {
            "success": stored,
            "already_registered": False,
            "instance_id": self.options.instance_id,
            "status": answer.status,
        }
        if not stored:
            outcome["answer"] = _redacted(answer.body)
        return outcome

    async def follow_site_url(self) -> ApiAnswer | None:
        """Tell the service this site's URL when it moved since registration (a new port).

        Without it the service keeps sending webhooks to the old URL, where nobody listens.
        None when there was nothing to tell; else the service's answer (4xx/5xx included).
        """
        moved = self.options.registered and self.options.registered_site_url != self.site_url
        if not moved:
            return None
        answer = await self.client.call("update-instance", {"site_url": self.site_url})
        if answer.status == 200:
            self.options.registered_site_url = self.site_url
            self._options_store.save(self.options)
        return ApiAnswer(answer.status, _redacted(answer.body))

    async def call(self, name: str, overrides: Mapping[str, Any] | None = None) -> ApiAnswer:
        """Run a plugin call by contract name with the stored credentials; secrets redacted."""
        answer = await self.client.call(name, overrides)
        same_instance = (overrides or {}).get("instance_id", self.options.instance_id)
        if name == "register" and same_instance == self.options.instance_id:
            self._store_credentials(answer)
        return ApiAnswer(answer.status, _redacted(answer.body))

    def _store_credentials(self, answer: ApiAnswer) -> bool:
        body = answer.body
        if not (answer.status == 200 and isinstance(body, dict) and body.get("success")):
            return False
        if not body.get("api_token"):
            return False
        self.options.api_token = str(body["api_token"])
        self.options.webhook_secret = str(body.get("webhook_secret") or "") or None
        self.options.registered_site_url = self.site_url
        self._options_store.save(self.options)
        return True

    # -- what WordPress receives -------------------------------------------------------------

    def receive_webhook(
        self, raw_body: bytes, headers: Mapping[str, str]
    ) -> tuple[int, dict[str, Any] | str]:
        """Answer one webhook like the plugin (or 503 while down) and record it."""
        signature = headers.get(SIGNATURE_HEADER)
        verdict = process_webhook(raw_body, signature, self.options)
        if self.webhooks_down:
            status: int = 503
            answer: dict[str, Any] | str = MAINTENANCE_HTML
        else:
            status, answer = verdict.status, verdict.answer
            if verdict.status == 200:
                self._options_store.save(self.options)
        self.inbox.add(
            ReceivedWebhook(
                seq=self.inbox.next_seq(),
                event=verdict.event,
                data=verdict.data,
                raw_body=raw_body.decode("utf-8", errors="replace"),
                headers=dict(headers),
                signature=signature,
                signature_valid=verdict.signature_valid,
                status=status,
                answer=answer,
                received_at=datetime.now(UTC).isoformat(),
            )
        )
        return status, answer

    async def land_on_purchase_page(self, *, status: str, session_id: str) -> Any:
        """A browser came back from Stripe; after a success, verify the session like the plugin."""
        verification: Any = None
        is_template = "CHECKOUT_SESSION_ID" in session_id
        if status == "success" and session_id and not is_template and self.options.registered:
            answer = await self.client.call("verify", {"session_id": session_id})
            verification = {"status": answer.status, "body": _redacted(answer.body)}
        self.landings.append(
            {
                "status": status,
                "session_id": session_id,
                "verification": verification,
                "landed_at": datetime.now(UTC).isoformat(),
            }
        )
        return verification


def _redacted(body: Any) -> Any:
    if not isinstance(body, dict):
        return body
    return {key: REDACTED if key in SECRET_FIELDS else value for key, value in body.items()}
