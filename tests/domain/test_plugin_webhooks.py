"""Webhooks to the plugin: URL, body and signature exactly as the plugin verifies them."""

from __future__ import annotations

import hashlib
import hmac
import json

from hypothesis import given
from hypothesis import strategies as st

from harness.plugin_sim.wordpress import HANDLED_EVENTS
from service.domain.models import Balances, LedgerEntry, Site
from service.domain.plugin_webhooks import (
    EVENTS,
    credits_updated,
    draft,
    encode,
    sign,
    webhook_url,
)

SITE = Site(
    site_id="site_1",
    instance_id="inst-1",
    site_url="https://blog.example.com/",
    admin_email="a@example.com",
    token_hash="h",
    webhook_secret="whsec_test_secret",
)


def test_the_url_is_the_plugins_admin_ajax_action():
    assert (
        webhook_url("https://blog.example.com/")
        == "https://blog.example.com/wp-admin/admin-ajax.php?action=rakubun_webhook"
    )


def test_the_signature_is_lowercase_hex_hmac_sha256_of_the_raw_bytes_without_prefix():
    body = b'{"event":"test_webhook","data":{}}'
    signature = sign(body, "whsec_test_secret")
    assert signature == hmac.new(b"whsec_test_secret", body, hashlib.sha256).hexdigest()
    assert signature == signature.lower() and len(signature) == 64
    assert not signature.startswith("sha256=")


def test_the_signature_covers_the_exact_bytes():
    a = sign(b'{"a":1}', "s")
    assert sign(b'{"a": 1}', "s") != a
    assert sign(b'{"a":1}', "t") != a


def test_a_draft_is_serialised_once_with_event_data_and_instance():
    wh = draft(SITE, "plugin_disabled", {"reason": "テスト"})
    assert wh.site_id == "site_1" and wh.event == "plugin_disabled"
    assert wh.url == webhook_url(SITE.site_url)
    body = json.loads(wh.body)
    assert body["event"] == "plugin_disabled"
    assert body["data"] == {"reason": "テスト"}
    assert body["instance_id"] == "inst-1"
    assert body["timestamp"] and body["webhook_id"].startswith("wh_")
    assert "テスト" in wh.body  # UTF-8, not \\u escapes: the signed bytes are what PHP reads
    assert SITE.webhook_secret not in wh.body


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)  # past 64 bits: the fallback
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),  # lone surrogates included: the fallback
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@given(JSON_VALUES)
def test_a_body_is_compact_json_that_reads_back_as_the_data(value) -> None:
    text = encode({"data": value})
    assert json.loads(text) == {"data": value}
    assert text == json.dumps({"data": value}, ensure_ascii=False, separators=(",", ":")) or (
        _has_float(value)  # orjson writes 1e-7 where Python writes 1e-07: the same number
    )


def _has_float(value) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, list):
        return any(_has_float(v) for v in value)
    if isinstance(value, dict):
        return any(_has_float(v) for v in value.values())
    return False


def test_every_draft_has_its_own_id():
    assert (
        json.loads(draft(SITE, "test_webhook", {}).body)["webhook_id"]
        != json.loads(draft(SITE, "test_webhook", {}).body)["webhook_id"]
    )


def test_credits_updated_carries_the_user_email_the_plugin_needs():
    entry = LedgerEntry("txn_1", "site_1", "7", "image", 20, 30, "purchase", "ref")
    balances = Balances(article=5, image=30, rewrite=3)
    wh = credits_updated(
        SITE, user_email="ed@example.com", reason="purchase", extra={"package_id": "image_starter"}
    )(entry, balances)
    assert wh.event == "credits_updated"
    data = json.loads(wh.body)["data"]
    assert data["user_email"] == "ed@example.com"
    assert data["user_id"] == "7" and data["credit_type"] == "image"
    assert data["change"] == 20 and data["credits"] == 30
    assert data["remaining_credits"] == {
        "article_credits": 5,
        "image_credits": 30,
        "rewrite_credits": 3,
    }
    assert data["transaction_id"] == "txn_1" and data["package_id"] == "image_starter"


def test_the_plugin_handles_every_event_we_send():
    """`HANDLED_EVENTS` is the plugin's `handle_webhook()` switch, as the simulator mirrors it."""
    assert set(EVENTS) == HANDLED_EVENTS


def test_credits_updated_is_not_sent_without_an_email():
    entry = LedgerEntry("txn_1", "site_1", "7", "image", 20, 30, "purchase", "ref")
    build = credits_updated(SITE, user_email=None, reason="purchase")
    assert build(entry, Balances(image=30)) is None
