"""AskCall's store: the interface (`Store`, from `bot.store.interface`) and a backend chosen by URL scheme.

`open_store("sqlite:///abs/path.db")` or `open_store("postgresql://…")` returns an opened
store. Callers use only the interface and the types re-exported here (from `bot.store.types`).
The interface is split by concern into the same modules as each backend's package.
"""

from __future__ import annotations

from bot.domain import Call, OpenRequestExists
from bot.store.interface import Store
from bot.store.types import (
    DATA_TABLES,
    DEFAULT_LEASE_SECONDS,
    AnswerTarget,
    CallRecord,
    CallSession,
    Delivery,
    Effects,
    IncomingEvent,
    LeasedTable,
    MetricsSnapshot,
    NewDelivery,
    NewReminder,
    NewRequest,
    OtherWorkspaceRecorded,
    PurgeCounts,
    RecordedEvent,
    Reminder,
    RequestRecord,
    SchemaTooNew,
    StoreError,
    WebhookEvent,
    Workspace,
    data_table_key,
)

SQLITE_PREFIX = "sqlite:///"


def create_store(
    url: str, *, pool_size: int = 10, owner: str | None = None, lease_seconds: float = DEFAULT_LEASE_SECONDS
) -> Store:
    """An unopened store for `url`: `sqlite:///absolute/path` or `postgresql://user@host/db`."""
    if url.startswith(SQLITE_PREFIX):
        from bot.store.sqlite import SQLiteStore

        path = "/" + url.removeprefix(SQLITE_PREFIX).lstrip("/")
        return SQLiteStore(path, owner=owner, lease_seconds=lease_seconds)
    if url.startswith(("postgresql://", "postgres://")):
        from bot.store.postgres import PostgresStore

        return PostgresStore(url, pool_size=pool_size, owner=owner, lease_seconds=lease_seconds)
    raise ValueError(f"unknown database URL scheme in {url.split(':', 1)[0]!r}: use sqlite:/// or postgresql://")


def sqlite_url(path: str) -> str:
    import os

    return SQLITE_PREFIX + os.path.abspath(path).lstrip("/")


def known_schema_version() -> int:
    """The schema version this AskCall's migrations lead to: the same on both backends."""
    from bot.store.postgres.schema import MIGRATIONS as POSTGRES_MIGRATIONS
    from bot.store.sqlite.schema import MIGRATIONS as SQLITE_MIGRATIONS

    if len(SQLITE_MIGRATIONS) != len(POSTGRES_MIGRATIONS):
        raise RuntimeError(f"the backends disagree: {len(SQLITE_MIGRATIONS)} vs {len(POSTGRES_MIGRATIONS)} migrations")
    return len(SQLITE_MIGRATIONS)


async def open_store(url: str, *, pool_size: int = 10, owner: str | None = None) -> Store:
    store = create_store(url, pool_size=pool_size, owner=owner)
    await store.open()
    return store


__all__ = [
    "DATA_TABLES",
    "AnswerTarget",
    "Call",
    "CallRecord",
    "CallSession",
    "Delivery",
    "Effects",
    "IncomingEvent",
    "LeasedTable",
    "MetricsSnapshot",
    "NewDelivery",
    "NewReminder",
    "NewRequest",
    "OpenRequestExists",
    "OtherWorkspaceRecorded",
    "PurgeCounts",
    "RecordedEvent",
    "Reminder",
    "RequestRecord",
    "SchemaTooNew",
    "Store",
    "StoreError",
    "WebhookEvent",
    "Workspace",
    "create_store",
    "data_table_key",
    "known_schema_version",
    "open_store",
    "sqlite_url",
]
