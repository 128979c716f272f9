"""Stores for the contract tests: a fresh database for each test, on every backend
(`database_url`, from tests/postgres.py).

`store` is this process's store; `rival` is a second store (another owner, as another replica
would be) on the same database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.store import Store, create_store

LEASE_SECONDS = 30.0


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
