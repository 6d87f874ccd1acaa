"""The embedded store: one SQLite file in WAL mode, safe with several worker processes.

One module per aggregate (sites, packages, users, money, payments, outbox, figures,
settings), composed into `SQLiteStore` in `store.py`; `connection.py` holds the file and its
writer and reader threads, `schema.py` the tables and migrations, `writer.py` the writer.
"""

from .connection import owner_only
from .store import SQLiteStore

__all__ = ["SQLiteStore", "owner_only"]
