"""The store's administration contract (`askcall db status | migrate | copy`), on every backend:
whole tables read in key order and written back as they were, ids kept and never reused afterwards,
a read-only connection that writes nothing, and a schema newer than this AskCall refused."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.store import DATA_TABLES, SchemaTooNew, Store, StoreError, create_store
from bot.store.postgres import schema as postgres_schema
from bot.store.sqlite import schema as sqlite_schema
from tests.postgres import backend_of, empty_database
from tests.store.helpers import ANSWER_AT, TABLES, all_rows, fill, new_request
from tests.tenants import TENANT


@pytest.fixture
def other_url(database_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A second, empty database on the same backend as `database_url`."""
    with empty_database(backend_of(database_url), tmp_path, request, "other.db") as url:
        yield url


@pytest.fixture
async def other(other_url: str) -> Iterator[Store]:
    store = create_store(other_url, owner="replica-c")
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def test_backend_names_itself_and_its_server_version(store: Store) -> None:
    assert store.backend in ("SQLite", "PostgreSQL")
    version = await store.server_version()
    assert version[:1].isdigit() and "." in version


async def test_row_counts_name_every_table(store: Store) -> None:
    assert await store.row_counts() == dict.fromkeys(TABLES, 0)

    await fill(store)

    counts = await store.row_counts()
    assert list(counts) == TABLES
    assert counts == {
        "workspaces": 1,
        "requests": 3,
        "status_checks": 0,
        "webhook_events": 1,
        "deliveries": 6,
        "reminders": 3,
        "user_prefs": 2,
        "handled_actions": 3,
        "call_links": 1,
        "call_sessions": 1,
        "calls": 1,
        "slack_installations": 0,
        "oauth_states": 0,
        "workspace_settings": 0,
        "workspace_numbers": 0,
    }


async def test_export_pages_in_key_order(store: Store) -> None:
    await fill(store, requests=5)

    first = await store.export_rows("requests", None, 2)
    second = await store.export_rows("requests", first[-1]["id"], 2)
    third = await store.export_rows("requests", second[-1]["id"], 2)
    assert [row["id"] for row in first + second + third] == sorted(row["id"] for row in first + second + third)
    assert len(first + second + third) == 5
    assert await store.export_rows("requests", third[-1]["id"], 2) == []
    actions = await store.export_rows("handled_actions", None, 10)
    assert [row["action_key"] for row in actions] == ["b-action", "a-action", "c-action"]  # in id order
    assert [row["action_key"] for row in await store.export_rows("handled_actions", actions[0]["id"], 10)] == [
        "a-action",
        "c-action",
    ]


async def test_exported_rows_are_plain_values_with_every_column(store: Store) -> None:
    await fill(store, requests=1)

    (request,) = await store.export_rows("requests", None, 10)
    assert request["sent_at"] == ANSWER_AT - 0.125 and request["answered_at"] is None
    assert {"lease_owner", "lease_until", "number_name", "phone_display", "purged_at"} <= set(request)
    for rows in (await all_rows(store)).values():
        for row in rows:
            assert all(value is None or type(value) in (int, float, str) for value in row.values()), row


async def test_imported_rows_read_back_identical_and_new_ids_follow_them(store: Store, other: Store) -> None:
    await fill(store)
    rows = await all_rows(store)

    for table in TABLES:
        await other.import_rows(table, rows[table])

    assert await all_rows(other) == rows
    assert await other.row_counts() == await store.row_counts()
    # New rows never collide with copied ones (PostgreSQL's identity sequences were moved past them).
    newest = max(row["id"] for row in rows["requests"])
    request_id = await new_request(other, phone="+5531977776666")
    assert request_id == newest + 1
    parent = await other.delivery_for(TENANT, request_id, "parent")
    assert parent is not None and parent.id == max(row["id"] for row in rows["deliveries"]) + 1


async def test_import_into_a_table_that_holds_the_same_key_fails_whole(store: Store, other: Store) -> None:
    await fill(store)
    rows = await store.export_rows("requests", None, 10)
    await other.import_rows("requests", rows[:1])

    with pytest.raises(StoreError):
        await other.import_rows("requests", rows)  # the first row is there already

    assert (await other.row_counts())["requests"] == 1


async def test_import_refuses_a_column_the_table_lacks(store: Store) -> None:
    with pytest.raises(StoreError, match="no column"):
        await store.import_rows(
            "handled_actions", [{"tenant_id": TENANT, "action_key": "a", "created_at": 1.0, "surprise": 1}]
        )
    assert (await store.row_counts())["handled_actions"] == 0


