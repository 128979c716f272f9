"""Block Kit builders: pure functions from data to Slack payloads (no I/O)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from bot.i18n import Translator
from bot.phones import mask
from bot.store import Request

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
    if request.outcome == "TEMPORARY" and request.expires_at:
        return tr.t("status.temporary", until=slack_date(request.expires_at))
    if request.outcome == "PERMANENT":
        return tr.t("status.permanent")
    if request.outcome == "NO_PERMISSION":
        return tr.t("status.denied")
    if request.state in ("failed", "undeliverable"):
        return tr.t("status.failed")
    if request.state == "unconfirmed":
        return tr.t("status.unconfirmed")
    return tr.t("status.waiting")


def parent_message(request: Request) -> dict[str, Any]:
    """The channel message that stands for the request; its thread collects everything about it."""
    tr = Translator(request.lang)
    phone = mask(request.phone_e164)
    status = status_line(request, tr)
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
        {"type": "context", "elements": [{"type": "mrkdwn", "text": status}]},
    ]
    return {
        "channel": request.channel_id,
        "text": tr.t("parent.fallback", phone=phone, status=status),
        "blocks": blocks,
    }


def thread_reply(request: Request, text: str) -> dict[str, Any]:
    return {"channel": request.channel_id, "thread_ts": request.reply_thread, "text": text}


def parent_update(request: Request) -> dict[str, Any]:
    return {**parent_message(request), "ts": request.parent_ts}


def answer_text(request: Request, tr: Translator) -> str:
    if request.outcome == "TEMPORARY":
        until = slack_date(request.expires_at) if request.expires_at else "?"
        return tr.t("answer.temporary", user=request.user_id, until=until)
    if request.outcome == "PERMANENT":
        return tr.t("answer.permanent", user=request.user_id)
    return tr.t("answer.denied", user=request.user_id)


def request_modal(tr: Translator, *, private_metadata: dict[str, Any], phone: str = "") -> dict[str, Any]:
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


def _quote(text: str) -> str:
    return "\n".join("> " + line for line in text.splitlines() or [""])


def _fit(text: str, limit: int = SECTION_TEXT_MAX_LENGTH) -> str:
    """Shorten escaped mrkdwn to `limit` characters without leaving half an `&amp;`/`&lt;`/`&gt;`."""
    if len(text) <= limit:
        return text
    return re.sub(r"&[a-z]{0,3}$", "", text[: limit - 1]) + "…"
