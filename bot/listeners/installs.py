"""Leaving, with one workspace (SLACK_BOT_TOKEN): Slack says AskCall was uninstalled or its tokens revoked.

Invariant: the event is acknowledged (a 2xx, so Slack never retries it or counts it as a failure) after the
workspace's work is stopped and the operator told (bot.services.leaving); a revocation of user tokens only (AskCall
holds none) changes nothing. In multi-workspace mode Bolt's token revocation listeners handle these events instead,
deleting the workspace's tokens through AskCall's installation store (bot.app).
"""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.services.leaving import REVOKED, UNINSTALLED, SingleWorkspaceLeaving


def register_single_workspace(app: AsyncApp, leaving: SingleWorkspaceLeaving) -> None:
    async def uninstalled() -> None:
        await leaving.left(UNINSTALLED)

    async def revoked(event: dict[str, object]) -> None:
        tokens = event.get("tokens")
        if isinstance(tokens, dict) and tokens.get("bot"):
            await leaving.left(REVOKED)

    app.event("app_uninstalled")(uninstalled)
    app.event("tokens_revoked")(revoked)
