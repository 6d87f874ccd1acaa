"""The redirect URLs of a Checkout Session, built as the plugin expects them."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

TEMPLATE = "{CHECKOUT_SESSION_ID}"
ENCODED_TEMPLATES = ("%7BCHECKOUT_SESSION_ID%7D", "%7bCHECKOUT_SESSION_ID%7d")


def purchase_page(site_url: str) -> str:
    return f"{site_url.rstrip('/')}/wp-admin/admin.php?page=rakubun-ai-purchase"


def success_url(return_url: str | None, site_url: str) -> str:
    """The plugin's return URL with the literal template Stripe substitutes.

    A template that arrives percent-encoded is decoded (Stripe only substitutes the literal
    form); a URL without one gets `session_id` and `status` added, never a second one.
    """
    url = return_url or (purchase_page(site_url) + f"&session_id={TEMPLATE}&status=success")
    for encoded in ENCODED_TEMPLATES:
        url = url.replace(encoded, TEMPLATE)
    if TEMPLATE in url:
        return url
    return _add_query(url, {"session_id": TEMPLATE, "status": "success"})


def cancel_url(cancel: str | None, site_url: str) -> str:
    url = cancel or (purchase_page(site_url) + "&status=cancel")
    if "status=" in (urlsplit(url).query or ""):
        return url
    return _add_query(url, {"status": "cancel"})


def _add_query(url: str, extra: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    names = {k for k, _ in query}
    added = urlencode([(k, v) for k, v in extra.items() if k not in names], safe="{}")
    joined = f"{parts.query}&{added}" if parts.query and added else (parts.query or added)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, joined, parts.fragment))
