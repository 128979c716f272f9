"""Leaving, with one workspace (SLACK_BOT_TOKEN): Slack says AskCall was uninstalled there, or its bot token revoked.

Invariant: the workspace's work stops as it does in multi-workspace mode (`stop_workspace`: stamped uninstalled, its
open Slack messages dead with the reason "uninstalled", every claim across tenants skipping it, so every replica
stops with no cache), and this process hands out the env token no more (its late messages die "uninstalled" too);
/readyz says degraded, with why, and the operator is told once per event what to do. Nothing is deleted: the token
lives in the environment, and the data is kept (the uninstall grace period applies, as in multi-workspace mode). A
restart with a new token records the workspace again, which resumes it with its history. Idempotent: Slack retries
events.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from bot.slack.env_installations import EnvInstallations
from bot.store import Store

log = logging.getLogger(__name__)

UNINSTALLED = "uninstalled"
REVOKED = "revoked"


class SingleWorkspaceLeaving:
    def __init__(self, store: Store, installations: EnvInstallations, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._installations = installations
        self._clock = clock

    async def left(self, how: str) -> int:
        """The env workspace uninstalled AskCall (`how` UNINSTALLED) or revoked its bot token (REVOKED): stop its
        work; how many open Slack messages died."""
        tenant = self._installations.tenant
        what = "AskCall was uninstalled from" if how == UNINSTALLED else "AskCall's bot token was revoked in"
        problem = (
            f"Slack says {what} workspace {tenant}: SLACK_BOT_TOKEN no longer works and AskCall does no work there. "
            "Reinstall the app there and set its new Bot User OAuth Token"
        )
        self._installations.stop(problem)
        killed = await self._store.stop_workspace(tenant, self._clock())
        log.warning("%s (%d pending Slack message(s) dropped)", problem, killed)
        return killed
