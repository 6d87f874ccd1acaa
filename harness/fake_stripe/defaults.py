"""The fields Stripe always sends, with the values it sends for the fake's configuration.

Invariant: every object the fake builds starts from `DEFAULTS[object]` (a fresh deep copy),
so it has every field of Stripe's example object in `fixtures3.json` (stripe/openapi), with
the values Stripe gives a test-mode card payment through hosted Checkout in payment mode,
without tax, shipping, customers or Connect. Builders then set what the request decided.
"""

from __future__ import annotations

import copy
from typing import Any

_NO_ADDRESS = {
    "city": None,
    "country": None,
    "line1": None,
    "line2": None,
    "postal_code": None,
    "state": None,
}

# Stripe's test PaymentMethods -> (brand, last4, funding) of the test card behind them.
TEST_CARDS: dict[str, tuple[str, str]] = {
    "pm_card_visa": ("visa", "4242"),
    "pm_card_mastercard": ("mastercard", "4444"),
    "pm_card_amex": ("amex", "8431"),
    "pm_card_jcb": ("jcb", "0000"),
    "pm_card_chargeDeclined": ("visa", "0002"),
    "pm_card_visa_chargeDeclined": ("visa", "0341"),
    "pm_card_chargeDeclinedInsufficientFunds": ("visa", "9995"),
    "pm_card_chargeDeclinedExpiredCard": ("visa", "0069"),
}
TEST_CARD_EXPIRY = (12, 2034)

_CHECKS = {"address_line1_check": None, "address_postal_code_check": None, "cvc_check": "pass"}

DEFAULTS: dict[str, dict[str, Any]] = {
    "checkout.session": {
        "adaptive_pricing": {"enabled": False},
        "after_expiration": None,
        "allow_promotion_codes": None,
        "automatic_tax": {"enabled": False, "liability": None, "provider": None, "status": None},
        "billing_address_collection": None,
        "client_secret": None,  # hosted ui_mode: only embedded sessions have one
        "collected_information": None,
        "consent": None,
        "consent_collection": None,
        "currency_conversion": None,
        "custom_fields": [],
        "custom_text": {
            "after_submit": None,
            "shipping_address": None,
            "submit": None,
            "terms_of_service_acceptance": None,
        },
        "customer_account": None,
        "customer_creation": "if_required",
        "discounts": [],
        "integration_identifier": None,
        "invoice": None,
        "invoice_creation": {
            "enabled": False,
            "invoice_data": {
                "account_tax_ids": None,
                "custom_fields": None,
                "description": None,
                "footer": None,
                "issuer": None,
                "metadata": {},
                "rendering_options": None,
            },
        },
        "managed_payments": {"enabled": False},
        "origin_context": None,
        "payment_link": None,
        "payment_method_collection": "if_required",
        "payment_method_configuration_details": None,  # payment_method_types given: no config
        "payment_method_options": {"card": {"request_three_d_secure": "automatic"}},
        "permissions": None,
        "phone_number_collection": {"enabled": False},
        "recovered_from": None,
        "saved_payment_method_options": None,
        "setup_intent": None,
        "shipping_address_collection": None,
        "shipping_cost": None,
        "shipping_options": [],
        "submit_type": None,
        "subscription": None,
        "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
        "wallet_options": None,
    },
    "item": {"adjustable_quantity": None, "metadata": {}},
    "price": {
        "billing_scheme": "per_unit",
        "custom_unit_amount": None,
        "lookup_key": None,
        "metadata": {},
        "nickname": None,
        "recurring": None,
        "tax_behavior": "unspecified",
        "tiers_mode": None,
        "transform_quantity": None,
    },
    "payment_intent": {
        "amount_details": {"tip": {}},
        "application": None,
        "application_fee_amount": None,
        "customer_account": None,
        "excluded_payment_method_types": None,
        "managed_payments": {"enabled": False},
        "on_behalf_of": None,
        "payment_method_configuration_details": None,
        "payment_method_options": {
            "card": {
                "installments": None,
                "mandate_options": None,
                "network": None,
                "request_three_d_secure": "automatic",
            }
        },
        "processing": None,
        "review": None,
        "setup_future_usage": None,
        "shipping": None,
        "source": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "transfer_data": None,
        "transfer_group": None,
    },
    "charge": {
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "calculated_statement_descriptor": None,
        "customer": None,
        "failure_balance_transaction": None,
        "fraud_details": {},
        "on_behalf_of": None,
        "payment_method_details": None,
        "receipt_number": None,
        "receipt_url": None,  # the fake renders no receipts
        "review": None,
        "shipping": None,
        "source": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "transfer_data": None,
        "transfer_group": None,
    },
    "payment_method": {
        "allow_redisplay": "unspecified",
        "billing_details": {
            "address": _NO_ADDRESS,
            "email": None,
            "name": None,
            "phone": None,
            "tax_id": None,
        },
        "customer": None,
        "customer_account": None,
        "metadata": {},
    },
    "refund": {
        "balance_transaction": None,
        "customer": None,
        "customer_account": None,
        "destination_details": {
            "card": {
                "reference": None,
                "reference_status": "pending",
                "reference_type": "acquirer_reference_number",
                "type": "refund",
            },
            "type": "card",
        },
        "payment_method": None,
        "receipt_number": None,
        "source_transfer_reversal": None,
        "transfer_reversal": None,
    },
    "dispute": {
        "enhanced_eligibility_types": [],
        "evidence": {
            **dict.fromkeys(
                (
                    "access_activity_log",
                    "billing_address",
                    "cancellation_policy",
                    "cancellation_policy_disclosure",
                    "cancellation_rebuttal",
                    "customer_communication",
                    "customer_email_address",
                    "customer_name",
                    "customer_purchase_ip",
                    "customer_signature",
                    "duplicate_charge_documentation",
                    "duplicate_charge_explanation",
                    "duplicate_charge_id",
                    "product_description",
                    "receipt",
                    "refund_policy",
                    "refund_policy_disclosure",
                    "refund_refusal_explanation",
                    "service_date",
                    "service_documentation",
                    "shipping_address",
                    "shipping_carrier",
                    "shipping_date",
                    "shipping_documentation",
                    "shipping_tracking_number",
                    "uncategorized_file",
                    "uncategorized_text",
                )
            ),
            "enhanced_evidence": {},
        },
        "payment_method_details": None,
    },
    # Products and customers: as `POST /v1/products` and `POST /v1/customers` make them.
    "product": {
        "marketing_features": [],
        "package_dimensions": None,
        "shippable": None,
        "statement_descriptor": None,
        "tax_code": None,
        "type": "service",
        "unit_label": None,
    },
    "customer": {
        "address": None,
        "discount": None,
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "next_invoice_sequence": 1,
        "tax_exempt": "none",
        "test_clock": None,
    },
    "customer_cash_balance_transaction": {"customer_account": None},
}


