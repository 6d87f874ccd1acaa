"""A WordPress site running the Rakubun plugin: its API calls and its webhook endpoint."""

from harness.plugin_sim.client import (
    CALLS,
    ApiAnswer,
    BadCallArguments,
    PluginClient,
    UnknownCall,
    php_json_encode,
)
from harness.plugin_sim.inbox import ReceivedWebhook, WebhookInbox
from harness.plugin_sim.options import OptionsStore, PluginOptions
from harness.plugin_sim.signature import sign_body, signature_is_valid
from harness.plugin_sim.simulator import PluginSimulator
from harness.plugin_sim.wordpress import WebhookVerdict, process_webhook

__all__ = [
    "CALLS",
    "ApiAnswer",
    "BadCallArguments",
    "OptionsStore",
    "PluginClient",
    "PluginOptions",
    "PluginSimulator",
    "ReceivedWebhook",
    "UnknownCall",
    "WebhookInbox",
    "WebhookVerdict",
    "php_json_encode",
    "process_webhook",
    "sign_body",
    "signature_is_valid",
]
