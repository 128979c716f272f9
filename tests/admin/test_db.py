"""`askcall db status | migrate | copy`, run as the CLI against real databases (SQLite and PostgreSQL)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

from bot.admin.dbcopy import copy_database
from bot.config import DatabaseConfig
from bot.store import Store, create_store
from bot.store.sqlite.schema import MIGRATIONS as SQLITE_MIGRATIONS
from tests.admin.conftest import PASSWORD, RunCli, with_password
from tests.cli_process import run_askcall_on_a_terminal
from tests.e2e.helpers import free_port
from tests.postgres import backend_of, empty_database, other_backend
from tests.store.helpers import TABLES, all_rows, fill, new_request
from tests.store.older import at_version

LATEST = len(SQLITE_MIGRATIONS)


@pytest.fixture
def target_url(database_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """An empty database on the OTHER backend than `database_url`: the copy crosses backends both ways."""
    with empty_database(other_backend(database_url), tmp_path, request, "copied.db") as url:
        yield url


@pytest.fixture
def back_url(database_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A third, empty database on the SAME backend as `database_url`."""
    with empty_database(backend_of(database_url), tmp_path, request, "back.db") as url:
        yield url


async def opened(url: str, owner: str = "replica-a", lease_seconds: float = 30.0) -> Store:
    store = create_store(url, owner=owner, lease_seconds=lease_seconds)
    await store.open()
    return store


async def snapshot(url: str) -> dict[str, list[dict[str, object]]]:
    store = create_store(url)
    await store.connect(read_only=True)
    try:
        return await all_rows(store)
    finally:
        await store.close()


async def filled(url: str, requests: int = 3) -> dict[str, list[dict[str, object]]]:
    store = await opened(url)
    try:
        await fill(store, requests)
        await store.release_leases()  # as a stopped AskCall leaves it
        return await all_rows(store)
    finally:
        await store.close()


def sqlite_file(url: str) -> Path:
    return Path(urlsplit(url).path)


def exists(path: Path) -> bool:
    return path.exists()


