"""What several listeners share: the request a button click names, private notes to the clicker, the texts
that refuse a request, and publishing App Home. The listener modules import each other's code only from
here and from `context` (the import contract in pyproject.toml holds them to it).

Invariant: a button acts only on the request whose own message carries it (same channel, same
message); a click from anywhere else changes nothing and the clicker is told so, privately.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain import BudgetSpent, OpenRequestExists, Request, TenantId
from bot.i18n import Translator
from bot.listeners.context import ListenerContext
from bot.phones import display_phone
from bot.slack.messages import slack_date

log = logging.getLogger(__name__)


async def ephemeral(respond: AsyncRespond, body: dict[str, Any], text: str) -> None:
    """A note only the clicker sees, when Slack gave a way to answer (a response_url)."""
    if body.get("response_url"):
        try:
            await respond(text=text, response_type="ephemeral", replace_original=False)
        except Exception as error:  # Slack's response_url unreachable or expired: the note is lost, nothing else
            log.warning("could not answer a button click (%s)", type(error).__name__)


async def button_request(
    tenant: TenantId,
    action: dict[str, Any],
    body: dict[str, Any],
    respond: AsyncRespond,
    ctx: ListenerContext,
    *,
    replies: bool = False,
) -> Request | None:
    """The tenant's request a button names, if the click came from that request's status message (or, with
    `replies`, from one of AskCall's replies about it); otherwise the clicker is told, and None. A request id
    of another workspace is never found: the store reads only the clicking workspace's rows."""
    value = str(action.get("value") or "")
    channel_id = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
    message_ts = (body.get("container") or {}).get("message_ts") or (body.get("message") or {}).get("ts")
    request = (
        await ctx.requests.on_its_message(tenant, int(value), channel_id, message_ts, replies=replies)
        if value.isdigit() and len(value) < 19
        else None
    )
    if request is None:
        tr = await ctx.translator(tenant, (body.get("user") or {}).get("id"))
        await ephemeral(respond, body, tr.t("button.misplaced"))
    return request


def open_elsewhere_text(exists: OpenRequestExists, tr: Translator, ctx: ListenerContext) -> str:
    other = exists.request
    return tr.t(
        "precheck.open_elsewhere",
        phone=display_phone(other.phone_e164, full=True),  # ephemeral, to a rep who typed it
        user=other.user_id,
        when=slack_date(other.created_at),
        link=ctx.requests.link_to(other),
    )


def budget_text(spent: BudgetSpent, tr: Translator) -> str:
    return tr.t("budget.spent", limit=spent.limit, when=slack_date(spent.refills_at))


async def publish_home(tenant: TenantId, user_id: str, ctx: ListenerContext, client: AsyncWebClient) -> None:
    lang = await ctx.languages.language_for(tenant, user_id)
    view = await ctx.home.view_for(tenant, user_id, lang)
    # Workspace admins also see the Settings section (room for it is kept: bot.slack.home.MAX_CALLED_ITEMS).
    view["blocks"] = view["blocks"] + await ctx.admin.section(tenant, user_id, Translator(lang))
    await client.views_publish(user_id=user_id, view=view)
