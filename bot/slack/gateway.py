"""Executes stored deliveries against Slack and classifies what went wrong."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.store import Delivery

log = logging.getLogger(__name__)

# Delivery kinds and the Slack call each one makes.
PARENT = "parent"  # chat.postMessage in the channel; its ts becomes the request's thread
REPLY = "reply"  # chat.postMessage with thread_ts
UPDATE = "update"  # chat.update of the parent
RESPOND = "respond"  # POST to the slash command's response_url (ephemeral to the rep)
DIRECT = "direct"  # chat.postMessage to the rep's user id (app DM), when there is no response_url

METADATA_EVENT = "askcall_delivery"

# `ok: false` errors that say "try again later" rather than "this will never work".
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout", "team_not_ready"}
)
# The channel is out of AskCall's reach; the rep must invite the app.
UNREACHABLE_ERRORS = frozenset({"channel_not_found", "not_in_channel", "is_archived", "restricted_action"})


class DeliveryError(Exception):
    def __init__(self, code: str, *, transient: bool, retry_after: float | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.transient = transient
        self.retry_after = retry_after

    @property
    def unreachable(self) -> bool:
        return self.code in UNREACHABLE_ERRORS


class SlackGateway:
    def __init__(self, client: AsyncWebClient, session: aiohttp.ClientSession) -> None:
        self.client = client
        self._session = session

    async def execute(self, delivery: Delivery) -> str | None:
        """Make the Slack call; returns the message ts when Slack gives one. Raises DeliveryError."""
        args = dict(delivery.payload)
        try:
            if delivery.kind == RESPOND:
                await self._respond(args)
                return None
            if delivery.kind == UPDATE:
                response = await self.client.chat_update(**args)
            else:
                args["metadata"] = {"event_type": METADATA_EVENT, "event_payload": {"key": delivery.dedup_key}}
                response = await self.client.chat_postMessage(**args)
            return str(response.get("ts") or "") or None
        except SlackApiError as exc:
            raise _classify_api_error(exc) from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise DeliveryError(f"network: {type(exc).__name__}", transient=True) from exc

    async def find_posted(self, delivery: Delivery) -> str | None:
        """After a crash mid-send: the ts of the message if Slack already has it, else None.

        Looks for the delivery key AskCall attaches as message metadata. Raises DeliveryError when
        Slack can't tell (e.g. the history scopes are missing); the caller then sends again.
        """
        args = delivery.payload
        try:
            if delivery.kind == REPLY:
                response = await self.client.conversations_replies(
                    channel=args["channel"], ts=args["thread_ts"], include_all_metadata=True, limit=200
                )
            elif delivery.kind == PARENT:
                response = await self.client.conversations_history(
                    channel=args["channel"], oldest=str(delivery.created_at - 60), include_all_metadata=True, limit=200
                )
            else:
                return None
        except SlackApiError as exc:
            raise _classify_api_error(exc) from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise DeliveryError(f"network: {type(exc).__name__}", transient=True) from exc
        for message in response.get("messages") or []:
            metadata = message.get("metadata") or {}
            if (
                metadata.get("event_type") == METADATA_EVENT
                and (metadata.get("event_payload") or {}).get("key") == delivery.dedup_key
            ):
                return str(message.get("ts"))
        return None

    async def _respond(self, args: dict[str, Any]) -> None:
        url = args.pop("response_url")
        webhook = AsyncWebhookClient(url=url, session=self._session, timeout=10)
        try:
            response = await webhook.send_dict(args)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise DeliveryError(f"network: {type(exc).__name__}", transient=True) from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise DeliveryError(f"http_{response.status_code}", transient=True)
        if response.status_code >= 400:
            # Expired or used-up response_url: nothing more can be done through it.
            raise DeliveryError(f"response_url: {response.body or response.status_code}", transient=False)


def _classify_api_error(exc: SlackApiError) -> DeliveryError:
    response = exc.response
    status = getattr(response, "status_code", 0) or 0
    error = ""
    data = getattr(response, "data", None)
    if isinstance(data, dict):
        error = str(data.get("error") or "")
    if status == 429:
        retry_after = _float(response.headers.get("retry-after") or response.headers.get("Retry-After"))
        return DeliveryError("ratelimited", transient=True, retry_after=retry_after if retry_after else 1.0)
    if status >= 500:
        return DeliveryError(f"http_{status}", transient=True)
    if error in TRANSIENT_ERRORS:
        return DeliveryError(error, transient=True)
    return DeliveryError(error or f"http_{status}", transient=False)


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
