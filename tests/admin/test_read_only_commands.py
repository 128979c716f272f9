"""Commands that only read never change anything, run as the real `askcall` process: only `serve` and `db migrate`
migrate; `export`, `purge` and `check` refuse a schema older or newer than theirs in one line naming
`askcall db migrate` and leave the database as it was; `check` never creates a database at a mistyped path; a
read-only database, even on a read-only file system, can be read (`export`, `db status`)."""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
from pathlib import Path

import asyncpg
import pytest

from bot.fakes.pilot_status import FakePilotStatus
from bot.store.sqlite.schema import MIGRATIONS as SQLITE_MIGRATIONS
from tests.admin.conftest import RunCli
from tests.admin.test_db import install_schema, schema_of, sqlite_file
from tests.cli_process import run_askcall
from tests.process.test_startup_and_shutdown import without_root_override
from tests.tmpfs import read_only_file_system

LATEST = len(SQLITE_MIGRATIONS)
SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
# The commands that read (purge also writes rows, but never the schema).
READERS = {
    "export": ["export", "--since", "2026-01-01", "--format", "csv"],
    "purge --dry-run": ["purge", "--older-than", "180d", "--dry-run"],
    "purge": ["purge", "--older-than", "180d"],
}


def fingerprint(folder: Path) -> dict[str, str]:
    """Every file of the folder, by name, with the SHA-256 of its bytes."""
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.iterdir())}


async def schema_version(url: str) -> int:
    if url.startswith("sqlite"):
        with contextlib.closing(sqlite3.connect(sqlite_file(url))) as db:
            return int(db.execute("PRAGMA user_version").fetchone()[0])
    return await schema_of(url)


@pytest.mark.parametrize("command", list(READERS))
@pytest.mark.parametrize("version", [4, LATEST + 1], ids=["older", "newer"])
async def test_a_reader_refuses_another_schema_in_one_line_and_changes_nothing(
    cli_env, run_askcall_process: RunCli, database_url: str, monkeypatch, command: str, version: int
) -> None:
    await install_schema(database_url, min(version, LATEST))
    if version > LATEST:
        await set_version(database_url, version)
    monkeypatch.setenv("ASKCALL_DATABASE_URL", database_url)
    before = fingerprint(sqlite_file(database_url).parent) if database_url.startswith("sqlite") else None

    result = await run_askcall_process(*READERS[command])

    assert result.code == 1, result.out + result.err
    (line,) = result.err.splitlines()
    older = f"is at schema version {version}, older than this AskCall's ({LATEST}): run askcall db migrate first"
    newer = f"is at schema version {version}, newer than this AskCall's ({LATEST}): use the AskCall version that ran "
    assert line.startswith("askcall: the database ") and (older if version < LATEST else newer) in line, line
    assert "askcall db migrate" in line
    assert result.out == ""
    assert await schema_version(database_url) == version  # not migrated
    if before is not None:
        assert fingerprint(sqlite_file(database_url).parent) == before  # not a byte changed, no file left behind


async def set_version(url: str, version: int) -> None:
    if url.startswith("sqlite"):
        with contextlib.closing(sqlite3.connect(sqlite_file(url))) as db:
            db.execute(f"PRAGMA user_version = {version}")
        return
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("UPDATE askcall_schema SET version = $1", version)
    finally:
        await connection.close()


async def test_check_of_an_older_schema_names_db_migrate_and_leaves_it_as_it_is(
    cli_env, run_askcall_process: RunCli, database_url: str, monkeypatch, pilot: FakePilotStatus
) -> None:
    await install_schema(database_url, 4)
    monkeypatch.setenv("ASKCALL_DATABASE_URL", database_url)

    result = await run_askcall_process("check")

    assert result.code == 1
    line = result.line_with("schema version")
    assert f"is at schema version 4, this AskCall's is {LATEST} — fix: run askcall db migrate" in line, line
    assert await schema_version(database_url) == 4


