"""Block Kit builders: pure functions from data to Slack payloads (no I/O)."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime
from typing import Any

from bot.domain import (
    NO_ANSWER_SDP,
    NOT_STARTED,
    PERMISSION_REQUIRED,
    RATE_LIMITED,
    CallState,
    EndReason,
    Outcome,
    Request,
    RequestState,
)
from bot.i18n import Translator

MODAL_CALLBACK_ID = "askcall_request"
PHONE_BLOCK, PHONE_ACTION = "phone", "phone_value"
REASON_BLOCK, REASON_ACTION = "reason", "reason_value"
REASON_MAX_LENGTH = 1024
# Block Kit caps a section's text at 3000 characters; escaping can make a 1024-character reason longer.
SECTION_TEXT_MAX_LENGTH = 3000


def escape_mrkdwn(text: str) -> str:
    """Neutralise Slack's control characters so user text can't mention `<!channel>` or fake links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape_slack(text: str) -> str:
    """Undo the escaping Slack applies to slash-command text, so the customer reads what the rep typed."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def slack_date(timestamp: float) -> str:
    """A date every reader sees in their own time zone; the fallback is UTC for old clients."""
    fallback = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(timestamp)}^{{date_short_pretty}} {{time}}|{fallback}>"


def status_line(request: Request, tr: Translator) -> str:
    if request.state is RequestState.EXPIRED:
        return tr.t("status.expired")
    if request.outcome is Outcome.TEMPORARY and request.expires_at:
        return tr.t("status.temporary", until=slack_date(request.expires_at))
    if request.outcome is Outcome.PERMANENT:
        return tr.t("status.permanent")
    if request.declined:
        return tr.t("status.denied")
    if request.state.failed:
        return tr.t("status.failed")
    if request.state is RequestState.UNCONFIRMED:
        return tr.t("status.unconfirmed")
    return tr.t("status.waiting")


CHECK_ACTION = "askcall_check"
AGAIN_ACTION = "askcall_again"
CALL_ACTION = "askcall_call"


def parent_message(
    request: Request, checked: str | None = None, *, last_call: str | None = None, now: float | None = None
) -> dict[str, Any]:
    """AskCall's status message for the request: in the channel (its thread collects everything
    about the request) or, for a request started from someone's message, the first reply in that
    message's thread. `checked` is the result of the last "Check status" click, if any; `last_call`
    the line about the request's last call (see `call_line`; default: the one the request keeps).
    "Call now" shows while the grant holds."""
    tr = Translator(request.lang)
    phone = request.shown_phone
    status = status_line(request, tr)
    context = [{"type": "mrkdwn", "text": status}]
    last_call = last_call or request.last_call
    if last_call:
        context.append({"type": "mrkdwn", "text": tr.t("status.last_call", call=last_call)})
    if checked:
        context.append({"type": "mrkdwn", "text": checked})
    buttons: list[dict[str, Any]] = []
    if request.grant_is_usable(time.time() if now is None else now):
        buttons.append(_button(tr.t("button.call"), CALL_ACTION, request.id))
    buttons.append(_button(tr.t("button.check"), CHECK_ACTION, request.id))
    if request.can_ask_again:
        buttons.append(_button(tr.t("button.again"), AGAIN_ACTION, request.id))
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": tr.t("parent.headline", user=request.user_id, phone=phone)},
        },
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": _fit(_quote(tr.t("parent.reason", reason=escape_mrkdwn(request.reason)))),
            },
        },
        {"type": "context", "elements": context},
        {"type": "actions", "block_id": f"askcall_request_{request.id}", "elements": buttons},
    ]
    message: dict[str, Any] = {
        "channel": request.channel_id,
        "text": tr.t("parent.fallback", phone=phone, status=status),
        "blocks": blocks,
    }
    if request.thread_ts:
        message["thread_ts"] = request.thread_ts
    return message


def _button(text: str, action_id: str, request_id: int) -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": text},
        "value": str(request_id),
    }


def thread_reply(request: Request, text: str) -> dict[str, Any]:
    return {"channel": request.channel_id, "thread_ts": request.reply_thread, "text": text}


def grant_reply(request: Request, text: str, now: float | None = None) -> dict[str, Any]:
    """The thread reply with the customer's answer; a grant that holds gets the "Call now" button."""
    message = thread_reply(request, text)
    if request.grant_is_usable(time.time() if now is None else now):
        tr = Translator(request.lang)
        message["blocks"] = [
            {"type": "section", "text": {"type": "mrkdwn", "text": _fit(text)}},
            {
                "type": "actions",
                "block_id": f"askcall_grant_{request.id}",
                "elements": [_button(tr.t("button.call"), CALL_ACTION, request.id)],
            },
        ]
    return message


def duration_text(seconds: int, tr: Translator) -> str:
    minutes, rest = divmod(max(int(seconds), 0), 60)
    return tr.t("call.duration", minutes=minutes, seconds=rest) if minutes else tr.t("call.seconds", seconds=rest)


