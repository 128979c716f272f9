"""The data behind the App Home tab."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.i18n import Translator
from bot.slack.home import home_view
from bot.slack.links import Workspace
from bot.store import Store

HOME_WINDOW = 30 * 24 * 3600


class HomeService:
    def __init__(self, store: Store, workspace: Workspace, clock: Callable[[], float]) -> None:
        self._store = store
        self._workspace = workspace
        self._clock = clock

    async def view_for(self, user_id: str, lang: str) -> dict[str, Any]:
        now = self._clock()
        requests = await self._store.requests_by_user(user_id, now - HOME_WINDOW)
        dm_answers, _, _ = await self._store.user_prefs(user_id)
        return home_view(
            requests,
            tr=Translator(lang),
            now=now,
            dm_answers=dm_answers,
            link=lambda r: self._workspace.permalink(r.channel_id, r.parent_ts, r.thread_ts),
        )

    async def set_dm_answers(self, user_id: str, enabled: bool) -> None:
        await self._store.set_dm_answers(user_id, enabled)
