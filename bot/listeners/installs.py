"""Leaving, with one workspace (SLACK_BOT_TOKEN): Slack says AskCall was uninstalled or its tokens revoked.

Invariant: the event is acknowledged (a 2xx, so Slack never retries it or counts it as a failure) and the operator
is told, once per event, that the configured token stopped working and what to do; nothing is deleted, since the
token lives in the environment. In multi-workspace mode Bolt's token revocation listeners handle these events
instead, deleting the workspace's tokens through AskCall's installation store (bot.app).
"""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext

log = logging.getLogger(__name__)


def register_single_workspace(app: AsyncApp) -> None:
    async def uninstalled(context: AsyncBoltContext) -> None:
        log.warning(
            "Slack says AskCall was uninstalled from workspace %s: SLACK_BOT_TOKEN no longer works. Reinstall the "
            "app there and set its new Bot User OAuth Token",
            context.team_id,
        )

    async def revoked(event: dict[str, object], context: AsyncBoltContext) -> None:
        tokens = event.get("tokens")
        if isinstance(tokens, dict) and tokens.get("bot"):
            log.warning(
                "Slack says AskCall's bot token was revoked in workspace %s: SLACK_BOT_TOKEN no longer works. "
                "Reinstall the app there and set its new Bot User OAuth Token",
                context.team_id,
            )

    app.event("app_uninstalled")(uninstalled)
    app.event("tokens_revoked")(revoked)