@pytest.mark.parametrize("table", ["sqlite_master", "requests; DROP TABLE requests", "pg_user"])
async def test_only_askcall_tables_are_accepted(store: Store, table: str) -> None:
    with pytest.raises(ValueError, match="not an AskCall table"):
        await store.export_rows(table, None, 1)
    with pytest.raises(ValueError, match="not an AskCall table"):
        await store.import_rows(table, [{"x": 1}])


async def test_erase_all_rows_empties_every_table_and_ids_start_over(store: Store) -> None:
    await fill(store)

    await store.erase_all_rows()

    assert await store.row_counts() == dict.fromkeys(TABLES, 0)
    assert await new_request(store) == 1


async def test_read_only_connection_reads_and_writes_nothing(store: Store, database_url: str) -> None:
    await fill(store, requests=1)
    reader = create_store(database_url, owner="reader")
    await reader.connect(read_only=True)
    try:
        assert await reader.schema_version() == store.latest_schema_version
        assert (await reader.row_counts())["requests"] == 1
        with pytest.raises(StoreError):
            await reader.import_rows("handled_actions", [{"action_key": "k", "created_at": 1.0}])
        with pytest.raises(StoreError):
            await reader.erase_all_rows()
    finally:
        await reader.close()
    assert await store.row_counts() == {
        **dict.fromkeys(TABLES, 0),
        "workspaces": 1,
        "requests": 1,
        "deliveries": 2,
        "reminders": 1,
        "webhook_events": 1,
        "user_prefs": 2,
        "handled_actions": 3,
        "call_links": 1,
        "call_sessions": 1,
        "calls": 1,
    }


async def test_connect_does_not_migrate(other_url: str) -> None:
    fresh = create_store(other_url)
    await fresh.connect()
    try:
        assert await fresh.schema_version() == 0
        await fresh.migrate()
        assert await fresh.schema_version() == fresh.latest_schema_version
        await fresh.migrate()  # again: nothing to do
        assert await fresh.schema_version() == fresh.latest_schema_version
    finally:
        await fresh.close()


async def test_read_only_connection_to_a_missing_sqlite_file_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "nothing-here" / "askcall.db"
    reader = create_store(f"sqlite://{path}")
    with pytest.raises(StoreError):
        await reader.connect(read_only=True)
    assert not path.parent.exists()


async def test_schema_newer_than_this_askcall_is_refused(store: Store, database_url: str) -> None:
    await store.close()
    bump = create_store(database_url)
    await bump.connect()
    try:
        await _set_schema_version(bump, bump.latest_schema_version + 1)
    finally:
        await bump.close()

    newer = create_store(database_url)
    with pytest.raises(SchemaTooNew, match="newer than this AskCall knows"):
        await newer.open()
    await store.connect()  # for the fixture to close


async def _set_schema_version(store: Store, version: int) -> None:
    # A test-only write to the backend's own version record.
    from bot.store.postgres import PostgresStore
    from bot.store.sqlite import SQLiteStore

    if isinstance(store, SQLiteStore):
        await store._in_db_thread(lambda conn: conn.execute(f"PRAGMA user_version={version}"))
    else:
        assert isinstance(store, PostgresStore)
        async with store.transaction() as conn:
            await conn.execute("UPDATE askcall_schema SET version = $1", version)


@pytest.mark.parametrize(
    "migrations", [sqlite_schema.MIGRATIONS, postgres_schema.MIGRATIONS], ids=["sqlite", "postgresql"]
)
def test_every_table_of_the_schema_is_copied_except_health_and_the_databases_own_id(migrations: list[str]) -> None:
    """A table added by a migration but missing from DATA_TABLES would be lost by `askcall db copy`
    (and would block its --force on PostgreSQL, through its foreign keys). Each process's health and the
    database's own id (how a copy tells two databases apart) belong to the database, not to the data."""
    created = {name.lower() for script in migrations for name in re.findall(r"CREATE TABLE (\w+)", script)}
    # A table rebuilt (SQLite can't drop a column's UNIQUE) is created under a new name, then takes the old one.
    for script in migrations:
        created -= {copy.lower() for copy, _ in re.findall(r"ALTER TABLE (\w+) RENAME TO (\w+)", script)}

    assert created == {table for table, _ in DATA_TABLES} | {"health", "askcall_database"}
