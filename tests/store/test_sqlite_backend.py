"""The SQLite backend's own behaviour: migrations by user_version, WAL, checkpoints, one-hop transactions."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

import bot.store.sqlite.connection as sqlite_connection
from bot.domain import RequestState
from bot.store.sqlite import SQLiteStore
from bot.store.sqlite.schema import MIGRATIONS
from tests.store.helpers import CUSTOMER, new_request
from tests.tenants import TENANT

NEW = RequestState.NEW
Store = SQLiteStore


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    s = SQLiteStore(str(tmp_path / "askcall.db"))
    await s.open()
    try:
        yield s
    finally:
        await s.close()


async def test_migrations_set_user_version(store: Store) -> None:
    assert await store.schema_version() == len(MIGRATIONS)


async def test_reopen_is_idempotent_and_keeps_data(tmp_path: Path) -> None:
    path = str(tmp_path / "nested" / "dir" / "askcall.db")
    first = Store(path)
    await first.open()
    request_id = await new_request(first)
    await first.close()

    second = Store(path)
    await second.open()
    try:
        assert await second.schema_version() == len(MIGRATIONS)
        request = await second.get_request(TENANT, request_id)
        assert request is not None
        assert request.phone_e164 == CUSTOMER
        assert await second.pending_delivery_count() == 1
    finally:
        await second.close()


async def test_migrate_twice_changes_nothing(store: Store) -> None:
    request_id = await new_request(store)

    await store.migrate()

    assert await store.schema_version() == len(MIGRATIONS)
    assert await store.get_request(TENANT, request_id) is not None


async def test_wal_mode_is_on(store: Store, tmp_path: Path) -> None:
    async with store.db.execute("PRAGMA journal_mode") as cursor:
        row = await cursor.fetchone()
    assert row is not None
    assert row[0] == "wal"
    # WAL is a property of the file: a second connection sees it too.
    async with aiosqlite.connect(str(tmp_path / "askcall.db")) as other, other.execute("PRAGMA journal_mode") as cur:
        other_row = await cur.fetchone()
    assert other_row is not None
    assert other_row[0] == "wal"


async def test_closed_store_refuses_queries(tmp_path: Path) -> None:
    s = Store(str(tmp_path / "x.db"))
    with pytest.raises(RuntimeError):
        _ = s.db


def wal_pages(path: str) -> int:
    connection = sqlite3.connect(path)
    try:
        return int(connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1])
    finally:
        connection.close()


async def test_commits_leave_checkpointing_to_the_server(store: Store) -> None:
    assert await pragma(store, "wal_autocheckpoint") == sqlite_connection.AUTOCHECKPOINT_PAGES > 1000


@pytest.fixture
async def long_wal(store: Store, monkeypatch: pytest.MonkeyPatch) -> Store:
    """A store whose WAL is past the length at which the checkpointer restarts it."""
    monkeypatch.setattr(sqlite_connection, "RESTART_PAGES", 10)
    for _ in range(30):
        await new_request(store)
    return store


async def pragma(store: Store, name: str) -> Any:
    async with store.db.execute(f"PRAGMA {name}") as cursor:
        row = await cursor.fetchone()
    assert row is not None
    return row[0]


async def test_checkpoint_starts_a_long_wal_over_once_requests_are_idle(long_wal: Store) -> None:
    store = long_wal
    pages = wal_pages(store.path)
    assert pages >= 10
    waited: list[bool] = []

    async def idle() -> None:
        waited.append(True)

    await store.checkpoint(idle)
    await new_request(store)

    assert waited == [True]
    assert wal_pages(store.path) < pages  # the WAL started over from its first page
    assert len(await store.requests_in_state(NEW)) == 31


async def test_checkpoint_of_a_short_wal_does_not_wait(store: Store) -> None:
    await new_request(store)

    async def idle() -> None:
        raise AssertionError("a short WAL needs no pause of the writer")

    await store.checkpoint(idle)


async def test_checkpoint_does_not_hold_writes_for_another_process_reading(long_wal: Store) -> None:
    store = long_wal
    reader = sqlite3.connect(store.path)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM requests").fetchone()  # an open read snapshot on the WAL

        async def idle() -> None:
            return None

        # Well under the 5 s busy timeout: RESTART gives up at once instead of waiting for the reader.
        await asyncio.wait_for(store.checkpoint(idle), timeout=2.5)
        await asyncio.wait_for(new_request(store), timeout=2.5)
    finally:
        reader.close()
    assert await pragma(store, "busy_timeout") == sqlite_connection.BUSY_TIMEOUT_MS


async def test_a_hop_waits_for_an_open_multi_statement_transaction(store: Store) -> None:
    hop: asyncio.Task[int] | None = None
    with pytest.raises(RuntimeError):
        async with store.transaction() as db:
            await db.execute(
                "INSERT INTO user_prefs (tenant_id, user_id, dm_answers, updated_at) VALUES ('T1', 'UX', 1, 0)"
            )
            hop = asyncio.create_task(new_request(store))
            await asyncio.sleep(0.05)
            assert not hop.done()  # it must not run between this BEGIN and COMMIT
            raise RuntimeError("roll back")
    assert hop is not None
    await hop
    assert await store.user_prefs(TENANT, "UX") == (False, None, None)  # rolled back, alone
    assert len(await store.requests_in_state(NEW)) == 1  # the hop committed on its own


async def test_hops_from_many_coroutines_all_commit(store: Store) -> None:
    ids = await asyncio.gather(*(new_request(store) for _ in range(50)))

    assert len(set(ids)) == 50
    assert len(await store.requests_in_state(NEW)) == 50
