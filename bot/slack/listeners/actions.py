"""Buttons on AskCall's status message, and the App Home toggle."""

from __future__ import annotations

from functools import partial
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot.domain import OpenRequestExists
from bot.services.requests import AskAgain
from bot.slack.home import DM_OPTION, DM_TOGGLE_ACTION
from bot.slack.listeners.calls import call_now
from bot.slack.listeners.commands import open_elsewhere_text
from bot.slack.listeners.context import ListenerContext
from bot.slack.messages import AGAIN_ACTION, CALL_ACTION, CHECK_ACTION


def register(app: AsyncApp, ctx: ListenerContext) -> None:
    async def check(ack: AsyncAck, action: dict[str, Any]) -> None:
        await ack()
        ctx.tasks.spawn(ctx.status.check_request(int(action["value"])), name="check-status")

    async def again(ack: AsyncAck, action: dict[str, Any], body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        await ask_again(int(action["value"]), body["user"]["id"], respond, ctx)

    async def toggle_dm(ack: AsyncAck, action: dict[str, Any], body: dict[str, Any]) -> None:
        await ack()
        user_id = body["user"]["id"]
        enabled = any(option.get("value") == DM_OPTION for option in action.get("selected_options") or [])
        await ctx.home.set_dm_answers(user_id, enabled)
        await publish_home(user_id, ctx)

    app.action(CHECK_ACTION)(check)
    app.action(AGAIN_ACTION)(again)
    app.action(DM_TOGGLE_ACTION)(toggle_dm)
    app.action(CALL_ACTION)(partial(call_now, ctx=ctx))


async def ask_again(request_id: int, user_id: str, respond: AsyncRespond, ctx: ListenerContext) -> None:
    tr = await ctx.translator(user_id)
    try:
        outcome = await ctx.requests.ask_again(request_id, user_id)
    except OpenRequestExists as exists:
        await respond(text=open_elsewhere_text(exists, tr, ctx), response_type="ephemeral", replace_original=False)
        return
    if outcome is AskAgain.NOT_YOURS:
        owner = await ctx.requests.owner_of(request_id)
        await respond(text=tr.t("again.not_yours", user=owner), response_type="ephemeral", replace_original=False)
    elif outcome is AskAgain.NOT_NOW:
        await respond(text=tr.t("again.not_now"), response_type="ephemeral", replace_original=False)


async def publish_home(user_id: str, ctx: ListenerContext) -> None:
    lang = await ctx.languages.language_for(user_id)
    await ctx.client.views_publish(user_id=user_id, view=await ctx.home.view_for(user_id, lang))
