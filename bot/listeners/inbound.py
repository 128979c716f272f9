"""Slack's requests before a listener sees them: signature, body, and the payload fields AskCall reads.

Invariant: only a request that is signed (when a signing secret is set) and parses as an object
reaches Bolt, and only a payload carrying the fields AskCall's listeners read, with the types they
expect, reaches a listener. Anything else is client garbage: a 4xx and a one-line warning, never a
500 or a traceback.

It lives with the listeners because it describes what they read: POST /slack/events (bot.web.slack_events)
checks each HTTP request with it before Bolt, and the access middleware checks Socket Mode payloads with it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier

from bot.slack.home import DM_TOGGLE_ACTION
from bot.slack.messages import AGAIN_ACTION, CHECK_ACTION

# Slack refuses requests older than five minutes; so does AskCall (replays).
MAX_AGE = 5 * 60
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_REQUEST_ID = re.compile(r"[0-9]{1,18}")  # a request id in a button's value (fits SQLite's INTEGER)
# Malformed payloads parse into anything; these errors are what walking them can raise.
PARSE_ERRORS = (ValueError, TypeError, AttributeError, KeyError, IndexError, RecursionError)


class Refused(Exception):
    """A request Slack's real servers would not send: `status` and a short reason for the sender."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def signed(secret: str, body: str, timestamp: str | None, signature: str | None, now: float) -> bool:
    """Slack's v0 signature, checked without raising whatever the headers hold."""
    if timestamp is None or signature is None or not _TIMESTAMP.fullmatch(timestamp) or not signature.isascii():
        return False
    if abs(now - int(timestamp)) > MAX_AGE:
        return False
    return SignatureVerifier(secret).is_valid(body, timestamp, signature)


def bolt_request(
    body: bytes, query: str, headers: Mapping[str, str], secret: str | None, now: float
) -> AsyncBoltRequest:
    """The request as Bolt sees it, once verified and parsed; raises `Refused` otherwise."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise Refused(400, "body is not UTF-8") from error
    if secret is not None and not signed(
        secret, text, headers.get("X-Slack-Request-Timestamp"), headers.get("X-Slack-Signature"), now
    ):
        raise Refused(401, "invalid signature")
    try:
        request = AsyncBoltRequest(body=text, query=query, headers=headers)  # type: ignore[arg-type]
    except PARSE_ERRORS as error:
        raise Refused(400, "body is not a Slack payload") from error
    if not isinstance(request.body, dict):
        raise Refused(400, "body is not an object")
    problem = payload_problem(request.body)
    if problem is not None:
        raise Refused(400, problem)
    return request


# --- payload shapes ------------------------------------------------------------------------------

_MISSING = object()
_NOT_AN_OBJECT = object()


def _at(body: Mapping[str, Any], path: str) -> Any:
    value: Any = body
    for key in path.split("."):
        if value is None or value is _MISSING:
            return _MISSING
        if not isinstance(value, Mapping):
            return _NOT_AN_OBJECT
        value = value.get(key, _MISSING)
    return value


def _strings(body: Mapping[str, Any], required: tuple[str, ...], optional: tuple[str, ...] = ()) -> str | None:
    for path in required:
        if not isinstance(_at(body, path), str):
            return f"{path} is missing or not a string"
    for path in optional:
        value = _at(body, path)
        if value is not _MISSING and value is not None and not isinstance(value, str):
            return f"{path} is not a string"
    return None


def _objects(body: Mapping[str, Any], *paths: str) -> str | None:
    for path in paths:
        value = _at(body, path)
        if value is not _MISSING and value is not None and not isinstance(value, Mapping):
            return f"{path} is not an object"
    return None


def payload_problem(body: Mapping[str, Any]) -> str | None:
    """What makes a parsed payload unusable for AskCall's listeners; None when it is usable."""
    if "command" in body:
        return _strings(body, ("command", "user_id", "channel_id", "trigger_id"), ("text", "response_url", "team_id"))
    kind = body.get("type")
    common = _objects(body, "team", "channel", "message", "view") or _strings(body, (), ("team.id", "response_url"))
    if common is not None:
        return common
    if kind == "block_actions":
        return _strings(body, ("user.id",), ("channel.id",)) or _actions_problem(body.get("actions"))
    if kind in ("shortcut", "message_action"):
        return _strings(
            body,
            ("user.id", "trigger_id", "callback_id"),
            ("channel.id", "message.text", "message.ts", "message.thread_ts"),
        )
    if kind == "view_submission":
        return _view_problem(body)
    if kind == "event_callback":
        event = body.get("event")
        if not isinstance(event, Mapping):
            return "event is not an object"
        if event.get("type") == "app_home_opened":
            return _strings(event, ("user",), ("tab",))
    return None


def _actions_problem(actions: Any) -> str | None:
    if not isinstance(actions, list) or not actions:
        return "actions is not a list of actions"
    for action in actions:
        if not isinstance(action, Mapping) or not isinstance(action.get("action_id"), str):
            return "an action has no action_id"
        action_id = action["action_id"]
        if action_id in (CHECK_ACTION, AGAIN_ACTION):
            value = action.get("value")
            if not isinstance(value, str) or not _REQUEST_ID.fullmatch(value):
                return f"{action_id} value is not a request id"
        if action_id == DM_TOGGLE_ACTION:
            options = action.get("selected_options")
            if options is not None and not (isinstance(options, list) and all(isinstance(o, Mapping) for o in options)):
                return "selected_options is not a list of options"
    return None


def _view_problem(body: Mapping[str, Any]) -> str | None:
    problem = _strings(body, ("user.id", "view.id", "view.callback_id"), ("view.private_metadata",))
    if problem is not None:
        return problem
    metadata = _at(body, "view.private_metadata")
    if metadata not in (_MISSING, None, ""):
        try:
            parsed = json.loads(metadata)
        except (ValueError, RecursionError):
            return "view.private_metadata is not JSON"
        if not isinstance(parsed, Mapping):
            return "view.private_metadata is not an object"
        problem = _strings(parsed, (), ("channel_id", "response_url", "thread_ts"))
        if problem is not None:
            return "view.private_metadata: " + problem
    values = _at(body, "view.state.values")
    if values is not _MISSING and values is not None:
        if not isinstance(values, Mapping) or not all(
            isinstance(block, Mapping) and all(isinstance(state, Mapping) for state in block.values())
            for block in values.values()
        ):
            return "view.state.values is not a map of blocks"
        for block in values.values():
            for state in block.values():
                problem = _strings(state, (), ("value", "selected_conversation"))
                if problem is not None:
                    return "view.state: " + problem
    urls = body.get("response_urls")
    if urls is not None and not (
        isinstance(urls, list) and all(isinstance(u, Mapping) and isinstance(u.get("response_url"), str) for u in urls)
    ):
        return "response_urls is not a list of response urls"
    return None
