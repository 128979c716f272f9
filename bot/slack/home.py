"""The App Home tab: a rep's requests of the last 30 days, grouped by what they can do next, each with its
browser calls; then the calls the rep made on teammates' requests.

Invariant: the view stays within Slack's limits whatever the data (at most `MAX_VIEW_BLOCKS` blocks: each
group is capped, and every item is one section of bounded text), and user text is escaped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bot.domain import Call, Outcome, Request, Standing
from bot.i18n import Translator
from bot.phones import display_phone
from bot.slack.messages import call_line, escape_mrkdwn, slack_date
from bot.slack.settings import MAX_SETTINGS_BLOCKS

DM_TOGGLE_ACTION = "askcall_dm_toggle"
DM_OPTION = "dm_answers"
# Slack allows 100 blocks in a Home view: the header and the toggle, then per group a divider, its title
# and its items.
MAX_VIEW_BLOCKS = 100
MAX_ITEMS_PER_GROUP = 25
# Admins' Settings section (bot.slack.settings) comes after the groups: room is kept for it.
MAX_CALLED_ITEMS = MAX_VIEW_BLOCKS - 2 - len(Standing) * (2 + MAX_ITEMS_PER_GROUP) - 2 - MAX_SETTINGS_BLOCKS
REASON_PREVIEW = 80

Calls = Mapping[int, Sequence[Call]]


def group_requests(requests: list[Request], now: float) -> dict[str, list[Request]]:
    groups: dict[str, list[Request]] = {standing.value: [] for standing in Standing}
    for request in requests:
        groups[request.standing(now).value].append(request)
    # Soonest expiry first: those are the calls to make now. Permanent grants last.
    groups[Standing.READY_TO_CALL.value].sort(key=lambda r: r.expires_at if r.expires_at else float("inf"))
    return groups


def shown_requests(requests: list[Request], called: list[Request], now: float) -> list[Request]:
    """The requests the Home shows (each group capped): the ones whose calls it needs."""
    groups = group_requests(requests, now)
    return [r for key in groups for r in groups[key][:MAX_ITEMS_PER_GROUP]] + called[:MAX_CALLED_ITEMS]


def marker(request: Request, now: float) -> str:
    if request.grant_ran_out(now):
        return "⌛"
    if request.outcome is Outcome.PERMANENT:
        return "♾️"
    if request.outcome is Outcome.TEMPORARY:
        return "✅"
    if request.declined or request.state.failed:
        return "❌"
    return "⏳"


def home_view(
    requests: list[Request],
    *,
    tr: Translator,
    now: float,
    dm_answers: bool,
    link: Callable[[Request], str],
    calls: Calls | None = None,
    called: list[Request] | None = None,
    user_id: str | None = None,
) -> dict[str, Any]:
    """`requests`: the rep's own; `called`: teammates' requests the rep (`user_id`) called on, most recent
    first; `calls`: the calls of both, by request id, oldest first."""
    calls = calls or {}
    called = called or []
    toggle_option = {"text": {"type": "plain_text", "text": tr.t("home.dm_toggle")}, "value": DM_OPTION}
    checkbox: dict[str, Any] = {"type": "checkboxes", "action_id": DM_TOGGLE_ACTION, "options": [toggle_option]}
    if dm_answers:
        checkbox["initial_options"] = [toggle_option]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": tr.t("home.header")}},
        {"type": "actions", "block_id": "askcall_prefs", "elements": [checkbox]},
    ]
    if not requests:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": tr.t("home.empty")}})
    else:
        groups = group_requests(requests, now)
        for key in (standing.value for standing in Standing):
            blocks.extend(_title(tr.t(f"home.{key}")))
            items = groups[key][:MAX_ITEMS_PER_GROUP]
            if not items:
                blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": tr.t("home.none")}]})
            for request in items:
                text = _item(request, tr, now, link, calls.get(request.id, ()))
                blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    if called:
        blocks.extend(_title(tr.t("home.called")))
        for request in called[:MAX_CALLED_ITEMS]:
            mine = [c for c in calls.get(request.id, ()) if c.user_id == user_id]
            text = _called_item(request, tr, now, link, mine)
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    return {"type": "home", "blocks": blocks}


def _title(text: str) -> list[dict[str, Any]]:
    return [{"type": "divider"}, {"type": "section", "text": {"type": "mrkdwn", "text": text}}]


def _reason(request: Request) -> str:
    reason = request.reason if len(request.reason) <= REASON_PREVIEW else request.reason[: REASON_PREVIEW - 1] + "…"
    return escape_mrkdwn(" ".join(reason.split()))


def _item(request: Request, tr: Translator, now: float, link: Callable[[Request], str], calls: Sequence[Call]) -> str:
    when = (
        slack_date(request.expires_at)
        if request.outcome is Outcome.TEMPORARY and request.expires_at
        else slack_date(request.created_at)
    )
    text = tr.t(
        "home.item",
        marker=marker(request, now),
        phone=display_phone(request.phone_e164, full=True),  # the Home tab is private to its rep
        reason=_reason(request),
        when=when,
        link=link(request),
    )
    return f"{text}\n{calls_text(calls, tr)}" if calls else text


def _called_item(
    request: Request, tr: Translator, now: float, link: Callable[[Request], str], calls: Sequence[Call]
) -> str:
    # Not the rep's own request: its number shows as the channel shows it (masked unless the request says full).
    return tr.t(
        "home.called_item",
        marker=marker(request, now),
        phone=request.shown_phone,
        asker=request.user_id,
        reason=_reason(request),
        calls=calls_text(calls, tr) if calls else "",
        link=link(request),
    )


def calls_text(calls: Sequence[Call], tr: Translator) -> str:
    """The last of `calls` as the thread tells it (who called, how it went), when, and how many there were."""
    last = calls[-1]
    line = tr.t(
        "home.call",
        call=call_line(tr, last.user_id, last.state, last.end_reason, last.duration),
        when=slack_date(last.started_at),
    )
    return tr.t("home.calls", last=line, count=len(calls)) if len(calls) > 1 else line
