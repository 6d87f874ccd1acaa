"""The direct flow: PaymentIntents created by the service, confirmed exactly once."""

from __future__ import annotations

import asyncio

from tests.support.stripe import StripeWorld

INTENT_SUCCEEDED = "payment_intent.succeeded"


async def test_intent_happy_path_grants_the_stored_package(world: StripeWorld):
    intent_id = await world.intent("image_starter")
    before = await world.confirm(intent_id, credit_type="image")
    await world.control(f"payment_intents/{intent_id}/succeed")
    await world.fake.drain()
    after = await world.confirm(intent_id, credit_type="image")

    assert (before.status_code, before.json()["error"]) == (402, "payment_not_completed")
    assert after.status_code == 200
    assert after.json()["credits_added"] == 20
    assert after.json()["remaining_credits"]["image_credits"] == 10 + 20
    assert len(await world.purchases("intent:")) == 1


async def test_create_intent_answers_what_the_plugin_reads(world: StripeWorld):
    response = await world.site.post(
        "/payments/create-intent",
        json={
            "user_id": 1,
            "user_email": "editor@example.com",
            "site_url": world.wordpress.url,
            "credit_type": "image",
            "package_id": "image_starter",
            "amount": 300,
            "currency": "JPY",
            "instance_id": world.site.instance_id,
        },
    )
    body = response.json()
    assert response.status_code == 200
    assert body["client_secret"].startswith(body["payment_intent_id"] + "_secret_")
    assert (body["amount"], body["currency"]) == (300, "JPY")


async def test_confirm_replay_grants_nothing_more(world: StripeWorld):
    intent_id = await world.intent()
    await world.faults(drop=1, event_type=INTENT_SUCCEEDED)
    await world.control(f"payment_intents/{intent_id}/succeed")
    await world.fake.drain()

    first = await world.confirm(intent_id)
    replays = [await world.confirm(intent_id) for _ in range(3)]

    assert first.json()["status"] == "completed"
    assert {r.json()["status"] for r in replays} == {"already_completed"}
    assert (await world.site.credits())["image_credits"] == 30
    assert len(await world.purchases("intent:")) == 1


async def test_confirm_takes_type_and_user_from_the_stored_intent(world: StripeWorld):
    intent_id = await world.intent("image_starter", user_id=1)
    await world.control(f"payment_intents/{intent_id}/succeed")
    await world.fake.drain()

    wrong_type = await world.confirm(intent_id, credit_type="article")
    other_user = await world.confirm(intent_id, user_id=2)

    assert (wrong_type.status_code, wrong_type.json()["error"]) == (400, "credit_type_mismatch")
    assert other_user.json()["credit_type"] == "image"
    assert (await world.site.credits(2))["image_credits"] == 10, "user 2 bought nothing"
    assert (await world.site.credits(1))["image_credits"] == 30


async def test_cross_site_confirm_is_rejected(world: StripeWorld):
    intent_id = await world.intent()
    await world.control(f"payment_intents/{intent_id}/succeed")
    await world.fake.drain()
    other = await world.service.register()

    response = await other.post(
        "/payments/confirm", json={"payment_intent_id": intent_id, "user_id": 1}
    )

    assert (response.status_code, response.json()["error"]) == (404, "payment_intent_not_found")
    assert (await other.credits())["image_credits"] == 10


async def test_twenty_concurrent_confirms_and_webhooks_grant_once(world: StripeWorld):
    intent_id = await world.intent()
    await world.faults(drop=1, event_type=INTENT_SUCCEEDED)
    await world.control(f"payment_intents/{intent_id}/succeed")
    await world.fake.drain()
    event_id = world.events(INTENT_SUCCEEDED)[-1]

    results = await asyncio.gather(
        *(world.confirm(intent_id) for _ in range(20)),
        *(world.control(f"events/{event_id}/resend") for _ in range(5)),
    )
    await world.fake.drain()

    assert all(r.status_code == 200 for r in results[:20])
    assert (await world.site.credits())["image_credits"] == 30
    assert len(await world.purchases("intent:")) == 1
    assert (await world.service.store.reconcile()).ok


async def test_failed_intent_stays_unpaid(world: StripeWorld):
    intent_id = await world.intent()
    await world.control(f"payment_intents/{intent_id}/fail")
    await world.fake.drain()
    response = await world.confirm(intent_id)
    assert response.status_code == 402
    assert await world.purchases("intent:") == []


async def test_unknown_intent_is_not_found(world: StripeWorld):
    response = await world.confirm("pi_does_not_exist")
    assert (response.status_code, response.json()["error"]) == (404, "payment_intent_not_found")
