"""The life of a request: stored → parent posted → sent to Pilot Status → waiting (or failed).

Each step is a state transition in the store, guarded by the state it starts from, so steps are
idempotent and start-up recovery can replay whatever a crash interrupted.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import replace

from bot.i18n import Translator
from bot.phones import mask
from bot.pilot_status.client import PilotStatusClient
from bot.pilot_status.errors import (
    AuthenticationError,
    FeatureNotSupportedError,
    OutsideWindowError,
    PilotStatusError,
    RequestLimitError,
    TenantScopeError,
    UnconfirmedError,
)
from bot.slack import messages
from bot.slack.gateway import DIRECT, PARENT, REPLY, RESPOND, UPDATE, DeliveryError
from bot.store import (
    FAILED,
    NEW,
    READY,
    SENDING,
    UNCONFIRMED,
    UNDELIVERABLE,
    WAITING,
    NewDelivery,
    Request,
    Store,
)
from bot.tasks import Tasks

log = logging.getLogger(__name__)


class RequestService:
    def __init__(
        self,
        store: Store,
        pilot: PilotStatusClient,
        tasks: Tasks,
        wake_notifier: Callable[[], None],
        *,
        retry_attempts: int,
    ) -> None:
        self._store = store
        self._pilot = pilot
        self._tasks = tasks
        self._wake_notifier = wake_notifier
        self._retry_attempts = retry_attempts

    async def submit(
        self,
        *,
        source_key: str | None,
        team_id: str | None,
        channel_id: str,
        user_id: str,
        phone_e164: str,
        reason: str,
        lang: str,
        response_url: str | None,
    ) -> int:
        """Persist the request with its parent message queued. Fast: this runs before Slack's ack."""
        reason = reason or Translator(lang).t("reason.default")
        draft = _draft(channel_id, user_id, phone_e164, reason, lang)
        request_id, created = await self._store.create_request(
            source_key=source_key,
            team_id=team_id,
            channel_id=channel_id,
            user_id=user_id,
            phone_e164=phone_e164,
            reason=reason,
            lang=lang,
            response_url=response_url,
            parent=NewDelivery(f"{source_key or uuid.uuid4().hex}:parent", PARENT, messages.parent_message(draft)),
        )
        if created:
            log.info("request %d stored for %s by %s", request_id, mask(phone_e164), user_id)
            self._wake_notifier()
        return request_id

    # --- notifier hooks -------------------------------------------------------------------
    async def parent_posted(self, request_id: int, ts: str) -> None:
        if await self._store.transition(request_id, [NEW], READY, parent_ts=ts):
            self._tasks.spawn(self.send(request_id), name=f"send-{request_id}")

    async def parent_failed(self, request_id: int, error: DeliveryError) -> None:
        request = await self._store.get_request(request_id)
        if request is None:
            return
        tr = Translator(request.lang)
        text = (
            tr.t("error.channel_unreachable", channel=request.channel_id)
            if error.unreachable
            else tr.t("error.internal")
        )
        notice = _notice_to_rep(request, text)
        if await self._store.transition(request_id, [NEW], UNDELIVERABLE, [notice], error_code=error.code):
            log.warning("request %d: could not post in the channel (%s); nothing sent", request_id, error.code)
            self._wake_notifier()

    # --- Pilot Status ---------------------------------------------------------------------
    async def send(self, request_id: int) -> None:
        if not await self._store.transition(request_id, [READY], SENDING):
            return
        request = await self._store.get_request(request_id)
        if request is None:
            return
        try:
            message_id = await self._pilot.request_permission(request.phone_e164, request.reason)
        except UnconfirmedError as error:
            log.warning("request %d: Pilot Status did not confirm (%s)", request_id, error.label)
            await self._unconfirmed(request)
        except PilotStatusError as error:
            log.warning("request %d: Pilot Status refused (%s)", request_id, error.label)
            await self._failed(request, error)
        else:
            log.info("request %d sent to %s", request_id, mask(request.phone_e164))
            if not await self._store.transition(
                request_id, [SENDING], WAITING, message_id=message_id, sent_at=time.time()
            ):
                # The answer outran our own bookkeeping (the webhook arrived first): keep the id anyway.
                await self._store.update_request(request_id, message_id=message_id, sent_at=time.time())

    async def _failed(self, request: Request, error: PilotStatusError) -> None:
        failed = _with(request, state=FAILED, error_code=error.code or error.label)
        text = _failure_text(failed, error, self._retry_attempts)
        deliveries = [
            NewDelivery(f"req{request.id}:failure", REPLY, messages.thread_reply(failed, text)),
            NewDelivery(f"req{request.id}:failure-update", UPDATE, messages.parent_update(failed)),
        ]
        if await self._store.transition(request.id, [SENDING], FAILED, deliveries, error_code=failed.error_code):
            self._wake_notifier()

    async def _unconfirmed(self, request: Request) -> None:
        pending = _with(request, state=UNCONFIRMED)
        text = Translator(request.lang).t("failure.unconfirmed", user=request.user_id)
        deliveries = [
            NewDelivery(f"req{request.id}:unconfirmed", REPLY, messages.thread_reply(pending, text)),
            NewDelivery(f"req{request.id}:unconfirmed-update", UPDATE, messages.parent_update(pending)),
        ]
        if await self._store.transition(request.id, [SENDING], UNCONFIRMED, deliveries):
            self._wake_notifier()

    # --- start-up -----------------------------------------------------------------------------
    async def recover(self) -> None:
        """Resume what a previous process left half-done."""
        for request in await self._store.requests_in_state(SENDING):
            # It may have reached Pilot Status just before the crash; resending could burn quota.
            await self._unconfirmed(request)
        for request in await self._store.requests_in_state(NEW):
            parent = await self._store.delivery_for(request.id, PARENT)
            if parent is not None and parent.state == "done" and parent.result_ts:
                await self.parent_posted(request.id, parent.result_ts)
        for request in await self._store.requests_in_state(READY):
            self._tasks.spawn(self.send(request.id), name=f"send-{request.id}")


def _failure_text(request: Request, error: PilotStatusError, attempts: int) -> str:
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
    if error.retryable:
        return tr.t("failure.unavailable", user=user, detail=error.label, attempts=attempts)
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
        return NewDelivery(f"req{request.id}:notice", RESPOND, payload)
    return NewDelivery(f"req{request.id}:notice", DIRECT, {"channel": request.user_id, "text": text})


def _draft(channel_id: str, user_id: str, phone_e164: str, reason: str, lang: str) -> Request:
    """A request as it will look once stored: what the parent message is rendered from."""
    return Request(
        id=0,
        source_key=None,
        team_id=None,
        channel_id=channel_id,
        user_id=user_id,
        phone_e164=phone_e164,
        phone_key="",
        reason=reason,
        lang=lang,
        response_url=None,
        state=NEW,
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
    )


def _with(request: Request, **changes: object) -> Request:
    return replace(request, **changes)  # type: ignore[arg-type]
