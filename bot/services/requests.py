"""The life of a request: stored → parent posted → pre-checked → sent to Pilot Status → waiting.

Each step is a state transition in the store, guarded by the state it starts from, so steps are
idempotent and start-up recovery can replay whatever a crash interrupted.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from enum import Enum

from bot.domain import (
    DEFAULT_NUMBER,
    BudgetSpent,
    DeliveryKind,
    DeliveryState,
    OpenRequestExists,
    Outcome,
    PhoneDisplay,
    Request,
    RequestState,
    TenantId,
)
from bot.i18n import Translator
from bot.leases import REQUESTS, until_recorded
from bot.phones import log_phone
from bot.pilot_status.client import CallPermission
from bot.pilot_status.errors import (
    AuthenticationError,
    FeatureNotSupportedError,
    OutsideWindowError,
    PilotStatusError,
    RequestLimitError,
    TenantScopeError,
    UnconfirmedError,
)
from bot.services.deps import Service, ServiceDeps
from bot.services.outcomes import granted, outcome_effects
from bot.slack import messages
from bot.slack.gateway import DeliveryError
from bot.store import Effects, NewDelivery, NewRequest
from bot.tasks import Tasks
from bot.tenant_config import TenantConfigs

log = logging.getLogger(__name__)
# The action of `GET /v1/calls/permissions` that says whether a permission request may be sent (and counts them).
REQUEST_ACTION = "send_call_permission_request"


class RequestService(Service):
    def __init__(
        self,
        deps: ServiceDeps,
        tasks: Tasks,
        *,
        phone_display: str = "masked",
        max_per_rep_per_hour: int = 0,
        configs: TenantConfigs | None = None,
        on_refused: Callable[[str], None] = lambda reason: None,
    ) -> None:
        super().__init__(deps)
        self._tasks = tasks
        self._phone_display = PhoneDisplay(phone_display)
        self._max_per_rep_per_hour = max_per_rep_per_hour
        # Each workspace's own budget when given (its admins may set it); else `max_per_rep_per_hour` for all.
        self._configs = configs
        self._on_refused = on_refused

    async def submit(
        self,
        tenant: TenantId,
        *,
        source_key: str | None,
        team_id: str | None,
        channel_id: str,
        user_id: str,
        phone_e164: str,
        reason: str,
        lang: str,
        response_url: str | None,
        thread_ts: str | None = None,
        number_name: str = DEFAULT_NUMBER,
    ) -> tuple[int, bool]:
        """Persist the request with its parent message queued. Fast: this runs before Slack's ack.

        Returns (request id, whether this call created it: False when `source_key` had one already).
        Raises OpenRequestExists when the customer already has an open request (from any rep):
        a second one could only spend the customer's quota. Raises BudgetSpent when the rep made their
        workspace's budget of requests (ASKCALL_MAX_REQUESTS_PER_REP_PER_HOUR by default) in the last hour.
        """
        budget = (
            self._max_per_rep_per_hour
            if self._configs is None
            else (await self._configs.config_of(tenant)).max_per_rep_per_hour
        )
        new = NewRequest(
            tenant,
            channel_id=channel_id,
            user_id=user_id,
            phone_e164=phone_e164,
            reason=reason or Translator(lang).t("reason.default"),
            lang=lang,
            source_key=source_key,
            team_id=team_id,
            response_url=response_url,
            thread_ts=thread_ts,
            number_name=number_name,
            phone_display=self._phone_display,
        )
        draft = _draft(new)
        parent_key = f"{source_key or uuid.uuid4().hex}:parent"
        try:
            request_id, created = await self._store.create_request(
                new,
                lambda request_id: NewDelivery(
                    parent_key, DeliveryKind.PARENT, messages.parent_message(replace(draft, id=request_id))
                ),
                refuse_if_open=True,
                max_per_user_hour=budget,
            )
        except BudgetSpent as spent:
            log.warning("request by %s refused: %d requests in the last hour (the budget)", user_id, spent.limit)
            self._on_refused("budget")
            raise
        except OpenRequestExists as exists:
            log.info("request by %s refused: request %d is still open for this customer", user_id, exists.request.id)
            self._on_refused("open_request")
            raise
        if created:
            log.info("request %d stored (by %s)", request_id, user_id)
            self._wake_notifier()
        return request_id, created

    def link_to(self, request: Request) -> str:
        return self._workspace.permalink(request.tenant, request.channel_id, request.parent_ts, request.thread_ts)

    async def on_its_message(
        self,
        tenant: TenantId,
        request_id: int,
        channel_id: str | None,
        message_ts: str | None,
        *,
        replies: bool = False,
    ) -> Request | None:
        """The request a button names, if the click came from that request's own status message (same
        channel, same message), or with `replies` from one of AskCall's replies about it: a button can't
        act on a request elsewhere."""
        request = await self._store.get_request(tenant, request_id)
        if request is None or not request.parent_ts:
            return None
        if channel_id == request.channel_id and message_ts:
            if message_ts == request.parent_ts:
                return request
            if replies and await self._store.posted_for(tenant, request.id, message_ts):
                return request
        log.warning("a button for request %d came from another message; ignored", request_id)
        return None

    async def claim_click(self, request: Request, action_id: str, action_ts: str | None) -> bool:
        """True the first time this click is seen: Slack's retries of one click act once."""
        if not action_ts:
            return True
        return await self._store.claim_action(request.tenant, f"{action_id}:{request.id}:{action_ts[:40]}")

    async def ask_again(self, request: Request, user_id: str) -> AskAgain:
        """The "Ask again" button: a new request in the same thread, through the same pre-check.

        Once per status message: the new request's source key is the button's, so a double click, a
        retry or a replica racing this one finds it (in the same transaction as the create). A
        refusal (another open request, the rep's budget) stores nothing: the button still works later.
        """
        if request.user_id != user_id:
            return AskAgain.NOT_YOURS
        if not request.can_ask_again:
            return AskAgain.NOT_NOW
        request_id = request.id
        _, created = await self.submit(
            request.tenant,
            source_key=f"again:{request_id}",
            team_id=request.team_id,
            channel_id=request.channel_id,
            user_id=request.user_id,
            phone_e164=request.phone_e164,
            reason=request.reason,
            lang=request.lang,
            response_url=None,
            thread_ts=request.reply_thread,
            number_name=request.number_name,
        )
        return AskAgain.ASKED if created else AskAgain.NOT_NOW

    # --- notifier hooks -------------------------------------------------------------------
    async def parent_posted(self, tenant: TenantId, request_id: int, ts: str) -> None:
        request = await self._store.advance(tenant, request_id, [RequestState.NEW], RequestState.READY, parent_ts=ts)
        if request is not None:
            self._tasks.spawn(self.send(tenant, request_id), name=f"send-{request_id}")

    async def parent_failed(self, tenant: TenantId, request_id: int, error: DeliveryError) -> None:
        request = await self._store.get_request(tenant, request_id)
        if request is None:
            return
        tr = Translator(request.lang)
        if error.unverifiable:
            text = tr.t("error.unverifiable", channel=request.channel_id)
        elif error.unreachable:
            text = tr.t("error.channel_unreachable", channel=request.channel_id)
        else:
            text = tr.t("error.internal")
        notice = _notice_to_rep(request, text)
        if await self._store.transition(
            tenant,
            request_id,
            [RequestState.NEW],
            RequestState.UNDELIVERABLE,
            Effects(deliveries=[notice]),
            error_code=error.code,
        ):
            log.warning("request %d: could not post in the channel (%s); nothing sent", request_id, error.code)
            self._wake_notifier()

    # --- Pilot Status ---------------------------------------------------------------------
    async def send(self, tenant: TenantId, request_id: int) -> None:
        """Pre-check, then ask Pilot Status, under this process's lease on the request."""
        await self._tasks.yield_to_inbound()
        if await self._stopped(tenant):
            return  # its workspace left or was disabled: nothing goes to Pilot Status on its behalf
        request = await self._store.claim_request(tenant, request_id, RequestState.READY, time.time())
        if request is None:
            return  # moved on, or another live process is sending it
        with self._held.hold(REQUESTS, request_id):
            await self._send(request)

    async def _send(self, request: Request) -> None:
        request_id = request.id
        settled, before = await self._precheck(request)
        if settled:
            return
        await self._tasks.yield_to_inbound()
        if not await self._store.transition(request.tenant, request_id, [RequestState.READY], RequestState.SENDING):
            return
        try:
            pilot = await self._pilots.get(request.tenant, request.number_name)
            message_id = await pilot.request_permission(request.phone_e164, request.reason)
        except UnconfirmedError as error:
            log.warning("request %d: Pilot Status did not confirm (%s); never resent", request_id, error.label)
            await self._unconfirmed(request, before)
        except PilotStatusError as error:
            log.warning("request %d: Pilot Status refused (%s)", request_id, error.label)
            await self._failed(request, error)
        else:
            log.info("request %d sent to %s", request_id, log_phone(request.phone_e164))
            await self._tasks.yield_to_inbound()
            await until_recorded(
                lambda: self._sent(request.tenant, request_id, message_id), f"request {request_id}'s send"
            )

    async def _sent(self, tenant: TenantId, request_id: int, message_id: str) -> None:
        if not await self._store.transition(
            tenant,
            request_id,
            [RequestState.SENDING],
            RequestState.WAITING,
            message_id=message_id,
            sent_at=self._clock(),
        ):
            # The answer outran our own bookkeeping (the webhook arrived first): keep the id anyway.
            await self._store.update_request(tenant, request_id, message_id=message_id, sent_at=self._clock())

    async def _precheck(self, request: Request) -> tuple[bool, CallPermission | None]:
        """Ask Pilot Status first, so a request that can't help is never sent: (settled here, what it said).

        When the probe itself fails, AskCall sends anyway and claims nothing it doesn't know.
        """
        try:
            pilot = await self._pilots.get(request.tenant, request.number_name)
            permission = await pilot.get_permission(request.phone_e164)
        except PilotStatusError as error:
            log.info("request %d: pre-check unavailable (%s); sending anyway", request.id, error.label)
            return False, None
        return await self._settled_by_precheck(request, permission), permission

    async def _settled_by_precheck(self, request: Request, permission: CallPermission) -> bool:
        """True when the probe settles the request: already granted, or no request may be sent now."""
        await self._tasks.yield_to_inbound()
        tr = Translator(request.lang)
        now = self._clock()
        grant = granted(permission)
        if grant is not None:
            outcome, expires_at = grant
            text = (
                tr.t("precheck.already_permanent", user=request.user_id)
                if outcome is Outcome.PERMANENT
                else tr.t(
                    "precheck.already_temporary", user=request.user_id, until=messages.slack_date(expires_at or 0)
                )
            )
            dm, _, _ = await self._store.user_prefs(request.tenant, request.user_id)
            _, effects = outcome_effects(
                request,
                outcome=outcome,
                expires_at=expires_at,
                answered_at=now,
                text=text,
                key=f"req{request.id}:precheck",
                now=now,
                dm=dm,
                workspace=self._workspace,
            )
            settled = await self._store.transition(
                request.tenant, request.id, [RequestState.READY], RequestState.ANSWERED, effects
            )
            if settled:
                log.info("request %d: customer already granted (%s); nothing sent", request.id, outcome)
                self._wake_notifier()
                if effects.reminders:
                    self._wake_reminders()
            return True
        action = permission.actions.get(REQUEST_ACTION)
        if action is not None and not action.can_perform:
            when = action.limit_expiration_time
            text = (
                tr.t("precheck.quota_until", user=request.user_id, when=messages.slack_date(when))
                if when
                else tr.t("precheck.quota", user=request.user_id)
            )
            await self._fail_without_sending(request, "QUOTA_EXHAUSTED", text)
            return True
        return False

    async def _fail_without_sending(self, request: Request, code: str, text: str) -> None:
        if await self._settle(request, RequestState.READY, RequestState.FAILED, "failure", text, error_code=code):
            log.info("request %d: not sent (%s)", request.id, code)

    async def _failed(self, request: Request, error: PilotStatusError) -> None:
        code = error.code or error.label
        text = _failure_text(replace(request, state=RequestState.FAILED, error_code=code), error)
        await self._settle(request, RequestState.SENDING, RequestState.FAILED, "failure", text, error_code=code)

    async def _unconfirmed(self, request: Request, before: CallPermission | None = None) -> None:
        """A send whose outcome is unknown (no answer, a 5xx) is never resent: it is settled from what the permission
        probe says now, compared with what it said just before the send. The request's quota used since (or used
        up: Meta's limit after an unconfirmed send means it went out) → it was sent, and waits for the answer.
        Otherwise it stays unconfirmed, still waiting: a later answer lands in its thread either way."""
        tr = Translator(request.lang)
        if before is not None and await self._counted_since(request, before):
            log.info("request %d: the probe counts the unconfirmed send; most likely sent", request.id)
            text = tr.t("sent.probably", user=request.user_id)
            await self._settle(
                request,
                RequestState.SENDING,
                RequestState.WAITING,
                "probably-sent",
                text,
                sent_at=self._clock(),
            )
            return
        text = tr.t("failure.unconfirmed", user=request.user_id)
        await self._settle(request, RequestState.SENDING, RequestState.UNCONFIRMED, "unconfirmed", text)

    async def _counted_since(self, request: Request, before: CallPermission) -> bool:
        """Whether the probe shows a permission request counted since `before` (or a grant: the customer answered
        already). False when the probe can't say."""
        try:
            pilot = await self._pilots.get(request.tenant, request.number_name)
            after = await pilot.get_permission(request.phone_e164)
        except PilotStatusError as error:
            log.info("request %d: the probe can't settle the unconfirmed send (%s)", request.id, error.label)
            return False
        if granted(after) is not None:
            return True
        was, now = before.actions.get(REQUEST_ACTION), after.actions.get(REQUEST_ACTION)
        if was is None or now is None:
            return False
        if was.can_perform and not now.can_perform:  # the limit is used up now: what used it was this send
            return True
        used_before = {limit.time_period: limit.current_usage for limit in was.limits}
        return any(
            limit.current_usage > used_before.get(limit.time_period, limit.current_usage) for limit in now.limits
        )

    async def _settle(
        self,
        request: Request,
        from_state: RequestState,
        to_state: RequestState,
        key: str,
        text: str,
        **fields: str | float,
    ) -> bool:
        """Move the request on, saying why in its thread and showing it on the status message."""
        settled = replace(request, state=to_state, **fields)
        deliveries = [
            NewDelivery(f"req{request.id}:{key}", DeliveryKind.REPLY, messages.thread_reply(settled, text)),
            NewDelivery(f"req{request.id}:{key}-update", DeliveryKind.UPDATE, messages.parent_update(settled)),
        ]
        moved = await until_recorded(
            lambda: self._store.transition(
                request.tenant, request.id, [from_state], to_state, Effects(deliveries=deliveries), **fields
            ),
            f"request {request.id}'s {to_state}",
        )
        if not moved:
            return False
        self._wake_notifier()
        return True

    # --- takeover -----------------------------------------------------------------------------
    async def sweep(self) -> None:
        """Resume what a dead process (or a failed step) left half-done: requests nobody holds."""
        for request in await self._store.abandoned_requests(time.time()):
            if (REQUESTS, request.id) in self._held:
                continue  # a task of this process is on it (its lease lapsed while the database was down)
            if request.state is RequestState.NEW:
                parent = await self._store.delivery_for(request.tenant, request.id, DeliveryKind.PARENT)
                if parent is not None and parent.state is DeliveryState.DONE and parent.result_ts:
                    await self.parent_posted(request.tenant, request.id, parent.result_ts)
            elif request.state is RequestState.READY:
                self._tasks.spawn(self.send(request.tenant, request.id), name=f"send-{request.id}")
            elif request.state is RequestState.SENDING:
                # Its sender died mid-call: it may have reached Pilot Status, and resending could
                # burn the customer's quota. Only the process that takes it over says so.
                taken = await self._store.claim_request(request.tenant, request.id, RequestState.SENDING, time.time())
                if taken is not None:
                    await self._unconfirmed(taken)