def call_line(tr: Translator, user_id: str, state: CallState, end_reason: str | None, duration: int | None) -> str:
    """One browser call as the thread tells it: in progress, its duration, or how it ended."""
    if state.is_live:
        return tr.t("call.in_progress", user=user_id)
    if end_reason == EndReason.COMPLETED and duration is not None:
        return tr.t("call.completed", user=user_id, duration=duration_text(duration, tr))
    if end_reason in (EndReason.MISSED, EndReason.COMPLETED):  # no duration: never answered (hung up while ringing)
        return tr.t("call.missed", user=user_id)
    if end_reason == EndReason.REJECTED:
        return tr.t("call.rejected", user=user_id)
    if end_reason == PERMISSION_REQUIRED:
        return tr.t("call.permission_required", user=user_id)
    if end_reason == RATE_LIMITED:
        return tr.t("call.rate_limited", user=user_id)
    if end_reason == NOT_STARTED:
        return tr.t("call.not_started", user=user_id)
    if end_reason == "FEATURE_NOT_SUPPORTED":
        return tr.t("call.unsupported", user=user_id)
    if end_reason == NO_ANSWER_SDP:
        return tr.t("call.no_browser_audio", user=user_id)
    return tr.t("call.failed", user=user_id)


def parent_update(request: Request, checked: str | None = None, *, last_call: str | None = None) -> dict[str, Any]:
    message = parent_message(request, checked, last_call=last_call)
    message.pop("thread_ts", None)  # chat.update addresses the message by its own ts
    return {**message, "ts": request.parent_ts}


def answer_text(request: Request, tr: Translator) -> str:
    if request.outcome is Outcome.TEMPORARY:
        until = slack_date(request.expires_at) if request.expires_at else "?"
        return tr.t("answer.temporary", user=request.user_id, until=until)
    if request.outcome is Outcome.PERMANENT:
        return tr.t("answer.permanent", user=request.user_id)
    return tr.t("answer.denied", user=request.user_id)


def dm_text(request: Request, text: str, link: str) -> str:
    return Translator(request.lang).t("dm.answer", text=text, link=link)


CHANNEL_BLOCK, CHANNEL_ACTION = "channel", "channel_value"


def request_modal(
    tr: Translator, *, private_metadata: dict[str, Any], phone: str = "", pick_channel: bool = False
) -> dict[str, Any]:
    """The request form. `pick_channel` adds a channel picker (a global shortcut carries no channel)."""
    phone_element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": PHONE_ACTION,
        "placeholder": {"type": "plain_text", "text": "+55 11 98765-4321"},
        "max_length": 40,
    }
    if phone:
        phone_element["initial_value"] = phone
    return {
        "type": "modal",
        "callback_id": MODAL_CALLBACK_ID,
        "private_metadata": json.dumps(private_metadata, separators=(",", ":")),
        "title": {"type": "plain_text", "text": tr.t("modal.title")},
        "submit": {"type": "plain_text", "text": tr.t("modal.submit")},
        "close": {"type": "plain_text", "text": tr.t("modal.close")},
        "blocks": [
            {"type": "context", "elements": [{"type": "mrkdwn", "text": tr.t("modal.intro")}]},
            *([_channel_picker(tr)] if pick_channel else []),
            {
                "type": "input",
                "block_id": PHONE_BLOCK,
                "label": {"type": "plain_text", "text": tr.t("modal.phone_label")},
                "hint": {"type": "plain_text", "text": tr.t("modal.phone_hint")},
                "element": phone_element,
            },
            {
                "type": "input",
                "block_id": REASON_BLOCK,
                "optional": True,
                "label": {"type": "plain_text", "text": tr.t("modal.reason_label")},
                "element": {
                    "type": "plain_text_input",
                    "action_id": REASON_ACTION,
                    "multiline": True,
                    "max_length": REASON_MAX_LENGTH,
                    "placeholder": {"type": "plain_text", "text": tr.t("modal.reason_placeholder")},
                },
            },
        ],
    }


def notice_modal(title: str, text: str) -> dict[str, Any]:
    """A modal that only says something (e.g. why a shortcut can't be used)."""
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": title[:24]},
        "close": {"type": "plain_text", "text": "OK"},
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
    }


def _channel_picker(tr: Translator) -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": CHANNEL_BLOCK,
        "label": {"type": "plain_text", "text": tr.t("modal.channel_label")},
        "element": {
            "type": "conversations_select",
            "action_id": CHANNEL_ACTION,
            "default_to_current_conversation": True,
            "response_url_enabled": True,
            "filter": {"include": ["public", "private"], "exclude_bot_users": True},
        },
    }


def _quote(text: str) -> str:
    return "\n".join("> " + line for line in text.splitlines() or [""])


def _fit(text: str, limit: int = SECTION_TEXT_MAX_LENGTH) -> str:
    """Shorten escaped mrkdwn to `limit` characters without leaving half an `&amp;`/`&lt;`/`&gt;`."""
    if len(text) <= limit:
        return text
    return re.sub(r"&[a-z]{0,3}$", "", text[: limit - 1]) + "…"
