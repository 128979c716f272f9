"""Bolt's authorize step reads the store once per cache miss and never while the cache is warm (issue 16: with 1,000
workspaces every first request of a workspace is a miss, so each extra query showed in figure 1), on both backends.

The store is the real one; `CountedStore` only passes each call through and writes down its name."""

from __future__ import annotations

import time
from typing import Any

from slack_bolt.context.async_context import AsyncBoltContext

from bot.domain import TenantId
from bot.listeners.authorize import TENANT, InstalledAuthorize
from bot.secrets import Secrets
from bot.slack.stored_installations import StoredInstallations
from bot.store import Store
from tests.oauth.install_helpers import installation
from tests.opcount import python_lines


class CountedStore:
    """The store, with the name of every coroutine method called on it written down, in order."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._store, name)
        if not callable(value):
            return value

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return await value(*args, **kwargs)

        return counted


async def authorize(check: InstalledAuthorize, team: str) -> tuple[str | None, str | None]:
    context = AsyncBoltContext()
    result = await check(context=context, enterprise_id=None, team_id=team, user_id="U1")
    return (result.bot_token if result else None), context.get(TENANT)


async def test_a_cache_miss_is_one_store_read_and_a_warm_cache_none(store: Store, secrets: Secrets) -> None:
    sdk = StoredInstallations(store, secrets).sdk_store
    await sdk.async_save(installation("T1"))
    await store.stop_workspace(TenantId("T2"), time.time(), disabled=True)
    await sdk.async_save(installation("T2", "xoxb-T2-secret"))  # installed, and its workspace stays disabled
    counted = CountedStore(store)
    check = InstalledAuthorize(StoredInstallations(counted, secrets, cache_seconds=3600))  # type: ignore[arg-type]

    assert await authorize(check, "T1") == ("xoxb-T1-secret", "T1")
    assert await authorize(check, "T2") == (None, None)  # disabled: answered as not installed
    assert counted.calls == ["served_slack_installation", "served_slack_installation"]

    with python_lines("bot.store") as store_lines:
        for _ in range(3):
            assert await authorize(check, "T1") == ("xoxb-T1-secret", "T1")
            assert await authorize(check, "T2") == (None, None)

    assert counted.calls == ["served_slack_installation", "served_slack_installation"]
    assert store_lines.lines == 0
