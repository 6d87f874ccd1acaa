"""Checkout redirect URLs: the plugin's template is kept (literal or %7B-encoded -> literal),
never doubled, and sensible defaults exist."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from service.domain.checkout_urls import cancel_url, purchase_page, success_url

SITE = "https://blog.example.com"
PAGE = f"{SITE}/wp-admin/admin.php?page=rakubun-ai-purchase"
LITERAL = f"{PAGE}&session_id={{CHECKOUT_SESSION_ID}}&status=success"


def test_a_literal_template_is_kept_as_it_is():
    assert success_url(LITERAL, SITE) == LITERAL


@pytest.mark.parametrize("encoded", ["%7BCHECKOUT_SESSION_ID%7D", "%7bCHECKOUT_SESSION_ID%7d"])
def test_an_encoded_template_becomes_literal(encoded):
    url = success_url(f"{PAGE}&session_id={encoded}&status=success", SITE)
    assert url == LITERAL
    assert "%7B" not in url.upper()


def test_the_template_is_never_added_twice():
    url = success_url(LITERAL, SITE)
    assert url.count("{CHECKOUT_SESSION_ID}") == 1
    assert url.count("session_id=") == 1


def test_a_return_url_without_the_template_gets_session_id_and_status():
    url = success_url(f"{SITE}/thanks?x=1", SITE)
    query = parse_qs(urlsplit(url).query)
    assert query["x"] == ["1"]
    assert query["session_id"] == ["{CHECKOUT_SESSION_ID}"]
    assert query["status"] == ["success"]
    assert "{CHECKOUT_SESSION_ID}" in url  # literal, so Stripe substitutes it


def test_a_return_url_that_already_has_a_status_keeps_it():
    url = success_url(f"{SITE}/thanks?status=done", SITE)
    query = parse_qs(urlsplit(url).query)
    assert query["status"] == ["done"]
    assert "session_id={CHECKOUT_SESSION_ID}" in url


def test_without_a_return_url_the_purchase_page_is_the_default():
    assert success_url(None, SITE + "/") == LITERAL
    assert success_url("", SITE) == LITERAL


def test_the_plugins_cancel_url_is_kept():
    url = f"{PAGE}&status=cancel"
    assert cancel_url(url, SITE) == url


def test_a_cancel_url_without_status_gets_status_cancel():
    url = cancel_url(f"{SITE}/back", SITE)
    assert parse_qs(urlsplit(url).query)["status"] == ["cancel"]


def test_without_a_cancel_url_the_purchase_page_is_the_default():
    assert cancel_url(None, SITE) == f"{PAGE}&status=cancel"


def test_the_purchase_page_of_a_site_in_a_subdirectory():
    assert (
        purchase_page("https://example.com/blog/")
        == "https://example.com/blog/wp-admin/admin.php?page=rakubun-ai-purchase"
    )
