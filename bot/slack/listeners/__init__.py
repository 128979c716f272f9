"""Bolt listeners grouped by kind; each module exposes `register(app, ctx)`."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.slack.listeners import access, actions, commands, events, shortcuts, views
from bot.slack.listeners.context import ListenerContext


def register_listeners(app: AsyncApp, ctx: ListenerContext) -> None:
    access.register(app, ctx)  # middleware first: it guards every listener below
    for kind in (commands, views, shortcuts, actions, events):
        kind.register(app, ctx)