def _failure_text(request: Request, error: PilotStatusError) -> str:
    tr = Translator(request.lang)
    user = request.user_id
    if isinstance(error, RequestLimitError):
        return tr.t("failure.limit", user=user)
    if isinstance(error, OutsideWindowError):
        return tr.t("failure.window", user=user)
    if isinstance(error, AuthenticationError):
        return tr.t("failure.auth", user=user)
    if isinstance(error, TenantScopeError):
        return tr.t("failure.tenant_scope", user=user)
    if isinstance(error, FeatureNotSupportedError):
        return tr.t("failure.not_supported", user=user)
    if error.retryable and error.attempts == 1 and error.retry_after:
        # Pilot Status asked for a longer pause than a rep should wait on: say so, don't pretend we retried.
        return tr.t("failure.busy", user=user, seconds=int(error.retry_after))
    if error.retryable:
        return tr.t("failure.unavailable", user=user, detail=error.label, attempts=error.attempts)
    return tr.t(
        "failure.rejected",
        user=user,
        code=messages.escape_mrkdwn(error.code or error.label),
        detail=messages.escape_mrkdwn(error.message[:300]),
    )


def _notice_to_rep(request: Request, text: str) -> NewDelivery:
    """An ephemeral note through the command's response_url, or a DM when there is none."""
    if request.response_url:
        payload = {"response_url": request.response_url, "text": text, "response_type": "ephemeral"}
        return NewDelivery(f"req{request.id}:notice", DeliveryKind.RESPOND, payload)
    return NewDelivery(f"req{request.id}:notice", DeliveryKind.DIRECT, {"channel": request.user_id, "text": text})


def _draft(new: NewRequest) -> Request:
    """A request as it will look once stored: what the parent message is rendered from."""
    return Request(
        id=0,
        source_key=None,
        team_id=None,
        channel_id=new.channel_id,
        user_id=new.user_id,
        phone_e164=new.phone_e164,
        phone_key="",
        reason=new.reason,
        lang=new.lang,
        response_url=None,
        state=RequestState.NEW,
        outcome=None,
        error_code=None,
        parent_ts=None,
        message_id=None,
        answer_event_ts=None,
        created_at=0.0,
        sent_at=None,
        answered_at=None,
        expires_at=None,
        updated_at=0.0,
        thread_ts=new.thread_ts,
        phone_display=new.phone_display,
    )


class AskAgain(Enum):
    ASKED = "asked"
    NOT_YOURS = "not_yours"
    NOT_NOW = "not_now"
