"""The data behind the App Home tab: the rep's requests of the last 30 days, the teammates' requests of that
window the rep called on, and the calls of the requests shown."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.domain import TenantId
from bot.i18n import Translator
from bot.slack.home import MAX_CALLED_ITEMS, home_view, shown_requests
from bot.slack.links import WorkspaceLinks
from bot.store import Store

HOME_WINDOW = 30 * 24 * 3600


class HomeService:
    def __init__(self, store: Store, workspace: WorkspaceLinks, clock: Callable[[], float]) -> None:
        self._store = store
        self._workspace = workspace
        self._clock = clock

    async def view_for(self, tenant: TenantId, user_id: str, lang: str) -> dict[str, Any]:
        now = self._clock()
        requests = await self._store.requests_by_user(tenant, user_id, now - HOME_WINDOW)
        called = await self._store.requests_called_by(tenant, user_id, now - HOME_WINDOW, limit=MAX_CALLED_ITEMS)
        calls = await self._store.calls_for_requests(tenant, (r.id for r in shown_requests(requests, called, now)))
        dm_answers, _, _ = await self._store.user_prefs(tenant, user_id)
        return home_view(
            requests,
            tr=Translator(lang),
            now=now,
            dm_answers=dm_answers,
            link=lambda r: self._workspace.permalink(r.tenant, r.channel_id, r.parent_ts, r.thread_ts),
            calls=calls,
            called=called,
            user_id=user_id,
        )

    async def set_dm_answers(self, tenant: TenantId, user_id: str, enabled: bool) -> None:
        await self._store.set_dm_answers(tenant, user_id, enabled)
