"""Shortcuts: start a request from someone's message, or from anywhere."""

from __future__ import annotations

from typing import Any

import phonenumbers
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain import TenantId
from bot.listeners.authorize import tenant_of
from bot.listeners.context import ListenerContext
from bot.phones import parse_phone, strip_invisible
from bot.slack.messages import unescape_slack

MESSAGE_SHORTCUT = "askcall_message"
# How much of a message is searched for a phone number to pre-fill the form: the matcher's cost grows
# with the text, and a Slack message may hold 40,000 characters.
FIRST_PHONE_SCAN_CHARS = 3000
GLOBAL_SHORTCUT = "askcall_global"


def register(app: AsyncApp, ctx: ListenerContext) -> None:
    async def from_message(ack: AsyncAck, shortcut: dict[str, Any], context: AsyncBoltContext) -> None:
        await ack()
        await open_from_message(tenant_of(context), shortcut, ctx, context.client)

    async def from_anywhere(ack: AsyncAck, shortcut: dict[str, Any], context: AsyncBoltContext) -> None:
        await ack()
        tr = await ctx.translator(tenant_of(context), shortcut["user"]["id"])
        ctx.open_modal(context.client, shortcut["trigger_id"], tr, {}, pick_channel=True)

    app.message_shortcut(MESSAGE_SHORTCUT)(from_message)
    app.global_shortcut(GLOBAL_SHORTCUT)(from_anywhere)


def first_phone(text: str, region: str) -> str:
    """The first phone number written in the start of a message, as the rep would type it; '' when
    there is none. It only pre-fills the form, which the rep reviews and which is read strictly."""
    for match in phonenumbers.PhoneNumberMatcher(
        strip_invisible(unescape_slack(text[:FIRST_PHONE_SCAN_CHARS])), region
    ):
        e164, _ = parse_phone(match.raw_string, region)
        if e164:
            return phonenumbers.format_number(phonenumbers.parse(e164), phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return ""


async def open_from_message(
    tenant: TenantId, shortcut: dict[str, Any], ctx: ListenerContext, client: AsyncWebClient
) -> None:
    """The form, pre-filled; the answer will land in the message's thread."""
    message = shortcut.get("message") or {}
    tr = await ctx.translator(tenant, shortcut["user"]["id"])
    metadata = {
        "channel_id": (shortcut.get("channel") or {}).get("id"),
        "thread_ts": message.get("thread_ts") or message.get("ts"),
        "response_url": shortcut.get("response_url"),
    }
    phone = first_phone(message.get("text") or "", ctx.settings.default_region)
    ctx.open_modal(client, shortcut["trigger_id"], tr, metadata, phone=phone)
