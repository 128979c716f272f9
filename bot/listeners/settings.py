"""App Home's Settings section: its buttons and modals (connect Pilot Status, paste the webhook secret).

Every action and submission asks again, on the server, whether the user is an admin of that workspace
(`SettingsService.is_admin`): a forged one from anyone else changes nothing. The connect submission is answered in
the modal: the reason under the key field when Pilot Status refuses it (nothing saved), else the next step
(paste the webhook secret, with where to find it).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from bot.listeners.authorize import tenant_of
from bot.listeners.common import publish_home
from bot.listeners.context import ListenerContext
from bot.services.connect import Connected
from bot.slack.settings import (
    CONNECT_ACTION,
    CONNECT_VIEW,
    KEY_BLOCK,
    KEY_INPUT,
    SECRET_ACTION,
    SECRET_BLOCK,
    SECRET_INPUT,
    SECRET_VIEW,
    connect_modal,
    secret_modal,
)

log = logging.getLogger(__name__)


def _typed(body: dict[str, Any], block: str, action: str) -> str:
    values = ((body.get("view") or {}).get("state") or {}).get("values") or {}
    value = (values.get(block) or {}).get(action) or {}
    return str(value.get("value") or "")


def _number_of(body: dict[str, Any]) -> str:
    """The number the secret modal is for (its metadata is JSON: bot.listeners.inbound checked it)."""
    metadata = json.loads((body.get("view") or {}).get("private_metadata") or "{}")
    return str(metadata.get("number") or "")[:50] if isinstance(metadata, dict) else ""


def register(app: AsyncApp, ctx: ListenerContext) -> None:
    async def open_connect(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        await ack()
        tenant, user_id = tenant_of(context), body["user"]["id"]
        if ctx.admin.connect is None or not await ctx.admin.is_admin(tenant, user_id):
            log.warning("refused a settings action from %s: not an admin", user_id)
            return
        tr = await ctx.translator(tenant, user_id)
        await context.client.views_open(trigger_id=body["trigger_id"], view=connect_modal(tr))

    async def open_secret(
        ack: AsyncAck, action: dict[str, Any], body: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        await ack()
        tenant, user_id = tenant_of(context), body["user"]["id"]
        if ctx.admin.connect is None or not await ctx.admin.is_admin(tenant, user_id):
            log.warning("refused a settings action from %s: not an admin", user_id)
            return
        tr = await ctx.translator(tenant, user_id)
        name = str(action.get("value") or "")[:50]
        url = await ctx.admin.webhook_url_of(tenant, name)
        await context.client.views_open(trigger_id=body["trigger_id"], view=secret_modal(tr, name, url))

    async def connect_submitted(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        tenant, user_id = tenant_of(context), body["user"]["id"]
        tr = await ctx.translator(tenant, user_id)
        connect = ctx.admin.connect
        if connect is None or not await ctx.admin.is_admin(tenant, user_id):
            log.warning("refused a settings submission from %s: not an admin", user_id)
            await ack(response_action="errors", errors={KEY_BLOCK: tr.t("settings.admins_only")})
            return
        result = await connect.connect(tenant, _typed(body, KEY_BLOCK, KEY_INPUT))
        if not isinstance(result, Connected):
            await ack(response_action="errors", errors={KEY_BLOCK: tr.t(result.reason)})
            return
        await ack(response_action="update", view=secret_modal(tr, result.number.name, result.webhook_url))
        ctx.tasks.spawn(publish_home(tenant, user_id, ctx, context.client), name="publish-home")

    async def secret_submitted(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        tenant, user_id = tenant_of(context), body["user"]["id"]
        tr = await ctx.translator(tenant, user_id)
        connect = ctx.admin.connect
        if connect is None or not await ctx.admin.is_admin(tenant, user_id):
            log.warning("refused a settings submission from %s: not an admin", user_id)
            await ack(response_action="errors", errors={SECRET_BLOCK: tr.t("settings.admins_only")})
            return
        name = _number_of(body)
        refused = await connect.set_secret(tenant, _typed(body, SECRET_BLOCK, SECRET_INPUT), name=name)
        if refused is not None:
            await ack(response_action="errors", errors={SECRET_BLOCK: tr.t(refused.reason)})
            return
        await ack()
        ctx.tasks.spawn(publish_home(tenant, user_id, ctx, context.client), name="publish-home")

    app.action(CONNECT_ACTION)(open_connect)
    app.action(SECRET_ACTION)(open_secret)
    app.view(CONNECT_VIEW)(connect_submitted)
    app.view(SECRET_VIEW)(secret_submitted)
