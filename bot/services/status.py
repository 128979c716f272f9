"""What Pilot Status says about a customer right now: for `/askcall status` and "Check status"."""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace

from bot.domain import STATUS_CHECK_INTERVAL, DeliveryKind, Request, RequestState, TenantId
from bot.i18n import Translator
from bot.phones import display_phone
from bot.pilot_status.client import CallPermission
from bot.pilot_status.errors import PilotStatusError
from bot.services.deps import Service
from bot.services.outcomes import granted, outcome_effects
from bot.slack import messages
from bot.store import NewDelivery

log = logging.getLogger(__name__)

SEND_REQUEST = "send_call_permission_request"


def permission_text(permission: CallPermission, tr: Translator) -> str:
    if permission.status == "permanent":
        return tr.t("permission.permanent")
    if permission.status == "temporary" and permission.expiration_time:
        return tr.t("permission.temporary", until=messages.slack_date(permission.expiration_time))
    return tr.t("permission.none")


class StatusService(Service):
    async def describe(self, tenant: TenantId, phone_e164: str, number_name: str, tr: Translator) -> str:
        """The `/askcall status` answer: permission and quota left, without sending anything, through the
        tenant's own number (another workspace's numbers are never asked).

        Only the asking rep sees it (ephemeral), so the full number is shown."""
        try:
            pilot = await self._pilots.get(tenant, number_name)
            permission = await pilot.get_permission(phone_e164)
        except PilotStatusError as error:
            return tr.t("status.unavailable", detail=error.label)
        action = permission.actions.get(SEND_REQUEST)
        limits = {limit.time_period: limit for limit in action.limits} if action else {}
        day, week = limits.get("PT24H"), limits.get("P7D")
        text = tr.t(
            "status.report",
            phone=display_phone(phone_e164, full=True),
            permission=permission_text(permission, tr),
            left_day=max(day.max_allowed - day.current_usage, 0) if day else "?",
            max_day=day.max_allowed if day else 1,
            left_week=max(week.max_allowed - week.current_usage, 0) if week else "?",
            max_week=week.max_allowed if week else 2,
        )
        if action is not None and not action.can_perform:
            when = action.limit_expiration_time
            text += "\n" + (
                tr.t("status.next_possible", when=messages.slack_date(when)) if when else tr.t("status.cannot_request")
            )
        return text

    async def claim_check(self, request: Request) -> tuple[bool, str | None]:
        """Whether this click may probe Pilot Status now (at most once per request every
        STATUS_CHECK_INTERVAL seconds, across replicas), and the last probe's result otherwise."""
        return await self._store.claim_status_check(request.tenant, request.id, self._clock(), STATUS_CHECK_INTERVAL)

    async def check_request(self, tenant: TenantId, request_id: int) -> None:
        """The "Check status" button (once claimed): probe, and show what was found on the status message.

        If the customer granted while the webhook never reached AskCall, this is where the request
        learns it: it is settled exactly as if the answer had arrived.
        """
        request = await self._store.get_request(tenant, request_id)
        if request is None or not request.parent_ts:
            return
        tr = Translator(request.lang)
        try:
            pilot = await self._pilots.get(request.tenant, request.number_name)
            permission = await pilot.get_permission(request.phone_e164)
        except PilotStatusError as error:
            checked = tr.t("status.unavailable", detail=error.label)
            await self._store.record_status_check(tenant, request.id, checked)
        else:
            checked = tr.t(
                "status.checked",
                when=messages.slack_date(self._clock()),
                permission=permission_text(permission, tr),
            )
            await self._store.record_status_check(tenant, request.id, checked)
            if await self._settle_missed_answer(request, permission, tr):
                return
        update = NewDelivery(
            f"req{request.id}:check:{uuid.uuid4().hex}", DeliveryKind.UPDATE, messages.parent_update(request, checked)
        )
        await self._store.add_deliveries(tenant, request.id, [update])
        self._wake_notifier()

    async def _settle_missed_answer(self, request: Request, permission: CallPermission, tr: Translator) -> bool:
        grant = granted(permission)
        if request.state not in (RequestState.WAITING, RequestState.UNCONFIRMED) or grant is None:
            return False
        outcome, expires_at = grant
        now = self._clock()
        preview = replace(request, outcome=outcome, expires_at=expires_at)
        dm, _, _ = await self._store.user_prefs(request.tenant, request.user_id)
        _, effects = outcome_effects(
            request,
            outcome=outcome,
            expires_at=expires_at,
            answered_at=now,
            text=messages.answer_text(preview, tr),
            key=f"req{request.id}:checked-answer",
            now=now,
            dm=dm,
            workspace=self._workspace,
        )
        if await self._store.transition(
            request.tenant, request.id, [RequestState.WAITING, RequestState.UNCONFIRMED], RequestState.ANSWERED, effects
        ):
            log.info("request %d: found granted on a status check", request.id)
            self._wake_notifier()
            if effects.reminders:
                self._wake_reminders()
        return True
