"""Settings come from the environment, with defaults that run offline."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.settings import DEFAULT_WEBHOOK_RETRY_DELAYS, FALSE_WORDS, TRUE_WORDS, Settings

SECRETS = {
    "MONGODB_URL": "mongodb://user:mongo-password@db:27017",
    "STRIPE_SECRET_KEY": "sk_test_secret_value",
    "STRIPE_WEBHOOK_SECRET": "whsec_secret_value",
    "ADMIN_API_TOKEN": "admin-secret-value",
}


def test_defaults_run_offline_on_sqlite():
    settings = Settings.from_env({})
    assert settings.mongodb_url is None
    assert settings.store_name == "sqlite"
    assert settings.sqlite_path == Path("var/rakubun.sqlite3")
    assert settings.stripe_secret_key is None
    assert settings.stripe_api_base is None
    assert settings.admin_api_token is None
    assert settings.free_credits == {"article": 5, "image": 10, "rewrite": 3}
    assert settings.rate_limit_per_minute == 100
    assert settings.stripe_currency == "JPY"
    assert settings.max_body_bytes > 0
    assert settings.webhook_retry_delays == DEFAULT_WEBHOOK_RETRY_DELAYS


def test_every_documented_variable_is_read():
    settings = Settings.from_env(
        {
            **SECRETS,
            "MONGODB_DATABASE": "rk",
            "MONGODB_TIMEOUT_MS": "3000",
            "MONGODB_INDEX_BUILD_TIMEOUT_MS": "1500",
            "SQLITE_PATH": "/tmp/x.sqlite3",
            "STRIPE_PUBLIC_KEY": "pk_test_1",
            "STRIPE_API_BASE": "http://127.0.0.1:12111",
            "STRIPE_CURRENCY": "usd",
            "FREE_ARTICLE_CREDITS": "1",
            "FREE_IMAGE_CREDITS": "2",
            "FREE_REWRITE_CREDITS": "0",
            "RATE_LIMIT_PER_MINUTE": "7",
            "MAX_BODY_BYTES": "4096",
            "WEBHOOK_RETRY_DELAYS": "1, 2.5,10",
            "VALIDATE_RESPONSES": "1",
            "ACCESS_LOG": "0",
        }
    )
    assert settings.mongodb_url == SECRETS["MONGODB_URL"]
    assert settings.store_name == "mongodb"
    assert settings.mongodb_database == "rk"
    assert (settings.mongodb_timeout_ms, settings.mongodb_index_build_timeout_ms) == (3000, 1500)
    assert settings.sqlite_path == Path("/tmp/x.sqlite3")
    assert settings.stripe_secret_key == SECRETS["STRIPE_SECRET_KEY"]
    assert settings.stripe_webhook_secret == SECRETS["STRIPE_WEBHOOK_SECRET"]
    assert settings.stripe_public_key == "pk_test_1"
    assert settings.stripe_api_base == "http://127.0.0.1:12111"
    assert settings.stripe_currency == "USD"
    assert settings.admin_api_token == SECRETS["ADMIN_API_TOKEN"]
    assert settings.free_credits == {"article": 1, "image": 2, "rewrite": 0}
    assert settings.rate_limit_per_minute == 7
    assert settings.max_body_bytes == 4096
    assert settings.webhook_retry_delays == (1.0, 2.5, 10.0)
    assert settings.validate_responses is True
    assert settings.access_log is False


def test_blank_values_mean_the_default():
    settings = Settings.from_env(
        {"MONGODB_URL": "  ", "RATE_LIMIT_PER_MINUTE": "", "ADMIN_API_TOKEN": ""}
    )
    assert settings.mongodb_url is None
    assert settings.rate_limit_per_minute == 100
    assert settings.admin_api_token is None


@pytest.mark.parametrize(
    "name",
    [
        "FREE_ARTICLE_CREDITS",
        "FREE_IMAGE_CREDITS",
        "FREE_REWRITE_CREDITS",
        "RATE_LIMIT_PER_MINUTE",
        "MAX_BODY_BYTES",
    ],
)
@pytest.mark.parametrize("raw", ["ten", "1.5", "0x10", "1_000", "\u0663", "1e3"])
def test_a_bad_integer_raises_naming_the_variable(name, raw):
    with pytest.raises(ValueError, match=name):
        Settings.from_env({name: raw})


@pytest.mark.parametrize("name", ["FREE_ARTICLE_CREDITS", "MAX_BODY_BYTES"])
def test_a_negative_count_raises(name):
    with pytest.raises(ValueError, match=name):
        Settings.from_env({name: "-1"})


@pytest.mark.parametrize(
    "raw", ["soon", "-1", "1,,x", "nan", "60,inf", "-infinity", "1e999", "1_0", "1" + "0" * 400]
)
def test_bad_retry_delays_raise(raw):
    with pytest.raises(ValueError, match="WEBHOOK_RETRY_DELAYS"):
        Settings.from_env({"WEBHOOK_RETRY_DELAYS": raw})


def test_a_bad_sqlite_synchronous_raises():
    with pytest.raises(ValueError, match="SQLITE_SYNCHRONOUS"):
        Settings.from_env({"SQLITE_SYNCHRONOUS": "sometimes"})


def test_sqlite_mmap_size_is_a_byte_count_zero_turning_it_off():
    assert Settings.from_env({}).sqlite_mmap_size == 1 << 30
    assert Settings.from_env({"SQLITE_MMAP_SIZE": "0"}).sqlite_mmap_size == 0
    with pytest.raises(ValueError, match="SQLITE_MMAP_SIZE"):
        Settings.from_env({"SQLITE_MMAP_SIZE": "-1"})


def test_secrets_stay_out_of_repr_and_str():
    settings = Settings.from_env(SECRETS)
    for text in (repr(settings), str(settings)):
        for value in SECRETS.values():
            assert value not in text
        assert "mongo-password" not in text


def test_overrides_win_over_the_environment():
    settings = Settings.from_env({"RATE_LIMIT_PER_MINUTE": "7"}, rate_limit_per_minute=3)
    assert settings.rate_limit_per_minute == 3


def test_an_unknown_override_is_refused():
    with pytest.raises(TypeError, match="rate_limit"):
        Settings.from_env({}, rate_limit=3)


def test_settings_are_immutable():
    settings = Settings.from_env({})
    with pytest.raises(AttributeError):
        settings.admin_api_token = "x"  # type: ignore[misc]


def test_the_process_environment_is_the_default_source(monkeypatch):
    monkeypatch.setenv("RATE_LIMIT_PER_MINUTE", "42")
    assert Settings.from_env().rate_limit_per_minute == 42


# ---------------------------------------------------------------- booleans say no
BOOLEAN_FIELDS = [f.name for f in fields(Settings) if f.type in (bool, "bool")]
TRUE_SPELLINGS = ["1", "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", " on "]
FALSE_SPELLINGS = ["0", "false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"]


def test_the_boolean_settings_are_found():
    assert {"webhook_dispatch", "validate_responses", "access_log"} <= set(BOOLEAN_FIELDS)


@pytest.mark.parametrize("name", BOOLEAN_FIELDS)
@pytest.mark.parametrize("raw", TRUE_SPELLINGS)
def test_every_boolean_accepts_the_true_spellings(name, raw):
    assert getattr(Settings.from_env({name.upper(): raw}), name) is True


@pytest.mark.parametrize("name", BOOLEAN_FIELDS)
@pytest.mark.parametrize("raw", FALSE_SPELLINGS)
def test_every_boolean_accepts_the_false_spellings(name, raw):
    assert getattr(Settings.from_env({name.upper(): raw}), name) is False


@pytest.mark.parametrize("name", BOOLEAN_FIELDS)
@given(
    raw=st.text(min_size=1, max_size=8).filter(
        lambda s: s.strip() and s.strip().lower() not in TRUE_WORDS + FALSE_WORDS
    )
)
def test_every_boolean_refuses_any_other_spelling_naming_the_variable(name, raw):
    with pytest.raises(ValueError, match=name.upper()):
        Settings.from_env({name.upper(): raw})


@pytest.mark.parametrize("raw", ["2", "enabled", "y", "t", "nope", "offf"])
def test_webhook_dispatch_is_not_silently_turned_off(raw):
    with pytest.raises(ValueError, match="WEBHOOK_DISPATCH"):
        Settings.from_env({"WEBHOOK_DISPATCH": raw})


def test_operations_settings_are_read():
    settings = Settings.from_env(
        {
            "LOG_FORMAT": "JSON",
            "METRICS_TOKEN": "metrics-secret",
            "PROXIES_COUNT": "1",
            "REAL_IP_HEADER": "X-Real-IP",
            "FORWARDED_SECRET": "fwd-secret",
        }
    )
    assert settings.log_format == "json"
    assert settings.metrics_token == "metrics-secret"
    assert settings.proxies_count == 1
    assert settings.real_ip_header == "X-Real-IP"
    assert settings.forwarded_secret == "fwd-secret"
    assert "metrics-secret" not in repr(settings) and "fwd-secret" not in repr(settings)


def test_a_bad_log_format_raises():
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        Settings.from_env({"LOG_FORMAT": "xml"})
