"""Stores for the contract tests: a fresh database for each test, on every backend.

`store` is this process's store; `rival` is a second store (another owner, as another replica
would be) on the same database.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from bot.store import Store, create_store, sqlite_url

ADMIN_URL = os.environ.get("ASKCALL_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
LEASE_SECONDS = 30.0


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield sqlite_url(str(tmp_path / "askcall.db"))
        return
    name = f"askcall_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def _opened(url: str, owner: str) -> Store:
    store = create_store(url, owner=owner, lease_seconds=LEASE_SECONDS)
    await store.open()
    return store


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    s = await _opened(database_url, "replica-a")
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def rival(store: Store, database_url: str) -> AsyncIterator[Store]:
    s = await _opened(database_url, "replica-b")
    try:
        yield s
    finally:
        await s.close()
