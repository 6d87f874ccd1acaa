"""Users and their balances on MongoDB (reads: a new user and its welcome credits are written
by `money.MongoMoney.ensure_user`, where the credits are grants like any other).

Invariant: a user's balances are one document (`credits` per type), moved only by money.
"""

from __future__ import annotations

from pymongo.asynchronous.database import AsyncDatabase

from ...domain.models import Balances, User
from .connection import Doc, MongoConnection, Session
from .documents import OLDEST_FIRST, balances_from


async def balances_of(db: AsyncDatabase, s: Session, site_id: str, user_id: str) -> Balances:
    """A user's balances, in the transaction of `s` when given."""
    doc = await db.balances.find_one({"site_id": site_id, "user_id": user_id}, session=s)
    return balances_from(doc)


class MongoUsers(MongoConnection):
    """The users and balances of `Store`."""

    async def _user(self, doc: Doc | None) -> User | None:
        if doc is None:
            return None
        balances = await balances_of(self.db, None, doc["site_id"], doc["user_id"])
        return User(doc["site_id"], doc["user_id"], doc.get("email"), balances, doc["created_at"])

    async def get_user(self, site_id: str, user_id: str) -> User | None:
        return await self._user(
            await self.db.users.find_one({"site_id": site_id, "user_id": user_id})
        )

    async def list_users(self, site_id: str, *, limit: int = 50, offset: int = 0) -> list[User]:
        cursor = self.db.users.find({"site_id": site_id}).sort(OLDEST_FIRST).skip(offset)
        docs = await cursor.limit(limit).to_list()
        ids = [d["user_id"] for d in docs]
        balances = {
            b["user_id"]: balances_from(b)
            async for b in self.db.balances.find({"site_id": site_id, "user_id": {"$in": ids}})
        }
        return [
            User(
                site_id,
                d["user_id"],
                d.get("email"),
                balances.get(d["user_id"], Balances()),
                d["created_at"],
            )
            for d in docs
        ]
