"""The "📞 Call now" button: the clicker, and only the clicker, gets a personal link to the call page.

Invariant: the link is sent with chat.postEphemeral to the user who clicked (never in a message
others can see); the access middleware has already checked that user, and the click must come from
the request's own status message or one of AskCall's replies about it.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncRespond
from slack_sdk.errors import SlackApiError

from bot.listeners.authorize import tenant_of
from bot.listeners.common import button_request
from bot.listeners.context import ListenerContext
from bot.services.calls import LinkProblem
from bot.slack.messages import CALL_ACTION


def register(app: AsyncApp, ctx: ListenerContext) -> None:
    app.action(CALL_ACTION)(partial(call_now, ctx=ctx))


async def call_now(
    ack: AsyncAck,
    action: dict[str, Any],
    body: dict[str, Any],
    respond: AsyncRespond,
    context: AsyncBoltContext,
    ctx: ListenerContext,
) -> None:
    await ack()
    request = await button_request(tenant_of(context), action, body, respond, ctx, replies=True)
    if request is None:
        return
    user_id = body["user"]["id"]
    tr = await ctx.translator(request.tenant, user_id)
    issued = await ctx.calls.issue_link(request, user_id)
    if issued is LinkProblem.NO_PUBLIC_URL:
        text = tr.t("call.no_public_url")
    elif issued is LinkProblem.NOT_CALLABLE:
        text = tr.t("call.not_callable")
    else:
        text = tr.t("call.link", phone=issued.request.shown_phone, url=issued.url)
    container = body.get("container") or {}
    channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
    thread_ts = container.get("thread_ts")
    args: dict[str, Any] = {"channel": channel, "user": user_id, "text": text}
    if thread_ts:
        args["thread_ts"] = thread_ts
    try:
        await context.client.chat_postEphemeral(**args)
    except SlackApiError:  # a conversation AskCall can't post in: the click's own response_url, ephemeral too
        await respond(text=text, response_type="ephemeral", replace_original=False)
