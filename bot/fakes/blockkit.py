"""Block Kit validation for the fake Slack: refuse what real Slack refuses.

Invariant: a payload this module accepts passes slack_sdk's own model validation (``Block.parse`` /
``View`` and their validators, applied recursively through ``to_dict()``) AND the documented limits
slack_sdk does not check (blocks per message, unique ids, empty or oversized text objects, unknown
components). Each check returns the reason as a string, or None when the payload is valid.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_MESSAGE_TEXT = 40_000
MAX_ID = 255  # action_id, block_id, callback_id
MAX_TEXT_OBJECT = 3_000  # any plain_text / mrkdwn object, unless a tighter limit applies
MAX_FIELD = 2_000  # each section field

# Components whose "text" is a plain string; everywhere else "text" must be a text object.
_STRING_TEXT_TYPES = frozenset({"plain_text", "mrkdwn", "text", "markdown", "link"})
_TEXT_OBJECTS = frozenset({"plain_text", "mrkdwn"})


def message_blocks_error(blocks: Any) -> str | None:
    """Why Slack would answer ``invalid_blocks`` to these message blocks, or None."""
    if not isinstance(blocks, list):
        return "blocks must be an array"
    if len(blocks) > MAX_MESSAGE_BLOCKS:
        return f"a message holds at most {MAX_MESSAGE_BLOCKS} blocks, got {len(blocks)}"
    return _blocks_error(blocks)


def view_error(view: Any) -> str | None:
    """Why Slack would answer ``invalid_arguments`` to this modal / Home tab view, or None."""
    if not isinstance(view, dict):
        return "view must be an object"
    blocks = view.get("blocks")
    if not isinstance(blocks, list):
        return "view.blocks must be an array"
    if len(blocks) > MAX_VIEW_BLOCKS:
        return f"a view holds at most {MAX_VIEW_BLOCKS} blocks, got {len(blocks)}"
    if view.get("type") not in ("modal", "home"):
        return f"unknown view type {view.get('type')!r}"
    try:
        View(**view).to_dict()
    except (SlackObjectFormationError, TypeError, ValueError) as exc:
        return str(exc)
    return _blocks_error(blocks) if blocks else None


def message_text_error(text: Any) -> str | None:
    """Why Slack would refuse the top-level ``text`` (``msg_too_long``), or None."""
    if isinstance(text, str) and len(text) > MAX_MESSAGE_TEXT:
        return f"text exceeds {MAX_MESSAGE_TEXT} characters"
    return None


def _blocks_error(blocks: list[Any]) -> str | None:
    block_ids: set[str] = set()
    for index, raw in enumerate(blocks):
        if not isinstance(raw, dict):
            return f"blocks[{index}] must be an object"
        try:
            block = Block.parse(raw)
            if block is None:
                return f"blocks[{index}]: unknown block type {raw.get('type')!r}"
            parsed = block.to_dict()  # runs every validator, recursively
        except (SlackObjectFormationError, TypeError, ValueError, AttributeError) as exc:
            return f"blocks[{index}]: {exc}"
        lost = Counter(_types(raw)) - Counter(_types(parsed))
        if lost:
            return f"blocks[{index}]: unknown component(s) {sorted(lost)}"
        block_id = raw.get("block_id")
        if block_id is not None:
            if block_id in block_ids:
                return f"blocks[{index}]: duplicate block_id {block_id!r}"
            block_ids.add(block_id)
        problem = _raw_error(raw)
        if problem is not None:
            return f"blocks[{index}]: {problem}"
    return None


def _raw_error(block: dict[str, Any]) -> str | None:
    """Limits checked on the raw JSON of one block (slack_sdk doesn't check these)."""
    action_ids = [d["action_id"] for d in _objects(block) if "action_id" in d]
    duplicates = [a for a, n in Counter(action_ids).items() if n > 1]
    if duplicates:
        return f"duplicate action_id {duplicates[0]!r} in one block"
    for obj in _objects(block):
        for key in ("action_id", "block_id"):
            value = obj.get(key)
            if value is not None and (not isinstance(value, str) or not value or len(value) > MAX_ID):
                return f"{key} must be 1-{MAX_ID} characters"
        kind = obj.get("type")
        text = obj.get("text")
        if "text" in obj and kind not in _STRING_TEXT_TYPES and not isinstance(text, dict):
            return f"{kind}.text must be a text object"
        if kind in _TEXT_OBJECTS:
            if not isinstance(text, str) or not text:
                return f"{kind} text must be a non-empty string"
            if len(text) > MAX_TEXT_OBJECT:
                return f"{kind} text exceeds {MAX_TEXT_OBJECT} characters"
    for obj in _objects(block):
        problem = _element_error(obj)
        if problem is not None:
            return problem
    for field in block.get("fields") or []:
        if isinstance(field, dict) and len(str(field.get("text") or "")) > MAX_FIELD:
            return f"a section field exceeds {MAX_FIELD} characters"
    return None


def _element_error(element: dict[str, Any]) -> str | None:
    """Rules of input elements Slack enforces and slack_sdk doesn't: a number input's bounds and initial value are
    numbers (whole ones unless decimals are allowed) with the initial value within the bounds; a select's initial
    option is one of its options; a multi-select starts with at most `max_selected_items`."""
    kind = element.get("type")
    if kind == "number_input":
        decimal = bool(element.get("is_decimal_allowed"))
        bounds: dict[str, float] = {}
        for key in ("min_value", "max_value", "initial_value"):
            if key in element:
                number = _number(element[key], decimal)
                if number is None:
                    return f"number_input.{key} must be a {'decimal' if decimal else 'whole'} number as a string"
                bounds[key] = number
        low, high = bounds.get("min_value", float("-inf")), bounds.get("max_value", float("inf"))
        if low > high:
            return "number_input.min_value exceeds max_value"
        if "initial_value" in bounds and not low <= bounds["initial_value"] <= high:
            return "number_input.initial_value is out of its bounds"
    if kind == "static_select" and "initial_option" in element:
        values = [o.get("value") for o in element.get("options") or [] if isinstance(o, dict)]
        if (element["initial_option"] or {}).get("value") not in values:
            return "static_select.initial_option is not one of its options"
    limit = element.get("max_selected_items")
    if isinstance(kind, str) and kind.startswith("multi_") and isinstance(limit, int):
        for key in ("initial_conversations", "initial_channels", "initial_users", "initial_options"):
            if len(element.get(key) or []) > limit:
                return f"{kind}.{key} holds more than max_selected_items"
    return None


def _number(value: Any, decimal: bool) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        number = float(value) if decimal else int(value)
    except ValueError:
        return None
    return float(number)


def _objects(value: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object inside ``value`` (itself included), depth first."""
    if isinstance(value, dict):
        yield value
        for child in value.values():
            yield from _objects(child)
    elif isinstance(value, list):
        for child in value:
            yield from _objects(child)


def _types(value: Any) -> Iterator[str]:
    for obj in _objects(value):
        kind = obj.get("type")
        if isinstance(kind, str):
            yield kind
