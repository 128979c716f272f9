"""Administration: `askcall db status | migrate | copy`.

Whole-table access by key, for moving an install between backends. Both backends hold the same
columns at the same schema version (tests/store/test_schema_parity.py), so a row read from one can be
written to the other. Table names come only from `DATA_TABLES`, so no text from outside reaches SQL.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from bot.store.connection import StoreConnection


class AdminStore(StoreConnection):
    @property
    @abstractmethod
    def backend(self) -> str:
        """The backend's name for people: "SQLite" or "PostgreSQL"."""

    @abstractmethod
    async def server_version(self) -> str:
        """The database software's version (the SQLite library's, or PostgreSQL's `server_version`)."""

    @abstractmethod
    async def row_counts(self) -> dict[str, int]:
        """How many rows each of `DATA_TABLES` holds, in that order."""

    @abstractmethod
    async def export_rows(self, table: str, after: Any, limit: int) -> list[dict[str, Any]]:
        """Up to `limit` rows of `table` (one of `DATA_TABLES`), column name → value, in key order,
        starting after the key `after` (None: from the first). Values are ints, floats, strings or
        None, whatever the backend."""

    @abstractmethod
    async def import_rows(self, table: str, rows: list[dict[str, Any]]) -> None:
        """Insert `rows` (as `export_rows` returns them, keys included) into `table`, in one
        transaction. New rows made afterwards get keys past every imported one."""

    @abstractmethod
    async def database_id(self) -> str | None:
        """The id this database was given when AskCall created its tables (migration 10): the same database
        answers the same id whatever URL, host alias, user or path names it. None before that migration."""

    @abstractmethod
    async def erase_all_rows(self) -> None:
        """Delete every row of every AskCall table, in one transaction (`askcall db copy --force`)."""