def listing(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- copy ------------------------------------------------------------------------------------------
async def test_copy_moves_every_row_across_backends_and_reports_progress(
    cli_env, run_cli: RunCli, database_url: str, target_url: str
) -> None:
    rows = await filled(database_url)

    result = await run_cli("db", "copy", "--from", database_url, "--to", target_url)

    assert result.code == 0, result.err
    assert await snapshot(target_url) == rows
    assert await snapshot(database_url) == rows
    for table in TABLES:
        assert f"  {table}: {len(rows[table])}/{len(rows[table])} rows" in result.err.splitlines()
    total = sum(len(r) for r in rows.values())
    assert f"Copied {total} rows; the row counts of all {len(TABLES)} tables match." in result.out


async def test_round_trip_gives_back_identical_rows(
    cli_env, run_cli: RunCli, database_url: str, target_url: str, back_url: str
) -> None:
    """origin → the other backend → a third database on the origin's backend: every row identical."""
    rows = await filled(database_url, requests=7)

    there = await run_cli("db", "copy", "--from", database_url, "--to", target_url, "--batch-size", "3")
    back = await run_cli("db", "copy", "--from", target_url, "--to", back_url, "--batch-size", "2")

    assert (there.code, back.code) == (0, 0), there.err + back.err
    assert await snapshot(target_url) == rows
    assert await snapshot(back_url) == rows
    assert "  requests: 3/7 rows" in there.err.splitlines() and "  requests: 4/7 rows" in back.err.splitlines()


async def test_source_is_left_untouched(cli_env, run_cli: RunCli, tmp_path: Path, pg_url: str) -> None:
    source = f"sqlite://{tmp_path}/source.db"
    await filled(source)
    before = file_digest(sqlite_file(source))
    files = listing(tmp_path)

    result = await run_cli("db", "copy", "--from", source, "--to", pg_url)

    assert result.code == 0, result.err
    assert file_digest(sqlite_file(source)) == before
    assert listing(tmp_path) == files == ["source.db"]  # no -wal or -shm left behind either


async def test_new_rows_after_a_copy_get_fresh_ids(
    cli_env, run_cli: RunCli, database_url: str, target_url: str
) -> None:
    rows = await filled(database_url)
    assert (await run_cli("db", "copy", "--from", database_url, "--to", target_url)).code == 0

    store = await opened(target_url)
    try:
        request_id = await new_request(store, phone="+5531912345678")
    finally:
        await store.close()
    assert request_id == max(int(str(row["id"])) for row in rows["requests"]) + 1


async def test_a_target_with_data_is_refused_then_replaced_with_force(
    cli_env, run_cli: RunCli, database_url: str, target_url: str
) -> None:
    rows = await filled(database_url, requests=2)
    theirs = await filled(target_url, requests=4)

    refused = await run_cli("db", "copy", "--from", database_url, "--to", target_url)

    assert refused.code == 1
    assert "nothing copied" in refused.err and "already holds AskCall data (workspaces 1, requests 4," in refused.err
    assert "--force" in refused.err
    assert await snapshot(target_url) == theirs

    forced = await run_cli("db", "copy", "--from", database_url, "--to", target_url, "--force")

    assert forced.code == 0, forced.err
    assert await snapshot(target_url) == rows


async def test_a_source_at_another_schema_version_is_refused_and_not_migrated(
    cli_env, run_cli: RunCli, tmp_path: Path, pg_url: str
) -> None:
    older = tmp_path / "older.db"
    with sqlite3.connect(older) as db:
        for script in SQLITE_MIGRATIONS[:3]:
            db.executescript(script)
        db.execute("PRAGMA user_version = 3")
    newer = tmp_path / "newer.db"
    await filled(f"sqlite://{newer}")
    with sqlite3.connect(newer) as db:
        db.execute(f"PRAGMA user_version = {LATEST + 1}")

    old = await run_cli("db", "copy", "--from", f"sqlite://{older}", "--to", pg_url)
    new = await run_cli("db", "copy", "--from", f"sqlite://{newer}", "--to", pg_url)
    foreign = tmp_path / "not-askcall.db"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE notes (x TEXT)")
    other = await run_cli("db", "copy", "--from", f"sqlite://{foreign}", "--to", pg_url)

    assert old.code == 1 and f"is at schema version 3, this AskCall knows {LATEST}" in old.err
    assert "askcall db migrate" in old.err
    assert new.code == 1 and f"schema version {LATEST + 1}, NEWER than this AskCall" in new.err
    assert other.code == 1 and "holds no AskCall database (no schema)" in other.err
    with sqlite3.connect(older) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 3
    assert await schema_version(pg_url) == 0  # refused before the target was touched


async def test_copying_a_database_onto_itself_is_refused(cli_env, run_cli: RunCli, database_url: str) -> None:
    rows = await filled(database_url)

    result = await run_cli("db", "copy", "--from", database_url, "--to", database_url, "--force")

    assert result.code == 1 and "name the same database" in result.err
    assert await snapshot(database_url) == rows


def other_names_for(url: str) -> list[str]:
    """Other URLs naming the same PostgreSQL database: another address of this host, the Unix socket (when the
    server listens on one here), the port spelt out in the query."""
    parts = urlsplit(url)
    name, user = parts.path.lstrip("/"), parts.username or "postgres"
    names = [
        url.replace(f"@{parts.hostname}:", "@0.0.0.0:"),
        f"postgresql://{user}@/{name}?host=127.0.0.1&port={parts.port}",
    ]
    if Path(f"/var/run/postgresql/.s.PGSQL.{parts.port}").exists():
        names.append(f"postgresql://{user}@/{name}?host=/var/run/postgresql&port={parts.port}")
    return names


async def test_a_copy_onto_the_same_postgresql_database_named_another_way_is_refused_and_erases_nothing(
    cli_env, run_cli: RunCli, pg_url: str
) -> None:
    """The database says which it is (its own id), whatever the URL calls it: never "Copied 0 rows" over an
    erased source."""
    rows = await filled(pg_url)

    for alias in other_names_for(pg_url):
        result = await run_cli("db", "copy", "--from", pg_url, "--to", alias, "--force")

        assert result.code == 1, (alias, result.out, result.err)
        assert "same database" in result.err and "Copied" not in result.out, result.err
        assert "Traceback" not in result.err
        assert await snapshot(pg_url) == rows


async def test_a_copy_onto_the_same_sqlite_file_by_another_path_is_refused(
    cli_env, run_cli: RunCli, tmp_path: Path
) -> None:
    source = tmp_path / "askcall.db"
    rows = await filled(f"sqlite://{source}")
    (tmp_path / "elsewhere").mkdir()
    linked = tmp_path / "elsewhere" / "linked.db"
    os.link(source, linked)  # the same file (device and inode) under another name

    result = await run_cli("db", "copy", "--from", f"sqlite://{source}", "--to", f"sqlite://{linked}", "--force")

    assert result.code == 1 and "same database" in result.err, result.err
    assert await snapshot(f"sqlite://{source}") == rows


async def test_a_sqlite_source_with_text_in_a_numeric_column_is_one_line_naming_table_row_and_column(
    cli_env, run_cli: RunCli, tmp_path: Path, pg_url: str
) -> None:
    source = tmp_path / "edited.db"
    await filled(f"sqlite://{source}")
    with sqlite3.connect(source) as db:  # someone edited the file by hand: SQLite keeps text in a REAL column
        db.execute("UPDATE requests SET created_at = 'yesterday' WHERE id = 2")

    result = await run_cli("db", "copy", "--from", f"sqlite://{source}", "--to", pg_url)

    assert result.code == 1 and "Traceback" not in result.err, result.err
    (line,) = [line for line in result.err.splitlines() if line.startswith("askcall: ")]
    assert "requests row id 2" in line and "created_at" in line, line
    assert "yesterday" not in line  # the value itself is not shown


async def test_a_missing_source_file_is_refused_and_not_created(cli_env, run_cli: RunCli, tmp_path: Path) -> None:
    missing = tmp_path / "typo" / "askcall.db"

    result = await run_cli("db", "copy", "--from", f"sqlite://{missing}", "--to", f"sqlite://{tmp_path}/to.db")

    assert result.code == 1 and f"there is no database at {missing}" in result.err
    assert not exists(missing.parent) and not exists(tmp_path / "to.db")


async def test_a_source_that_a_live_askcall_works_on_is_refused(
    cli_env, run_cli: RunCli, database_url: str, target_url: str
) -> None:
    store = await opened(database_url, owner="web-7f9c:42")
    try:
        await new_request(store)
        await store.claim_due_deliveries(time.time() + 1)  # a live lease on the parent delivery

        result = await run_cli("db", "copy", "--from", database_url, "--to", target_url)
    finally:
        await store.close()

    assert result.code == 1
    assert "AskCall is still running on" in result.err and "web-7f9c:42" in result.err
    assert await schema_version(target_url) in (None, 0)  # not even migrated


async def schema_version(url: str) -> int | None:
    """The schema version of the database at `url` (None: no SQLite file there), read without changing it."""
    if url.startswith("sqlite") and not exists(sqlite_file(url)):
        return None
    store = create_store(url)
    await store.connect(read_only=True)
    try:
        return await store.schema_version()
    finally:
        await store.close()


async def test_a_target_that_a_live_askcall_works_on_is_refused_even_with_force(
    cli_env, run_cli: RunCli, database_url: str, target_url: str
) -> None:
    rows = await filled(database_url)
    store = await opened(target_url, owner="web-1b2c:7")
    try:
        await new_request(store)
        await store.claim_due_deliveries(time.time() + 1)

        result = await run_cli("db", "copy", "--from", database_url, "--to", target_url, "--force")
    finally:
        await store.close()

    assert result.code == 1 and "AskCall is still running on" in result.err and "web-1b2c:7" in result.err
    assert len((await snapshot(target_url))["requests"]) == 1
    assert await snapshot(database_url) == rows


async def test_rows_added_to_the_source_during_the_copy_fail_the_count_check(tmp_path: Path, pg_url: str) -> None:
    source = tmp_path / "busy.db"
    await filled(f"sqlite://{source}")

    def someone_writes(table: str, done: int, total: int) -> None:
        if table == "user_prefs" and done == 0:  # requests are copied already
            with sqlite3.connect(source) as db:
                db.execute(
                    "INSERT INTO requests (tenant_id, channel_id, user_id, phone_e164, phone_key, reason, lang, state, "
                    "created_at, updated_at) VALUES ('T1', 'C1', 'U1', '+5511900000000', 'k', 'r', 'en', 'new', 1, 1)"
                )

    counts = await copy_database(
        DatabaseConfig.from_url(f"sqlite://{source}"), DatabaseConfig.from_url(pg_url), progress=someone_writes
    )

    assert [(c.table, c.source, c.target) for c in counts if not c.matches] == [("requests", 4, 3)]


async def test_passwords_are_never_printed(
    cli_env, run_cli: RunCli, tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = f"sqlite://{tmp_path}/source.db"
    await filled(source)
    unreachable = f"postgresql://askcall:{PASSWORD}@127.0.0.1:{free_port()}/askcall"

    copied = await run_cli("db", "copy", "--from", source, "--to", with_password(pg_url))
    failed = await run_cli("db", "copy", "--from", source, "--to", unreachable)
    monkeypatch.setenv("ASKCALL_DATABASE_URL", with_password(pg_url))
    status = await run_cli("db", "status")
    migrate = await run_cli("db", "migrate")
    monkeypatch.setenv("ASKCALL_DATABASE_URL", unreachable)
    down = await run_cli("db", "status")

    assert copied.code == 0, copied.err
    assert failed.code == 1 and "cannot be reached" in failed.err and "askcall:***@127.0.0.1" in failed.err
    assert "the copy did not finish" in failed.err and "The source is unchanged" in failed.err
    assert (status.code, migrate.code) == (0, 0), status.err + migrate.err
    assert down.code == 1 and "cannot be reached" in down.err and "askcall:***@127.0.0.1" in down.err
    for result in (copied, failed, status, migrate, down):
        assert PASSWORD not in result.out + result.err
    assert ":***@" in copied.out and ":***@" in status.out and ":***@" in migrate.out


async def test_bad_arguments_are_explained(cli_env, run_cli: RunCli, tmp_path: Path) -> None:
    relative = await run_cli("db", "copy", "--from", "sqlite://relative.db", "--to", f"sqlite://{tmp_path}/b.db")
    scheme = await run_cli("db", "copy", "--from", f"sqlite://{tmp_path}/a.db", "--to", "mysql://db/askcall")
    batch = await run_cli("db", "copy", "--from", "sqlite:///a.db", "--to", "sqlite:///b.db", "--batch-size", "0")

    assert relative.code == 2 and "--from=" in relative.err and "absolute path" in relative.err
    assert scheme.code == 2 and "--to=" in scheme.err and "unknown scheme" in scheme.err
    assert batch.code == 2 and "--batch-size must be at least 1" in batch.err


# --- status and migrate ------------------------------------------------------------------------------
def use_database(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("ASKCALL_DATABASE_URL", url)


async def test_status_of_an_up_to_date_database(
    cli_env, run_cli: RunCli, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await filled(database_url)
    use_database(monkeypatch, database_url)

    result = await run_cli("db", "status")

    assert result.code == 0, result.err
    backend = "SQLite" if database_url.startswith("sqlite") else "PostgreSQL"
    assert result.line_with("Backend:").startswith(f"Backend: {backend} ")
    assert result.line_with("Backend:").split()[-1][:1].isdigit()
    assert result.line_with("Schema version:") == f"Schema version: {LATEST} (this AskCall knows {LATEST})"
    assert result.line_with("Pending migrations:") == "Pending migrations: none (up to date)"
    assert result.line_with("Open leases:") == "Open leases: none"


async def test_status_lists_live_and_expired_leases(
    cli_env, run_cli: RunCli, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = await opened(database_url, owner="replica-live", lease_seconds=600)
    dead = await opened(database_url, owner="replica-dead", lease_seconds=-60)  # leases that ran out
    try:
        for _ in range(3):
            await new_request(live)
        await live.claim_due_deliveries(time.time() + 1, limit=2)
        await dead.claim_due_deliveries(time.time() + 1)  # the third
        use_database(monkeypatch, database_url)

        result = await run_cli("db", "status")
    finally:
        await live.close()
        await dead.close()

    assert result.code == 0, result.err
    assert result.line_with("Open leases:") == "Open leases: 3"
    assert result.line_with("replica-live").strip() == "replica-live  deliveries: 2 live"
    assert result.line_with("replica-dead").strip().startswith("replica-dead  deliveries: 1 expired")


async def install_schema(url: str, version: int) -> None:
    """A database as an older AskCall left it, at schema `version`."""
    await at_version(url, version)


async def test_status_shows_pending_migrations_and_migrate_applies_them(
    cli_env, run_cli: RunCli, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await install_schema(database_url, 3)
    use_database(monkeypatch, database_url)

    before = await run_cli("db", "status")
    still = await run_cli("db", "status")
    migrated = await run_cli("db", "migrate")
    again = await run_cli("db", "migrate")
    after = await run_cli("db", "status")

    assert before.code == 1
    assert before.line_with("Schema version:") == f"Schema version: 3 (this AskCall knows {LATEST})"
    pending = ", ".join(str(n) for n in range(4, LATEST + 1))
    assert before.line_with("Pending migrations:").startswith(f"Pending migrations: {LATEST - 3} ({pending})")
    assert "askcall db migrate" in before.line_with("Pending migrations:")
    assert still.line_with("Schema version:") == before.line_with("Schema version:")  # status changed nothing
    assert migrated.code == 0 and f"migrated from schema version 3 to {LATEST}." in migrated.out
    assert again.code == 0 and f"schema already at version {LATEST}, nothing to migrate." in again.out
    assert after.code == 0 and after.line_with("Pending migrations:") == "Pending migrations: none (up to date)"


async def test_a_database_newer_than_this_askcall(
    cli_env, run_cli: RunCli, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await install_schema(database_url, LATEST)
    if database_url.startswith("sqlite"):
        with sqlite3.connect(sqlite_file(database_url)) as db:
            db.execute(f"PRAGMA user_version = {LATEST + 1}")
    else:
        connection = await asyncpg.connect(database_url)
        await connection.execute("UPDATE askcall_schema SET version = $1", LATEST + 1)
        await connection.close()
    use_database(monkeypatch, database_url)

    status = await run_cli("db", "status")
    migrate = await run_cli("db", "migrate")

    assert status.code == 1
    assert "the database is NEWER than this AskCall" in status.line_with("Pending migrations:")
    assert migrate.code == 1 and "nothing migrated: the database at " in migrate.err
    assert f"is at schema version {LATEST + 1}, newer than this AskCall knows ({LATEST})" in migrate.err


async def test_status_of_a_missing_sqlite_file_creates_nothing(cli_env, run_cli: RunCli, tmp_path: Path) -> None:
    result = await run_cli("db", "status")

    assert result.code == 2 and "no AskCall database at" in result.err
    assert not exists(Path(cli_env["ASKCALL_DB_PATH"]))


async def test_migrate_creates_a_new_database(cli_env, run_cli: RunCli) -> None:
    result = await run_cli("db", "migrate")

    assert result.code == 0 and f"migrated from schema version 0 to {LATEST}." in result.out
    assert exists(Path(cli_env["ASKCALL_DB_PATH"]))


# --- migrate offers a backup first (the rollback path) -------------------------------------------------------
SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
POSTGRESQL = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def backups(folder: Path, name: str = "askcall.db") -> list[Path]:
    return sorted(folder.glob(f"{name}.schema-*.bak"))


@SQLITE
async def test_migrate_backs_a_sqlite_database_up_first_and_restoring_the_backup_rolls_back(
    cli_env, run_askcall_process: RunCli, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await install_schema(database_url, 3)
    database = sqlite_file(database_url)
    tables_before = sqlite_tables(database)
    use_database(monkeypatch, database_url)

    migrated = await run_askcall_process("db", "migrate")

    assert migrated.code == 0, migrated.err
    (backup,) = backups(database.parent)
    assert migrated.lines[0] == (
        f"Backed up sqlite://{database} (schema version 3) to {backup}: to roll back, restore it."
    )
    assert f"migrated from schema version 3 to {LATEST}." in migrated.out
    assert backup.stat().st_mode & 0o777 == 0o600  # it holds customers' numbers
    assert sqlite_version(backup) == 3 and sqlite_tables(backup) == tables_before
    # Rolling back = the backup in place of the database (AskCall stopped): the old schema is back.
    backup.replace(database)
    status = await run_askcall_process("db", "status")
    assert status.line_with("Schema version:") == f"Schema version: 3 (this AskCall knows {LATEST})"


@SQLITE
async def test_migrate_backs_up_where_asked_or_not_at_all(
    cli_env, run_askcall_process: RunCli, database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    await install_schema(database_url, 3)
    use_database(monkeypatch, database_url)
    target = tmp_path / "before-upgrade.db"

    chosen = await run_askcall_process("db", "migrate", "--backup", str(target))
    assert chosen.code == 0, chosen.err
    assert sqlite_version(target) == 3 and backups(sqlite_file(database_url).parent) == []

    other = f"sqlite://{tmp_path / 'other.db'}"
    await install_schema(other, 3)
    monkeypatch.setenv("ASKCALL_DATABASE_URL", other)
    skipped = await run_askcall_process("db", "migrate", "--no-backup")
    assert skipped.code == 0, skipped.err
    assert "Backed up" not in skipped.out and backups(tmp_path, "other.db") == []


@SQLITE
async def test_on_a_terminal_migrate_asks_before_backing_up(
    cli_env, database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    await install_schema(database_url, 3)
    use_database(monkeypatch, database_url)

    code, out, err = await run_askcall_on_a_terminal("db", "migrate", env=dict(os.environ), cwd=tmp_path, typed="n\n")

    assert code == 0, err
    assert "Back the database up to " in out and "first? [Y/n]" in out
    assert backups(sqlite_file(database_url).parent) == []  # declined
    assert f"migrated from schema version 3 to {LATEST}." in out


@POSTGRESQL
async def test_migrate_of_postgresql_gives_the_pg_dump_command_and_asks_on_a_terminal(
    cli_env, run_askcall_process: RunCli, database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    await install_schema(database_url, 3)
    use_database(monkeypatch, with_password(database_url))
    without = database_url  # the test servers trust local users: no password in it

    code, out, err = await run_askcall_on_a_terminal("db", "migrate", env=dict(os.environ), cwd=tmp_path, typed="n\n")

    assert code == 1 and "nothing migrated" in err
    assert f"pg_dump --format=custom --file=askcall-schema-3.dump {without}" in out
    assert "Migrate now? [y/N]" in out
    assert PASSWORD not in out + err and "***@" not in out  # the command works as printed
    assert (await schema_of(database_url)) == 3

    scripted = await run_askcall_process("db", "migrate")  # no terminal: a job, which says what it wants
    assert scripted.code == 0, scripted.err
    assert (
        f"back it up before migrating: pg_dump --format=custom --file=askcall-schema-3.dump {without}" in scripted.out
    )
    assert (await schema_of(database_url)) == LATEST


def sqlite_version(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return int(db.execute("PRAGMA user_version").fetchone()[0])


def sqlite_tables(path: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return [row[0] for row in db.execute("SELECT name FROM sqlite_master ORDER BY name")]


async def schema_of(url: str) -> int:
    connection = await asyncpg.connect(url)
    try:
        return int(await connection.fetchval("SELECT version FROM askcall_schema"))
    finally:
        await connection.close()
