"""App Home's Settings section: its buttons and modals (connect Pilot Status, paste the webhook secret, which
channels use which number, the workspace's own settings).

Every action and submission asks again, on the server, whether the user is an admin of that workspace
(`SettingsService.is_admin`): a forged one from anyone else changes nothing. In single-workspace mode the
environment holds the settings: no modal opens and every submission is refused. A submission is answered in the
modal: the reason under the field it is about (nothing saved), else the next step. Connecting asks Pilot Status,
which may take longer than Slack's 3 s: the submission is acked at once with a "checking…" view, and the outcome
(the paste-the-secret step, or the connect form again with why) replaces it through `views.update`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import DEFAULT_NUMBER
from bot.domain import TenantId
from bot.i18n import Translator
from bot.listeners.authorize import tenant_of
from bot.listeners.common import publish_home
from bot.listeners.context import ListenerContext
from bot.services.connect import MAX_KEY_LENGTH, Connected, Refused, well_formed
from bot.services.settings import Problem, WorkspaceForm, valid_number_name
from bot.slack.settings import (
    BUDGET_BLOCK,
    CHANNELS_BLOCK,
    CONNECT_ACTION,
    CONNECT_VIEW,
    CONTACT_BLOCK,
    GROUPS_BLOCK,
    KEY_BLOCK,
    KEY_INPUT,
    LANGUAGE_BLOCK,
    NAME_BLOCK,
    NAME_INPUT,
    NUMBER_BLOCK_PREFIX,
    NUMBER_INPUT,
    NUMBERS_ACTION,
    NUMBERS_VIEW,
    RETENTION_BLOCK,
    SECRET_ACTION,
    SECRET_BLOCK,
    SECRET_INPUT,
    SECRET_VIEW,
    USERS_BLOCK,
    WORKSPACE_ACTION,
    WORKSPACE_VIEW,
    checking_modal,
    connect_modal,
    numbers_modal,
    secret_modal,
    submitted,
    submitted_ids,
    submitted_text,
    workspace_modal,
)

log = logging.getLogger(__name__)

Listener = Callable[..., Awaitable[None]]

# The workspace modal's fields (SettingsService.save_workspace's problem keys) and their blocks.
FIELD_BLOCKS = {
    "language": LANGUAGE_BLOCK,
    "budget": BUDGET_BLOCK,
    "retention": RETENTION_BLOCK,
    "channels": CHANNELS_BLOCK,
    "users": USERS_BLOCK,
    "groups": GROUPS_BLOCK,
    "contact": CONTACT_BLOCK,
}


def _number_of(body: dict[str, Any]) -> str:
    """The number the secret modal is for (its metadata is JSON: bot.listeners.inbound checked it)."""
    metadata = json.loads((body.get("view") or {}).get("private_metadata") or "{}")
    return str(metadata.get("number") or "")[:50] if isinstance(metadata, dict) else ""


def workspace_form(body: dict[str, Any]) -> WorkspaceForm:
    language = submitted(body, LANGUAGE_BLOCK).get("selected_option") or {}
    return WorkspaceForm(
        language=str(language.get("value") or "") if isinstance(language, dict) else "",
        budget=submitted_text(body, BUDGET_BLOCK),
        retention=submitted_text(body, RETENTION_BLOCK),
        channels=submitted_ids(body, CHANNELS_BLOCK, "selected_conversations"),
        users=submitted_ids(body, USERS_BLOCK, "selected_users"),
        groups=submitted_text(body, GROUPS_BLOCK),
        contact=submitted_text(body, CONTACT_BLOCK),
    )


def numbers_form(body: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    values: Any = body
    for key in ("view", "state", "values"):
        values = values.get(key) if isinstance(values, dict) else None
    if not isinstance(values, dict):
        return {}
    return {
        block[len(NUMBER_BLOCK_PREFIX) :]: submitted_ids(body, block, "selected_conversations", NUMBER_INPUT)
        for block in values
        if isinstance(block, str) and block.startswith(NUMBER_BLOCK_PREFIX)
    }


def register(app: AsyncApp, ctx: ListenerContext) -> None:
    async def may_edit(tenant: TenantId, user_id: str) -> bool:
        if ctx.admin.editable and await ctx.admin.is_admin(tenant, user_id):
            return True
        log.warning("refused a settings action from %s: not an admin, or settings come from the environment", user_id)
        return False

    def opener(build: Callable[[TenantId, str, Translator], Awaitable[dict[str, Any]]]) -> Listener:
        """A button that opens a modal (`build(tenant, button value, translator)`), for admins only."""

        async def open_modal(
            ack: AsyncAck, action: dict[str, Any], body: dict[str, Any], context: AsyncBoltContext
        ) -> None:
            await ack()
            tenant, user_id = tenant_of(context), body["user"]["id"]
            if not await may_edit(tenant, user_id):
                return
            tr = await ctx.translator(tenant, user_id)
            view = await build(tenant, str(action.get("value") or "")[:50], tr)
            await context.client.views_open(trigger_id=body["trigger_id"], view=view)

        return open_modal

    async def connect_view(tenant: TenantId, value: str, tr: Translator) -> dict[str, Any]:
        return connect_modal(tr)

    async def secret_view(tenant: TenantId, name: str, tr: Translator) -> dict[str, Any]:
        return secret_modal(tr, name, await ctx.admin.webhook_url_of(tenant, name))

    async def numbers_view(tenant: TenantId, value: str, tr: Translator) -> dict[str, Any]:
        return numbers_modal(tr, await ctx.admin.numbers_shown(tenant))

    async def workspace_view(tenant: TenantId, value: str, tr: Translator) -> dict[str, Any]:
        return workspace_modal(tr, await ctx.configs.config_of(tenant))

    async def connect_submitted(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        tenant, user_id = tenant_of(context), body["user"]["id"]
        tr = await ctx.translator(tenant, user_id)
        if not await may_edit(tenant, user_id):
            await ack(response_action="errors", errors={KEY_BLOCK: tr.t("settings.admins_only")})
            return
        key = submitted_text(body, KEY_BLOCK, KEY_INPUT).strip()
        name = submitted_text(body, NAME_BLOCK, NAME_INPUT).strip() or DEFAULT_NUMBER
        # What needs no network is answered under its field at once; Pilot Status is asked after the ack.
        if not well_formed(key, MAX_KEY_LENGTH):
            await ack(response_action="errors", errors={KEY_BLOCK: tr.t("connect.key_malformed")})
            return
        if not valid_number_name(name):
            await ack(response_action="errors", errors={NAME_BLOCK: tr.t("settings.name_malformed")})
            return
        await ack(response_action="update", view=checking_modal(tr))
        view_id = str((body.get("view") or {}).get("id") or "")
        ctx.tasks.spawn(finish_connect(tenant, user_id, key, name, view_id, tr, context.client), name="connect")

    async def finish_connect(
        tenant: TenantId, user_id: str, key: str, name: str, view_id: str, tr: Translator, client: AsyncWebClient
    ) -> None:
        connect = ctx.admin.connect
        if connect is None:
            return
        try:
            result: Connected | Refused = await connect.connect(tenant, key, name=name)
        except Exception as error:  # the store failed, say: the admin is told, not left with "checking…"
            log.warning("connecting Pilot Status failed (%s)", type(error).__name__)
            result = Refused("connect.error")
        if isinstance(result, Connected):
            view = secret_modal(tr, result.number.name, result.webhook_url)
        else:
            view = connect_modal(tr, problem=tr.t(result.reason))
        try:
            await client.views_update(view_id=view_id, view=view)
        except SlackApiError as error:  # closed meanwhile: App Home still tells what happened
            log.info("could not show the connect outcome (%s)", error.response.get("error"))
        if isinstance(result, Connected):
            await publish_home(tenant, user_id, ctx, client)

    async def secret_submitted(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        tenant, user_id = tenant_of(context), body["user"]["id"]
        tr = await ctx.translator(tenant, user_id)
        connect = ctx.admin.connect
        if connect is None or not await may_edit(tenant, user_id):
            await ack(response_action="errors", errors={SECRET_BLOCK: tr.t("settings.admins_only")})
            return
        name = _number_of(body)
        refused = await connect.set_secret(tenant, submitted_text(body, SECRET_BLOCK, SECRET_INPUT), name=name)
        if refused is not None:
            await ack(response_action="errors", errors={SECRET_BLOCK: tr.t(refused.reason)})
            return
        await ack()
        ctx.tasks.spawn(publish_home(tenant, user_id, ctx, context.client), name="publish-home")

    async def save_answered(
        ack: AsyncAck,
        body: dict[str, Any],
        context: AsyncBoltContext,
        refused_block: str,
        save: Callable[[TenantId], Awaitable[dict[str, Problem]]],
    ) -> None:
        """Save what a settings modal submitted (admins only): each problem under its block (nothing saved), else
        the modal closes and App Home shows the new settings."""
        tenant, user_id = tenant_of(context), body["user"]["id"]
        tr = await ctx.translator(tenant, user_id)
        if not await may_edit(tenant, user_id):
            await ack(response_action="errors", errors={refused_block: tr.t("settings.admins_only")})
            return
        problems = await save(tenant)
        if problems:
            await ack(response_action="errors", errors={block: p.text(tr) for block, p in problems.items()})
            return
        await ack()
        ctx.tasks.spawn(publish_home(tenant, user_id, ctx, context.client), name="publish-home")

    async def numbers_submitted(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        form = numbers_form(body)

        async def save(tenant: TenantId) -> dict[str, Problem]:
            problems = await ctx.admin.save_channels(tenant, form)
            return {NUMBER_BLOCK_PREFIX + name: problem for name, problem in problems.items()}

        await save_answered(ack, body, context, NUMBER_BLOCK_PREFIX + next(iter(form), DEFAULT_NUMBER), save)

    async def workspace_submitted(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        async def save(tenant: TenantId) -> dict[str, Problem]:
            problems = await ctx.admin.save_workspace(tenant, workspace_form(body))
            return {FIELD_BLOCKS[name]: problem for name, problem in problems.items()}

        await save_answered(ack, body, context, LANGUAGE_BLOCK, save)

    app.action(CONNECT_ACTION)(opener(connect_view))
    app.action(SECRET_ACTION)(opener(secret_view))
    app.action(NUMBERS_ACTION)(opener(numbers_view))
    app.action(WORKSPACE_ACTION)(opener(workspace_view))
    app.view(CONNECT_VIEW)(connect_submitted)
    app.view(SECRET_VIEW)(secret_submitted)
    app.view(NUMBERS_VIEW)(numbers_submitted)
    app.view(WORKSPACE_VIEW)(workspace_submitted)
