"""Events API: the App Home tab."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.listeners.common import publish_home
from bot.listeners.context import ListenerContext


def register(app: AsyncApp, ctx: ListenerContext) -> None:
    async def home_opened(event: dict[str, Any]) -> None:
        # Events are acknowledged when the listener returns: publish in the background.
        if event.get("tab") == "home":
            ctx.tasks.spawn(publish_home(event["user"], ctx), name="publish-home")

    app.event("app_home_opened")(home_opened)
