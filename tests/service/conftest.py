"""The payment world (`tests/support/stripe.py`): a fake Stripe on 127.0.0.1 the real SDK
talks to, a service pointed at it, and a WordPress plugin simulator that receives the
service's webhooks."""

from tests.support.fixtures import (  # noqa: F401 - fixtures by name
    fake_stripe,
    make_world,
    world,
    world_options,
)
