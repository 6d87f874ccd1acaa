"""The MongoDB store: one module per aggregate (sites, packages, users, money, payments, outbox,
figures, settings), composed into `MongoStore` in `store.py`; `connection.py` holds the client
and its transactions, `schema.py` what the server and database must be, `documents.py` how
records map to documents.
"""

from .connection import database_from_url, is_outage
from .schema import MongoSetupError
from .store import MongoStore, create_schema

__all__ = ["MongoSetupError", "MongoStore", "create_schema", "database_from_url", "is_outage"]
