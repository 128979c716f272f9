"""Fixtures of the multi-workspace tests: an opened store on each backend (and a second one, as another replica
would have), and keys."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.secrets import Secrets, new_key
from bot.store import Store, create_store


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    opened = create_store(database_url, owner="replica-a")
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def rival(store: Store, database_url: str) -> AsyncIterator[Store]:
    opened = create_store(database_url, owner="replica-b")
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def secrets() -> Secrets:
    return Secrets(new_key())
