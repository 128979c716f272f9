"""The `store` fixture: a fresh, opened store for each test, on every backend."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from bot.store import Store, create_store, sqlite_url

ADMIN_URL = os.environ.get("ASKCALL_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "sqlite":
        s = create_store(sqlite_url(str(tmp_path / "askcall.db")))
        await s.open()
        try:
            yield s
        finally:
            await s.close()
        return
    name = f"askcall_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        s = create_store(ADMIN_URL.rsplit("/", 1)[0] + "/" + name)
        await s.open()
        try:
            yield s
        finally:
            await s.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
