"""Buttons on AskCall's status message, and the App Home toggle.

A status button acts only on the request whose status message carries it: the click's channel and
message must be the request's own (a forged or copied payload naming another request changes
nothing, probes nothing and sends nothing).
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncRespond

from bot.domain import BudgetSpent, OpenRequestExists, Request, TenantId
from bot.listeners.authorize import tenant_of
from bot.listeners.common import budget_text, button_request, ephemeral, open_elsewhere_text, publish_home
from bot.listeners.context import ListenerContext
from bot.services.requests import AskAgain
from bot.slack.home import DM_OPTION, DM_TOGGLE_ACTION
from bot.slack.messages import AGAIN_ACTION, CHECK_ACTION

log = logging.getLogger(__name__)


def register(app: AsyncApp, ctx: ListenerContext) -> None:
    async def check(
        ack: AsyncAck, action: dict[str, Any], body: dict[str, Any], respond: AsyncRespond, context: AsyncBoltContext
    ) -> None:
        await ack()
        await check_status(tenant_of(context), action, body, respond, ctx)

    async def again(
        ack: AsyncAck, action: dict[str, Any], body: dict[str, Any], respond: AsyncRespond, context: AsyncBoltContext
    ) -> None:
        await ack()
        request = await button_request(tenant_of(context), action, body, respond, ctx)
        if request is not None:
            await ask_again(request, body["user"]["id"], respond, ctx)

    async def toggle_dm(ack: AsyncAck, action: dict[str, Any], body: dict[str, Any], context: AsyncBoltContext) -> None:
        await ack()
        tenant, user_id = tenant_of(context), body["user"]["id"]
        enabled = any(option.get("value") == DM_OPTION for option in action.get("selected_options") or [])
        await ctx.home.set_dm_answers(tenant, user_id, enabled)
        await publish_home(tenant, user_id, ctx, context.client)

    app.action(CHECK_ACTION)(check)
    app.action(AGAIN_ACTION)(again)
    app.action(DM_TOGGLE_ACTION)(toggle_dm)


async def check_status(
    tenant: TenantId, action: dict[str, Any], body: dict[str, Any], respond: AsyncRespond, ctx: ListenerContext
) -> None:
    """Dedupe Slack's retries of one click, then probe at most once per interval; later clicks get
    the last result."""
    request = await button_request(tenant, action, body, respond, ctx)
    if request is None or not await ctx.requests.claim_click(request, CHECK_ACTION, action.get("action_ts")):
        return
    probe, last = await ctx.status.claim_check(request)
    if probe:
        ctx.tasks.spawn(ctx.status.check_request(request.tenant, request.id), name="check-status")
    elif last:
        await ephemeral(respond, body, last)


async def ask_again(request: Request, user_id: str, respond: AsyncRespond, ctx: ListenerContext) -> None:
    tr = await ctx.translator(request.tenant, user_id)
    try:
        outcome = await ctx.requests.ask_again(request, user_id)
    except OpenRequestExists as exists:
        await respond(text=open_elsewhere_text(exists, tr, ctx), response_type="ephemeral", replace_original=False)
        return
    except BudgetSpent as spent:
        await respond(text=budget_text(spent, tr), response_type="ephemeral", replace_original=False)
        return
    if outcome is AskAgain.NOT_YOURS:
        await respond(
            text=tr.t("again.not_yours", user=request.user_id), response_type="ephemeral", replace_original=False
        )
    elif outcome is AskAgain.NOT_NOW:
        await respond(text=tr.t("again.not_now"), response_type="ephemeral", replace_original=False)
