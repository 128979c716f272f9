"""`askcall db copy` into a PostgreSQL database that does not exist, run as a real `askcall` process: it creates
nothing, says that the database must be created first and how, and leaves the source as it was."""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

from tests.cli_process import run_askcall
from tests.postgres import PostgresServer


async def database_exists(admin_url: str, name: str) -> bool:
    connection = await asyncpg.connect(admin_url)
    try:
        return bool(await connection.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", name))
    finally:
        await connection.close()


async def test_a_missing_target_database_is_refused_with_how_to_create_it(
    tmp_path: Path, pg_server: PostgresServer
) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    source = tmp_path / "askcall.db"
    code, _, err = await run_askcall("db", "migrate", env={**env, "ASKCALL_DB_PATH": str(source)}, cwd=tmp_path)
    assert code == 0, err
    before = hashlib.sha256(source.read_bytes()).hexdigest()
    name = "askcall_missing_" + secrets.token_hex(4)
    target = pg_server.url_for(name)

    code, out, err = await run_askcall(
        "db", "copy", "--from", f"sqlite://{source}", "--to", target, env=env, cwd=tmp_path
    )

    assert code == 1 and out == ""
    assert f"nothing copied: {target} (--to): the database {name!r} does not exist" in err
    user = urlsplit(target).username
    assert "creates AskCall's tables in an existing database, not the database itself" in err
    assert err.rstrip().endswith(f"-U postgres -O {user} {name}"), err
    assert "createdb -h " in err and "Traceback" not in err
    assert not await database_exists(pg_server.admin_url, name)
    assert hashlib.sha256(source.read_bytes()).hexdigest() == before
