"""A stateful fake Stripe for the harness: API, hosted checkout page, signed webhooks, control.

Start it with `url = await FakeStripe().start()` (or `run_fake_stripe_in_thread()`), then point
the SDK at it: `stripe.StripeClient(key, base_addresses={"api": url})`.
"""

from .errors import StripeError
from .faults import Faults
from .server import FakeStripe
from .signature import stripe_signature
from .thread import FakeStripeThread, run_fake_stripe_in_thread

__all__ = [
    "FakeStripe",
    "FakeStripeThread",
    "Faults",
    "StripeError",
    "run_fake_stripe_in_thread",
    "stripe_signature",
]