def with_defaults(kind: str, fields: dict[str, Any]) -> dict[str, Any]:
    """A fresh copy of Stripe's defaults for `kind`, updated with `fields`."""
    obj = copy.deepcopy(DEFAULTS.get(kind, {}))
    obj.update(fields)
    return obj


def fill_missing(value: Any) -> Any:
    """Add the default of every field an object lacks, inside `value` too (line items'
    prices, events' objects): objects stored by an older fake answer in today's shape."""
    if isinstance(value, list):
        for item in value:
            fill_missing(item)
    elif isinstance(value, dict):
        kind = value.get("object")
        for key, default in (DEFAULTS.get(kind, {}) if isinstance(kind, str) else {}).items():
            if key not in value:
                value[key] = copy.deepcopy(default)
        for item in value.values():
            fill_missing(item)
    return value


def _card(payment_method: str) -> dict[str, Any]:
    brand, last4 = TEST_CARDS.get(payment_method, ("visa", "4242"))
    exp_month, exp_year = TEST_CARD_EXPIRY
    return {
        "brand": brand,
        "checks": dict(_CHECKS),
        "country": "US",
        "exp_month": exp_month,
        "exp_year": exp_year,
        "fingerprint": None,
        "funding": "credit",
        "last4": last4,
        "regulated_status": "unregulated",
        "wallet": None,
    }


def charge_card_details(payment_method: str) -> dict[str, Any]:
    """A charge's `payment_method_details` for a test card payment."""
    card = _card(payment_method)
    card.update(
        amount_authorized=None,
        authorization_code=None,
        extended_authorization={"status": "disabled"},
        incremental_authorization={"status": "unavailable"},
        installments=None,
        mandate=None,
        multicapture={"status": "unavailable"},
        network=card["brand"],
        network_token={"used": False},
        network_transaction_id=None,
        overcapture={"maximum_amount_capturable": 0, "status": "unavailable"},
        three_d_secure=None,
    )
    return {"card": card, "type": "card"}


def dispute_card_details(payment_method: str | None) -> dict[str, Any]:
    """A dispute's `payment_method_details`: a card chargeback (Visa's fraud reason 10.4)."""
    brand = TEST_CARDS.get(payment_method or "", ("visa", ""))[0]
    return {
        "card": {
            "brand": brand,
            "case_type": "chargeback",
            "network_reason_code": "10.4",
        },
        "type": "card",
    }


def payment_method(payment_method_id: str, created: int) -> dict[str, Any]:
    """The PaymentMethod object of a test card, as in `last_payment_error.payment_method`."""
    card = _card(payment_method_id)
    card.update(
        display_brand=card["brand"],
        generated_from=None,
        networks={"available": [card["brand"]], "preferred": None},
        three_d_secure_usage={"supported": True},
    )
    fields = {"card": card, "created": created, "livemode": False, "type": "card"}
    return {
        "id": payment_method_id,
        "object": "payment_method",
        **with_defaults("payment_method", fields),
    }
