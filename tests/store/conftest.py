"""The `store` fixture: a fresh, opened store for each test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.store import Store, create_store, sqlite_url


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = create_store(sqlite_url(str(tmp_path / "askcall.db")))
    await s.open()
    try:
        yield s
    finally:
        await s.close()
