"""The request form's submission: field errors next to the fields, or the same request as the command."""

from __future__ import annotations

import json
import logging
import math
import time
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from bot.domain import BudgetSpent, OpenRequestExists
from bot.listeners.authorize import tenant_of
from bot.listeners.context import ListenerContext, problem_text
from bot.services.validation import ValidInput, from_fields
from bot.slack.messages import (
    CHANNEL_ACTION,
    CHANNEL_BLOCK,
    MODAL_CALLBACK_ID,
    PHONE_ACTION,
    PHONE_BLOCK,
    REASON_ACTION,
    REASON_BLOCK,
)
from bot.store import StoreError

log = logging.getLogger(__name__)


def register(app: AsyncApp, ctx: ListenerContext) -> None:
    async def submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], context: AsyncBoltContext) -> None:
        await handle_submission(ack, body, view, ctx, context)

    app.view(MODAL_CALLBACK_ID)(submitted)


def _state(view: dict[str, Any], block: str, action: str) -> dict[str, Any]:
    return (view.get("state", {}).get("values", {}).get(block, {}).get(action)) or {}


def _destination(body: dict[str, Any], view: dict[str, Any], metadata: dict[str, Any]) -> tuple[str, str | None]:
    """(channel, response_url): from the command's metadata, or from the picker of a global shortcut."""
    channel = metadata.get("channel_id") or _state(view, CHANNEL_BLOCK, CHANNEL_ACTION).get("selected_conversation")
    response_url = metadata.get("response_url")
    for entry in body.get("response_urls") or []:
        response_url = response_url or entry.get("response_url")
    return channel or body["user"]["id"], response_url


async def handle_submission(
    ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], ctx: ListenerContext, context: AsyncBoltContext
) -> None:
    tenant, user_id = tenant_of(context), body["user"]["id"]
    tr = await ctx.translator(tenant, user_id)
    phone = _state(view, PHONE_BLOCK, PHONE_ACTION).get("value") or ""
    reason = _state(view, REASON_BLOCK, REASON_ACTION).get("value") or ""
    parsed = from_fields(phone, reason, ctx.settings.default_region)
    if not isinstance(parsed, ValidInput):
        errors = {(PHONE_BLOCK if p.field == "phone" else REASON_BLOCK): problem_text(tr, p) for p in parsed}
        await ack(response_action="errors", errors=errors)
        return
    metadata = json.loads(view.get("private_metadata") or "{}")
    channel_id, response_url = _destination(body, view, metadata)
    try:
        await ctx.requests.submit(
            tenant,
            source_key=f"view:{view['id']}",
            team_id=(body.get("team") or {}).get("id"),
            channel_id=channel_id,
            user_id=user_id,
            phone_e164=parsed.phone_e164,
            reason=parsed.reason,
            lang=tr.lang,
            response_url=response_url,
            thread_ts=metadata.get("thread_ts"),
            number_name=await ctx.number_name(tenant, channel_id),
        )
    except OpenRequestExists:
        await ack(response_action="errors", errors={PHONE_BLOCK: tr.t("precheck.open_elsewhere_short")})
        return
    except BudgetSpent as spent:
        # A form error is plain text (no Slack date): say it in minutes.
        minutes = max(math.ceil((spent.refills_at - time.time()) / 60), 1)
        await ack(response_action="errors", errors={PHONE_BLOCK: tr.t("budget.spent_short", minutes=minutes)})
        return
    except StoreError as error:
        log.warning("could not store a request from the form (%s); the rep was asked to try again", error)
        await ack(response_action="errors", errors={PHONE_BLOCK: tr.t("error.unavailable")})
        return
    except Exception:
        log.exception("could not store a request from the modal")
        await ack(response_action="errors", errors={PHONE_BLOCK: tr.t("error.internal")})
        return
    await ack()
