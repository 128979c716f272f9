"""The App Home tab: a rep's requests of the last 30 days, grouped by what they can do next."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.domain import Outcome, Request, Standing
from bot.i18n import Translator
from bot.phones import display_phone
from bot.slack.messages import escape_mrkdwn, slack_date

DM_TOGGLE_ACTION = "askcall_dm_toggle"
DM_OPTION = "dm_answers"
# Slack allows 100 blocks in a Home view; keep room for headers and the toggle.
MAX_ITEMS_PER_GROUP = 25
REASON_PREVIEW = 80


def group_requests(requests: list[Request], now: float) -> dict[str, list[Request]]:
    groups: dict[str, list[Request]] = {standing.value: [] for standing in Standing}
    for request in requests:
        groups[request.standing(now).value].append(request)
    # Soonest expiry first: those are the calls to make now. Permanent grants last.
    groups[Standing.READY_TO_CALL.value].sort(key=lambda r: r.expires_at if r.expires_at else float("inf"))
    return groups


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
) -> dict[str, Any]:
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
        return {"type": "home", "blocks": blocks}
    groups = group_requests(requests, now)
    for key in (standing.value for standing in Standing):
        blocks.append({"type": "divider"})
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": tr.t(f"home.{key}")}})
        items = groups[key][:MAX_ITEMS_PER_GROUP]
        if not items:
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": tr.t("home.none")}]})
        for request in items:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _item(request, tr, now, link)}})
    return {"type": "home", "blocks": blocks}


def _item(request: Request, tr: Translator, now: float, link: Callable[[Request], str]) -> str:
    reason = request.reason if len(request.reason) <= REASON_PREVIEW else request.reason[: REASON_PREVIEW - 1] + "…"
    when = (
        slack_date(request.expires_at)
        if request.outcome is Outcome.TEMPORARY and request.expires_at
        else slack_date(request.created_at)
    )
    return tr.t(
        "home.item",
        marker=marker(request, now),
        phone=display_phone(request.phone_e164, full=True),  # the Home tab is private to its rep
        reason=escape_mrkdwn(" ".join(reason.split())),
        when=when,
        link=link(request),
    )
