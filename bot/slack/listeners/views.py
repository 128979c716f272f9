"""The request modal's submission: field errors next to the fields, or the same request as the command."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.services.validation import ValidInput, from_fields
from bot.slack.listeners.context import ListenerContext, problem_text
from bot.slack.messages import MODAL_CALLBACK_ID, PHONE_ACTION, PHONE_BLOCK, REASON_ACTION, REASON_BLOCK

log = logging.getLogger(__name__)


def register(app: AsyncApp, ctx: ListenerContext) -> None:
    async def submitted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        await handle_submission(ack, body, view, ctx)

    app.view(MODAL_CALLBACK_ID)(submitted)


def _value(view: dict[str, Any], block: str, action: str) -> str:
    state = view.get("state", {}).get("values", {})
    return (state.get(block, {}).get(action, {}) or {}).get("value") or ""


async def handle_submission(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], ctx: ListenerContext) -> None:
    tr = ctx.translator()
    parsed = from_fields(
        _value(view, PHONE_BLOCK, PHONE_ACTION), _value(view, REASON_BLOCK, REASON_ACTION), ctx.settings.default_region
    )
    if not isinstance(parsed, ValidInput):
        errors = {(PHONE_BLOCK if p.field == "phone" else REASON_BLOCK): problem_text(tr, p) for p in parsed}
        await ack(response_action="errors", errors=errors)
        return
    metadata = json.loads(view.get("private_metadata") or "{}")
    user_id = body["user"]["id"]
    try:
        await ctx.requests.submit(
            source_key=f"view:{view['id']}",
            team_id=(body.get("team") or {}).get("id"),
            channel_id=metadata.get("channel_id") or user_id,
            user_id=user_id,
            phone_e164=parsed.phone_e164,
            reason=parsed.reason,
            lang=tr.lang,
            response_url=metadata.get("response_url"),
        )
    except Exception:
        log.exception("could not store a request from the modal")
        await ack(response_action="errors", errors={PHONE_BLOCK: tr.t("error.internal")})
        return
    await ack()
