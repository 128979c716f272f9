"""Leaving, with one workspace (SLACK_BOT_TOKEN): Slack says AskCall was uninstalled there, or its bot token revoked.

Invariant: the workspace's work stops as it does in multi-workspace mode (`stop_workspace`: stamped uninstalled, its
open Slack messages dead with the reason "uninstalled", every claim across tenants skipping it, so every replica
stops with no cache), and this process hands out the env token no more (its late messages die "uninstalled" too);
/readyz says degraded, with why, and the operator is told once per event what to do. Nothing is deleted: the token
lives in the environment, and the data is kept (the uninstall grace period applies, as in multi-workspace mode). A
restart with a new token records the workspace again, which resumes it with its history. Idempotent: Slack retries
events. The event reaches one replica; the others hear of the stop through the store (`watch`: PostgreSQL's NOTIFY
in the stop's transaction) and stop handing the token out, and say why, too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from bot.slack.env_installations import EnvInstallations
from bot.store import Store

log = logging.getLogger(__name__)

UNINSTALLED = "uninstalled"
REVOKED = "revoked"
# What another replica heard (the store says the workspace was stamped uninstalled, not which event did it).
LEFT = "left"
_WHAT = {
    UNINSTALLED: "AskCall was uninstalled from",
    REVOKED: "AskCall's bot token was revoked in",
    LEFT: "AskCall was uninstalled from, or its bot token revoked in,",
}


class SingleWorkspaceLeaving:
    def __init__(self, store: Store, installations: EnvInstallations, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._installations = installations
        self._clock = clock

    async def left(self, how: str) -> int:
        """The env workspace uninstalled AskCall (`how` UNINSTALLED) or revoked its bot token (REVOKED): stop its
        work; how many open Slack messages died."""
        problem = self._stop(how)
        killed = await self._store.stop_workspace(self._installations.tenant, self._clock())
        log.warning("%s (%d pending Slack message(s) dropped)", problem, killed)
        return killed

    def _stop(self, how: str) -> str:
        problem = (
            f"Slack says {_WHAT[how]} workspace {self._installations.tenant}: SLACK_BOT_TOKEN no longer works and "
            "AskCall does no work there. Reinstall the app there and set its new Bot User OAuth Token"
        )
        self._installations.stop(problem)
        return problem

    async def watch(self) -> None:
        """Until cancelled: when another replica stops the workspace (it heard the event), stop here too."""
        changed = asyncio.Event()
        listener = asyncio.ensure_future(self._store.listen_installations(lambda _tenant: changed.set()))
        try:
            while self._installations.problem is None:
                await changed.wait()
                changed.clear()
                try:
                    workspace = await self._store.workspace(self._installations.tenant)
                except Exception as error:  # the database is away: the next change (or reconnection) asks again
                    log.warning("could not read whether the workspace was uninstalled (%s)", error)
                    continue
                if workspace is not None and workspace.uninstalled_at is not None:
                    log.warning("%s (another replica heard it)", self._stop(LEFT))
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
