"""Slack's side of AskCall's inbound layer: Bolt listeners grouped by kind, above the services they call.

Each listener module exposes `register(app, ctx)` and imports no other listener module: what they share
lives in `context` (the `ListenerContext` they are given), `common` (helpers) and `inbound` (the shape of
Slack's requests). The import contract in pyproject.toml checks both. `direct` is not a listener but, like this
package, a composition: `/askcall` over HTTP runs the access check and the command's listener without Bolt's
dispatch around them.
"""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.listeners import access, actions, calls, commands, events, settings, shortcuts, views
from bot.listeners.context import ListenerContext


def register_listeners(app: AsyncApp, ctx: ListenerContext) -> None:
    access.register(app, ctx)  # middleware first: it guards every listener below
    for kind in (commands, views, shortcuts, actions, calls, events, settings):
        kind.register(app, ctx)
