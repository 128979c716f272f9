"""Events API: the App Home tab."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext

from bot.listeners.authorize import tenant_of
from bot.listeners.common import publish_home
from bot.listeners.context import ListenerContext


def register(app: AsyncApp, ctx: ListenerContext) -> None:
    async def home_opened(event: dict[str, Any], context: AsyncBoltContext) -> None:
        # Events are acknowledged when the listener returns: publish in the background.
        if event.get("tab") == "home":
            ctx.tasks.spawn(publish_home(tenant_of(context), event["user"], ctx, context.client), name="publish-home")

    app.event("app_home_opened")(home_opened)
