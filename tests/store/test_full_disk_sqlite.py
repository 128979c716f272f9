"""SQLite on a really full disk: a write that failed (even at COMMIT) leaves the connection usable, so
the store takes writes again as soon as there is room, without a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.store import StoreError, create_store
from bot.store.sqlite import SQLiteStore
from tests.store.helpers import new_request
from tests.tenants import TENANT
from tests.tmpfs import Filler, tiny_disk

__all__ = ["tiny_disk"]  # the fixture


async def test_writes_work_again_once_the_disk_has_room(tiny_disk: Path) -> None:
    db_path = tiny_disk / "askcall.db"
    store = create_store(f"sqlite:///{db_path}")
    assert isinstance(store, SQLiteStore)
    await store.open()
    disk = Filler(tiny_disk, db_path)
    try:
        request_id = await new_request(store)
        await asyncio.to_thread(disk.fill)
        for n in range(5):  # small writes: they fail when their pages go to the log, at COMMIT
            with pytest.raises((StoreError, Exception)):
                await store.set_dm_answers(TENANT, f"U{n}", True)
                await new_request(store, phone=f"+55319888800{n:02d}")
        await asyncio.to_thread(disk.free)

        await store.set_dm_answers(TENANT, "U1", True)
        assert (await store.user_prefs(TENANT, "U1"))[0] is True
        assert await store.claim_action(TENANT, "after-the-disk-filled")
        again = await new_request(store, phone="+5531988880099")
        assert again > request_id
    finally:
        await store.close()
