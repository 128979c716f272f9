"""`/askcall`: help, the modal, or a request straight from the command text."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.i18n import Translator
from bot.services.validation import ValidInput, from_command_text
from bot.slack.listeners.context import ListenerContext, problem_text
from bot.slack.messages import request_modal, unescape_slack

log = logging.getLogger(__name__)

HELP_WORDS = frozenset({"help", "ajuda", "?", "-h", "--help"})


def register(app: AsyncApp, ctx: ListenerContext) -> None:
    async def askcall(ack: AsyncAck, command: dict[str, Any]) -> None:
        await handle_askcall(ack, command, ctx)

    app.command("/askcall")(askcall)


async def handle_askcall(ack: AsyncAck, command: dict[str, Any], ctx: ListenerContext) -> None:
    tr = ctx.translator()
    text = unescape_slack(command.get("text") or "").strip()
    if not text:
        await ack()
        metadata = {"channel_id": command.get("channel_id"), "response_url": command.get("response_url")}
        ctx.tasks.spawn(_open_modal(ctx, command["trigger_id"], tr, metadata), name="open-modal")
        return
    if text.lower() in HELP_WORDS:
        await ack(text=tr.t("help"), response_type="ephemeral")
        return
    parsed = from_command_text(text, ctx.settings.default_region)
    if not isinstance(parsed, ValidInput):
        lines = [problem_text(tr, p) for p in parsed] + [tr.t("example")]
        await ack(text="\n".join(lines), response_type="ephemeral")
        return
    try:
        await ctx.requests.submit(
            source_key=f"cmd:{command['trigger_id']}" if command.get("trigger_id") else None,
            team_id=command.get("team_id"),
            channel_id=command["channel_id"],
            user_id=command["user_id"],
            phone_e164=parsed.phone_e164,
            reason=parsed.reason,
            lang=tr.lang,
            response_url=command.get("response_url"),
        )
    except Exception:
        log.exception("could not store a request")
        await ack(text=tr.t("error.internal"), response_type="ephemeral")
        return
    await ack()


async def _open_modal(ctx: ListenerContext, trigger_id: str, tr: Translator, metadata: dict[str, Any]) -> None:
    # After the ack, but well within the trigger's 3 s lifetime.
    view = request_modal(tr, private_metadata=metadata)
    if len(json.dumps(metadata)) > 3000:
        view = request_modal(tr, private_metadata={"channel_id": metadata.get("channel_id")})
    await ctx.client.views_open(trigger_id=trigger_id, view=view)
