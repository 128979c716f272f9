"""Bolt listeners grouped by kind; each module exposes `register(app, ctx)`."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.slack.listeners import commands, views
from bot.slack.listeners.context import ListenerContext


def register_listeners(app: AsyncApp, ctx: ListenerContext) -> None:
    commands.register(app, ctx)
    views.register(app, ctx)