async def test_check_at_a_mistyped_path_creates_nothing(
    cli_env, run_askcall_process: RunCli, monkeypatch, tmp_path: Path, pilot: FakePilotStatus
) -> None:
    mistyped = tmp_path / "dta" / "askcall.db"
    monkeypatch.setenv("ASKCALL_DB_PATH", str(mistyped))

    result = await run_askcall_process("check")

    assert result.code == 1
    assert result.line_with("AskCall database").startswith(f"✗ There is no AskCall database at {mistyped} — fix: ")
    assert "askcall db migrate" in result.line_with("AskCall database")
    assert not mistyped.parent.exists()


async def test_check_of_a_good_database_changes_nothing(
    cli_env, run_askcall_process: RunCli, database_url: str, monkeypatch, pilot: FakePilotStatus
) -> None:
    """Not even the write probe's row: check proves the database takes a write and rolls it back."""
    await install_schema(database_url, LATEST)
    monkeypatch.setenv("ASKCALL_DATABASE_URL", database_url)
    before = fingerprint(sqlite_file(database_url).parent) if database_url.startswith("sqlite") else None

    result = await run_askcall_process("check")

    assert f"is writable and up to date (schema version {LATEST})" in result.line_with("✓ Database"), result.out
    assert await health_rows(database_url) == 0
    if before is not None:
        assert fingerprint(sqlite_file(database_url).parent) == before


async def health_rows(url: str) -> int:
    if url.startswith("sqlite"):
        with contextlib.closing(sqlite3.connect(sqlite_file(url))) as db:
            return int(db.execute("SELECT COUNT(*) FROM health").fetchone()[0])
    connection = await asyncpg.connect(url)
    try:
        return int(await connection.fetchval("SELECT COUNT(*) FROM health"))
    finally:
        await connection.close()


@SQLITE
async def test_export_reads_a_database_it_may_not_write(cli_env, database_url: str, tmp_path: Path) -> None:
    await install_schema(database_url, LATEST)
    database = sqlite_file(database_url)
    database.chmod(0o444)  # the file is read-only; its folder is not (SQLite may put its -shm file there)
    env = {**cli_env_process(cli_env), "ASKCALL_DATABASE_URL": database_url}
    before = fingerprint(database.parent)

    code, out, err = await run_askcall(
        "export", "--since", "2026-01-01", "--format", "csv", env=env, cwd=tmp_path, prefix=without_root_override()
    )

    assert code == 0, err
    assert out.startswith("request_id,requested_at,") and "Exported 0 record(s)" in err
    assert fingerprint(database.parent) == before


@SQLITE
async def test_db_status_and_export_on_a_read_only_file_system(cli_env, database_url: str, tmp_path: Path) -> None:
    """A read-only volume: the answer, not a traceback (nor a cleanup error hiding the real one)."""
    await install_schema(database_url, LATEST)
    database = sqlite_file(database_url)
    env = {**cli_env_process(cli_env), "ASKCALL_DATABASE_URL": database_url}

    with read_only_file_system(database.parent):
        status = await run_askcall("db", "status", env=env, cwd=tmp_path)
        exported = await run_askcall("export", "--since", "2026-01-01", "--format", "csv", env=env, cwd=tmp_path)

    code, out, err = status
    assert (code, err) == (0, ""), out + err
    assert f"Schema version: {LATEST} (this AskCall knows {LATEST})" in out.splitlines()
    assert "Pending migrations: none (up to date)" in out.splitlines()
    code, out, err = exported
    assert code == 0 and "Traceback" not in err, err
    assert out.startswith("request_id,requested_at,")


def cli_env_process(cli_env: dict[str, str]) -> dict[str, str]:
    """The environment of a real `askcall` process with cli_env's settings (and the PATH to find setpriv)."""
    import os

    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PILOT_STATUS_", "ASKCALL_"))},
        **cli_env,
    }
