"""What `up` prints for the service's webhook attempts to a WordPress site."""

from __future__ import annotations

from harness.live_deliveries import service_attempt_lines

DELIVERY = {
    "delivery_id": "wh_1",
    "event": "credits_updated",
    "url": "http://127.0.0.1:9/wp-admin/admin-ajax.php?action=rakubun_webhook",
}


def test_an_attempt_without_an_answer_says_why():
    attempt = {
        "attempt": 1,
        "at": "2026-12-07T19:00:00.123+00:00",
        "status_code": None,
        "error": "ClientConnectorError: Cannot connect to host 127.0.0.1:9",
    }

    sent, answered = service_attempt_lines(DELIVERY, attempt)

    assert sent == "2026-12-07 19:00:00   --> plugin credits_updated"
    assert answered == (
        f"2026-12-07 19:00:00  <--  [ERR] POST {DELIVERY['url']}"
        " (ClientConnectorError: Cannot connect to host 127.0.0.1:9)"
    )


def test_an_answered_attempt_shows_its_status_only():
    attempt = {"attempt": 2, "at": "2026-12-07T19:00:01", "status_code": 503, "error": "HTTP 503"}

    assert service_attempt_lines(DELIVERY, attempt)[1].endswith(f"[503] POST {DELIVERY['url']}")
