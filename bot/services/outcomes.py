"""What happens when a request gets an outcome: the state change, the messages, the reminders.

One place for it, because an outcome can come from the customer's webhook, from the pre-check
(already granted), from a "Check status" click, or from an expiry probe.
"""

from __future__ import annotations

from dataclasses import replace

from bot.domain import DeliveryKind, Outcome, Request, RequestState
from bot.pilot_status.client import CallPermission
from bot.services.reminders import reminders_for_grant
from bot.slack import messages
from bot.slack.links import WorkspaceLinks
from bot.store import Effects, NewDelivery


def outcome_effects(
    request: Request,
    *,
    outcome: Outcome,
    expires_at: float | None,
    answered_at: float,
    text: str,
    key: str,
    now: float,
    dm: bool,
    workspace: WorkspaceLinks,
    answer_event_ts: str | None = None,
) -> tuple[Request, Effects]:
    """The request answered with `outcome`; `text` is the thread reply. `key` makes deliveries unique."""
    answered = replace(
        request,
        state=RequestState.ANSWERED,
        outcome=outcome,
        answered_at=answered_at,
        expires_at=expires_at,
        answer_event_ts=answer_event_ts,
    )
    request_update = {
        "state": RequestState.ANSWERED,
        "outcome": outcome,
        "answered_at": answered_at,
        "expires_at": expires_at,
        "answer_event_ts": answer_event_ts,
    }
    deliveries: list[NewDelivery] = []
    if request.parent_ts:
        deliveries += [
            NewDelivery(f"{key}:reply", DeliveryKind.REPLY, messages.grant_reply(answered, text, now)),
            NewDelivery(f"{key}:update", DeliveryKind.UPDATE, messages.parent_update(answered)),
        ]
        if dm:
            link = workspace.permalink(request.tenant, request.channel_id, request.parent_ts, request.thread_ts)
            dm_text = messages.dm_text(answered, text, link)
            deliveries.append(
                NewDelivery(f"{key}:dm", DeliveryKind.DIRECT, {"channel": request.user_id, "text": dm_text})
            )
    reminders = reminders_for_grant(expires_at, now) if outcome is Outcome.TEMPORARY and expires_at else []
    return answered, Effects(request_update, deliveries, reminders)


def granted(permission: CallPermission) -> tuple[Outcome, float | None] | None:
    """(outcome, expires_at) when a probe shows a usable grant; None otherwise.

    A temporary grant without an expiry is not treated as usable: AskCall would have to invent one.
    """
    if permission.status == "permanent":
        return Outcome.PERMANENT, None
    if permission.status == "temporary" and permission.expiration_time:
        return Outcome.TEMPORARY, float(permission.expiration_time)
    return None
