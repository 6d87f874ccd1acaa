"""The embedded store: one SQLite file in WAL mode, safe with several worker processes.

Invariant: `SQLiteStore` is its aggregates composed, one mixin per module, all on the one
connection pair of `connection.py`; a driver outage surfaces as `StoreUnavailableError`.
"""

from __future__ import annotations

from ..base import outages_unavailable
from .figures import SQLiteFigures
from .money import SQLiteMoney
from .packages import SQLitePackages
from .payments import SQLitePayments
from .settings import SQLiteSettings
from .sites import SQLiteSites
from .writer import is_outage


@outages_unavailable(is_outage)
class SQLiteStore(
    SQLiteSites, SQLitePackages, SQLiteMoney, SQLitePayments, SQLiteFigures, SQLiteSettings
):
    """The Store on one SQLite file (see `service.store.base.Store` for the contract)."""

    name = "sqlite"
