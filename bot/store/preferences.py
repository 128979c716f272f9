"""Per-user preferences (answers by DM, cached Slack locale), handled button clicks, status checks.

`claim_action` and `claim_status_check` are the guards that make a click act once: the first caller
wins, in this process or another, and every other one is told so.
"""

from __future__ import annotations

from abc import abstractmethod

from bot.domain import TenantId
from bot.store.connection import StoreConnection


class PreferenceStore(StoreConnection):
    @abstractmethod
    async def user_prefs(self, tenant: TenantId, user_id: str) -> tuple[bool, str | None, float | None]:
        """(dm_answers, locale, locale_fetched_at) for a user; defaults when unknown."""

    @abstractmethod
    async def set_dm_answers(self, tenant: TenantId, user_id: str, enabled: bool) -> None: ...

    @abstractmethod
    async def set_locale(self, tenant: TenantId, user_id: str, locale: str, fetched_at: float) -> None: ...

    @abstractmethod
    async def claim_action(self, tenant: TenantId, action_key: str) -> bool:
        """True the first time `action_key` is seen: double clicks and Slack retries act once."""

    @abstractmethod
    async def claim_status_check(
        self, tenant: TenantId, request_id: int, now: float, interval: float
    ) -> tuple[bool, str | None]:
        """(whether the caller may probe Pilot Status for this request now, the last probe's result).

        True at most once per `interval` per request, however many callers race it (in this process
        or another); the others get the last recorded result (None while the first probe runs)."""

    @abstractmethod
    async def record_status_check(self, tenant: TenantId, request_id: int, result: str) -> None:
        """Keep what the probe claimed by `claim_status_check` found, for the clicks that follow."""
