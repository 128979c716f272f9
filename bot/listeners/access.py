"""The access check, in front of every listener that can send something: the command, the form,
shortcuts and buttons. A refused rep is told why and whom to ask, in the way each surface allows."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncRespond
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot.listeners.authorize import tenant_of
from bot.listeners.context import ListenerContext
from bot.listeners.inbound import payload_problem
from bot.services.access import Refusal
from bot.slack.messages import CHANNEL_ACTION, CHANNEL_BLOCK, PHONE_BLOCK, notice_modal
from bot.slack.settings import SETTINGS_PREFIX

log = logging.getLogger(__name__)


def register(app: AsyncApp, ctx: ListenerContext) -> None:
    async def check_access(
        body: dict[str, Any],
        ack: AsyncAck,
        respond: AsyncRespond,
        context: AsyncBoltContext,
        next: Callable[[], Awaitable[None]],
    ) -> BoltResponse | None:
        refused = await refusal_response(body, ack, respond, context, ctx)
        if refused is None:
            await next()
        # A global middleware that doesn't call next() must return the response itself: Bolt
        # ignores what ack() recorded and would answer 404 (and log the whole request body).
        return refused

    async def well_formed(body: dict[str, Any], next: Callable[[], Awaitable[None]]) -> BoltResponse | None:
        # HTTP requests were checked (and answered 400) before Bolt saw them (bot.listeners.inbound): what
        # is caught here came over Socket Mode, where only an ack stops Slack from redelivering it.
        problem = payload_problem(body)
        if problem is not None:
            log.warning("ignored a malformed Slack payload: %s", problem)
            return BoltResponse(status=200, body="")
        await next()
        return None

    app.middleware(well_formed)  # first: check_access reads the payload's fields
    app.middleware(check_access)


async def refusal_response(
    body: dict[str, Any], ack: AsyncAck, respond: AsyncRespond | None, context: AsyncBoltContext, ctx: ListenerContext
) -> BoltResponse | None:
    """The access check: the answer to a request it refuses (the rep told why and whom to ask), or None when the
    request may go on (allowed, or nothing it checks: App Home's Settings, events)."""
    who_where = _user_and_channel(body)
    if who_where is None:
        return None
    user_id, channel_id = who_where
    tenant = tenant_of(context)
    tr = await ctx.translator(tenant, user_id)
    refusal = await ctx.access.refusal(tenant, user_id, channel_id, tr)
    if refusal is None:
        return None
    log.info("refused %s for %s in %s", body.get("type") or "command", user_id, channel_id)
    return await _refuse(body, refusal, ack, respond, ctx, tr.t("modal.title"), context.client)


def _user_and_channel(body: dict[str, Any]) -> tuple[str, str | None] | None:
    """(user, channel) of a request that can lead to a WhatsApp message; None for the rest (App Home's Settings
    among them: connecting Pilot Status must work before anyone may send; its listeners check the admin role)."""
    if _is_settings(body):
        return None
    if body.get("command"):
        return body["user_id"], body.get("channel_id")
    kind = body.get("type")
    if kind in ("block_actions", "message_action"):
        return body["user"]["id"], (body.get("channel") or {}).get("id")
    if kind == "shortcut":
        return body["user"]["id"], None
    if kind == "view_submission":
        view = body.get("view") or {}
        metadata = json.loads(view.get("private_metadata") or "{}")
        picked = view.get("state", {}).get("values", {}).get(CHANNEL_BLOCK, {}).get(CHANNEL_ACTION) or {}
        return body["user"]["id"], metadata.get("channel_id") or picked.get("selected_conversation")
    return None


async def _refuse(
    body: dict[str, Any],
    refusal: Refusal,
    ack: AsyncAck,
    respond: AsyncRespond | None,
    ctx: ListenerContext,
    title: str,
    client: AsyncWebClient,
) -> BoltResponse:
    kind, text = body.get("type"), refusal.text
    if body.get("command"):
        return await ack(text=text, response_type="ephemeral")
    if kind == "view_submission":
        # Under the channel picker when the picked channel is the reason (a global shortcut's form).
        values = ((body.get("view") or {}).get("state") or {}).get("values") or {}
        block = CHANNEL_BLOCK if refusal.channel and CHANNEL_BLOCK in values else PHONE_BLOCK
        return await ack(response_action="errors", errors={block: text})
    response = await ack()
    if kind == "shortcut":
        ctx.tasks.spawn(client.views_open(trigger_id=body["trigger_id"], view=notice_modal(title, text)), "notice")
    elif body.get("response_url") and respond is not None:
        await respond(text=text, response_type="ephemeral", replace_original=False)
    return response


def _is_settings(body: dict[str, Any]) -> bool:
    if body.get("type") == "block_actions":
        actions = body.get("actions") or []
        return bool(actions) and all(str(a.get("action_id", "")).startswith(SETTINGS_PREFIX) for a in actions)
    if body.get("type") == "view_submission":
        return str((body.get("view") or {}).get("callback_id", "")).startswith(SETTINGS_PREFIX)
    return False
