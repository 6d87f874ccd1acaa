"""Purchases on MongoDB: checkout sessions, payment intents and the Stripe events seen.

Invariant: a purchase's revenue moves in the running totals in the transaction that makes it
`completed` (or moves it away); other status changes are single-document compare-and-sets.
"""

from __future__ import annotations

from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from ...domain.models import CheckoutSession, PaymentIntentRecord, now_iso
from ..base import DuplicateError
from .connection import MongoConnection
from .documents import intent_doc, intent_from, session_doc, session_from, transition_fields
from .money import add_totals
from .schema import CHECKOUT_SESSIONS


class MongoPayments(MongoConnection):
    """The checkout sessions, payment intents and Stripe events of `Store`."""

    async def create_checkout_session(self, session: CheckoutSession) -> None:
        async def insert(s: AsyncClientSession) -> None:
            await self.db[CHECKOUT_SESSIONS].insert_one(session_doc(session), session=s)
            await add_totals(self.db, s, [("revenue", session.currency.upper(), session.amount)])

        try:
            if session.status == "completed":  # counted in revenue with its insert
                await self._transaction(insert)
            else:
                await self.db[CHECKOUT_SESSIONS].insert_one(session_doc(session))
        except DuplicateKeyError as exc:
            raise DuplicateError("session_id") from exc

    async def get_checkout_session(self, session_id: str) -> CheckoutSession | None:
        doc = await self.db[CHECKOUT_SESSIONS].find_one({"session_id": session_id})
        return session_from(doc) if doc else None

    async def get_checkout_session_by_payment_intent(
        self, payment_intent_id: str
    ) -> CheckoutSession | None:
        doc = await self.db[CHECKOUT_SESSIONS].find_one({"payment_intent_id": payment_intent_id})
        return session_from(doc) if doc else None

    async def link_checkout_payment_intent(self, session_id: str, payment_intent_id: str) -> bool:
        result = await self.db[CHECKOUT_SESSIONS].update_one(
            {"session_id": session_id, "payment_intent_id": None},
            {"$set": {"payment_intent_id": payment_intent_id}},
        )
        return result.matched_count == 1

    async def transition_checkout_session(
        self, session_id: str, from_status: str, to_status: str, fields: dict[str, Any]
    ) -> bool:
        query = {"session_id": session_id, "status": from_status}
        update = {"$set": {"status": to_status, **transition_fields(fields, dates=True)}}
        if (from_status == "completed") == (to_status == "completed"):
            result = await self.db[CHECKOUT_SESSIONS].update_one(query, update)
            return result.matched_count == 1

        async def move(s: AsyncClientSession) -> bool:  # revenue moves with the status
            doc = await self.db[CHECKOUT_SESSIONS].find_one_and_update(query, update, session=s)
            if doc is None:
                return False
            sign = 1 if to_status == "completed" else -1
            amount = sign * int(doc["amount"])
            await add_totals(self.db, s, [("revenue", str(doc["currency"]).upper(), amount)])
            return True

        return await self._transaction(move)

    async def create_payment_intent(self, intent: PaymentIntentRecord) -> None:
        async def insert(s: AsyncClientSession) -> None:
            await self.db.payment_intents.insert_one(intent_doc(intent), session=s)
            await add_totals(self.db, s, [("revenue", intent.currency.upper(), intent.amount)])

        try:
            if intent.status == "completed":  # counted in revenue with its insert
                await self._transaction(insert)
            else:
                await self.db.payment_intents.insert_one(intent_doc(intent))
        except DuplicateKeyError as exc:
            raise DuplicateError("payment_intent_id") from exc

    async def get_payment_intent(self, payment_intent_id: str) -> PaymentIntentRecord | None:
        doc = await self.db.payment_intents.find_one({"payment_intent_id": payment_intent_id})
        return intent_from(doc) if doc else None

    async def stripe_event_seen(self, event_id: str) -> bool:
        return await self.db.stripe_events.find_one({"event_id": event_id}) is not None

    async def stripe_event_outcome(self, event_id: str) -> str | None:
        doc = await self.db.stripe_events.find_one({"event_id": event_id}, {"outcome": 1})
        return str(doc["outcome"]) if doc else None

    async def record_stripe_event(self, event_id: str, event_type: str, outcome: str) -> bool:
        try:
            await self.db.stripe_events.insert_one(
                {
                    "event_id": event_id,
                    "type": event_type,
                    "outcome": outcome,
                    "processed_at": now_iso(),
                }
            )
        except DuplicateKeyError:
            return False
        return True
