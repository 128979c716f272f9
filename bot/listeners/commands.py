"""`/askcall`: help, status, the modal, or a request straight from the command text."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncRespond

from bot.domain import BudgetSpent, OpenRequestExists, TenantId
from bot.i18n import Translator
from bot.listeners.authorize import tenant_of
from bot.listeners.common import budget_text, open_elsewhere_text
from bot.listeners.context import ListenerContext, problem_text
from bot.phones import strip_invisible
from bot.services.validation import ValidInput, from_command_text
from bot.slack.messages import unescape_slack
from bot.store import StoreError

log = logging.getLogger(__name__)

COMMAND = "/askcall"
HELP_WORDS = frozenset({"help", "ajuda", "?", "-h", "--help"})
STATUS_WORDS = frozenset({"status", "consultar"})


def register(app: AsyncApp, ctx: ListenerContext) -> None:
    async def askcall(ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond, context: AsyncBoltContext) -> None:
        await handle_askcall(ack, command, respond, ctx, context)

    app.command(COMMAND)(askcall)


async def handle_askcall(
    ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond, ctx: ListenerContext, context: AsyncBoltContext
) -> None:
    tenant = tenant_of(context)
    tr = await ctx.translator(tenant, command.get("user_id"))
    text = strip_invisible(unescape_slack(command.get("text") or "")).strip()
    if not text:
        await ack()
        metadata = {"channel_id": command.get("channel_id"), "response_url": command.get("response_url")}
        ctx.open_modal(context.client, command["trigger_id"], tr, metadata)
        return
    first_word, _, rest = text.partition(" ")
    if first_word.lower() in HELP_WORDS:
        await ack(text=tr.t("help"), response_type="ephemeral")
        return
    if first_word.lower() in STATUS_WORDS:
        await _status(tenant, ack, respond, rest, tr, ctx, await ctx.number_name(tenant, command.get("channel_id")))
        return
    parsed = from_command_text(text, ctx.settings.default_region)
    if not isinstance(parsed, ValidInput):
        lines = [problem_text(tr, p) for p in parsed] + [tr.t("example")]
        await ack(text="\n".join(lines), response_type="ephemeral")
        return
    try:
        await ctx.requests.submit(
            tenant,
            source_key=f"cmd:{command['trigger_id']}" if command.get("trigger_id") else None,
            team_id=command.get("team_id"),
            channel_id=command["channel_id"],
            user_id=command["user_id"],
            phone_e164=parsed.phone_e164,
            reason=parsed.reason,
            lang=tr.lang,
            response_url=command.get("response_url"),
            number_name=await ctx.number_name(tenant, command.get("channel_id")),
        )
    except OpenRequestExists as exists:
        await ack(text=open_elsewhere_text(exists, tr, ctx), response_type="ephemeral")
        return
    except BudgetSpent as spent:
        await ack(text=budget_text(spent, tr), response_type="ephemeral")
        return
    except StoreError as error:
        log.warning("could not store a request (%s); the rep was asked to try again", error)
        await ack(text=tr.t("error.unavailable"), response_type="ephemeral")
        return
    except Exception:
        log.exception("could not store a request")
        await ack(text=tr.t("error.internal"), response_type="ephemeral")
        return
    await ack()


async def _status(
    tenant: TenantId,
    ack: AsyncAck,
    respond: AsyncRespond,
    text: str,
    tr: Translator,
    ctx: ListenerContext,
    number_name: str,
) -> None:
    parsed = from_command_text(text, ctx.settings.default_region)
    if not isinstance(parsed, ValidInput):
        lines = [problem_text(tr, p) for p in parsed if p.field == "phone"] + [tr.t("status.usage")]
        await ack(text="\n".join(lines), response_type="ephemeral")
        return
    await ack()

    async def report() -> None:
        await respond(
            text=await ctx.status.describe(tenant, parsed.phone_e164, number_name, tr), response_type="ephemeral"
        )

    ctx.tasks.spawn(report(), name="status-report")
