"""Executes stored deliveries against Slack, classifies what went wrong, and finds what already landed.

Invariant: a Slack write whose outcome is unknown (the process died mid-call, the connection dropped,
Slack answered 5xx / internal_error) is never repeated blindly. :meth:`SlackGateway.find_posted`
reads the conversation back and looks for the delivery key AskCall attaches to every post as message
metadata; it raises :class:`DeliveryError` when it can't tell, and the caller then must not resend.

Reading back needs membership on real Slack. AskCall posts into public channels it was never
invited to (``chat:write.public``), where history reads answer ``not_in_channel``; so on
``not_in_channel`` it joins the channel (``conversations.join``, ``channels:join``) and reads again:
joining a public channel reveals its whole history, messages from before the join included. The
join happens only when a read-back is needed (after a crash or an ambiguous failure), not before
each post: no Tier 3 call per post, and AskCall does not show up as a member of every channel a rep
ever used. The app's DMs are read through ``conversations.open`` (``im:write``, to learn the D… id
of the DM with a user; cached in-process, which only saves calls) and ``im:history``.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.domain import DeliveryKind, TenantId
from bot.store import Delivery

log = logging.getLogger(__name__)

METADATA_EVENT = "askcall_delivery"
# Kinds that post a new message (carrying its delivery key): the ones that can be read back.
POSTED_KINDS = (DeliveryKind.PARENT, DeliveryKind.REPLY, DeliveryKind.DIRECT)

# `ok: false` errors that say "try again later" rather than "this will never work".
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout", "team_not_ready"}
)
# The channel is out of AskCall's reach; the rep must invite the app.
UNREACHABLE_ERRORS = frozenset({"channel_not_found", "not_in_channel", "is_archived", "restricted_action"})
# `ok: false` answers after which Slack may have carried the call out anyway (Slack's docs for
# internal_error / fatal_error: "It's possible some aspect of the operation succeeded").
AMBIGUOUS_ERRORS = frozenset({"internal_error", "fatal_error", "request_timeout"})
# `DeliveryError.code` prefix of a post in doubt that Slack can't confirm either way.
UNVERIFIABLE = "unverifiable: "
# `DeliveryError.code` prefix of a response_url that takes no more posts (expired, used up, unknown).
DEAD_RESPONSE_URL = "response_url: "
# History pages read back when looking for a message (200 messages each, newest first).
MAX_HISTORY_PAGES = 10
# The search starts this long before the delivery was queued: Slack stamps messages with its own clock.
CLOCK_SKEW_MARGIN = 300.0


class DeliveryError(Exception):
    def __init__(
        self, code: str, *, transient: bool, retry_after: float | None = None, ambiguous: bool = False
    ) -> None:
        super().__init__(code)
        self.code = code
        self.transient = transient
        self.retry_after = retry_after
        # Slack may have done it anyway: check before trying again.
        self.ambiguous = ambiguous

    @property
    def unreachable(self) -> bool:
        return self.code in UNREACHABLE_ERRORS

    @property
    def unverifiable(self) -> bool:
        """A post in doubt that Slack can't confirm either way: it must not be sent again."""
        return self.code.startswith(UNVERIFIABLE)


class SlackGateway:
    def __init__(self, client: AsyncWebClient, session: aiohttp.ClientSession) -> None:
        self.client = client
        self._session = session
        # (tenant, user id) -> id of the app's DM with them
        self._dm_channels: dict[tuple[TenantId, str], str] = {}

    async def execute(self, delivery: Delivery, token: str) -> str | None:
        """Make the Slack call with the delivery's tenant's `token`; returns the message ts when Slack gives one.
        Raises DeliveryError."""
        args = dict(delivery.payload)
        try:
            if delivery.kind == DeliveryKind.RESPOND:
                await self._respond(args)
                return None
            if delivery.kind == DeliveryKind.UPDATE:
                response = await self.client.chat_update(token=token, **args)
            else:
                args["metadata"] = {"event_type": METADATA_EVENT, "event_payload": {"key": delivery.dedup_key}}
                response = await self.client.chat_postMessage(token=token, **args)
            return str(response.get("ts") or "") or None
        except SlackApiError as exc:
            raise _classify_api_error(exc) from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _network_error(exc) from exc

    async def find_posted(self, delivery: Delivery, token: str) -> str | None:
        """After a crash or an ambiguous failure: the ts of the message if Slack already has it, else None.

        Looks for the delivery key AskCall attaches as message metadata. Raises DeliveryError when
        Slack can't tell: transient (rate limit, network) → ask again later; permanent (the channel
        can't be joined or read, a response_url, a missing scope) → the caller must not resend.
        """
        if delivery.kind not in POSTED_KINDS:
            raise DeliveryError(f"{delivery.kind} can't be read back", transient=False)
        try:
            channel = await self._readable_channel(delivery.tenant, str(delivery.payload["channel"]), token)
            try:
                return await self._search(delivery, channel, token)
            except SlackApiError as exc:
                if _api_error(exc) != "not_in_channel":
                    raise
            # A public channel AskCall posts into without being a member: join, and its history shows.
            await self.client.conversations_join(token=token, channel=channel)
            log.info("joined channel %s to check whether a message already landed there", channel)
            return await self._search(delivery, channel, token)
        except SlackApiError as exc:
            raise _classify_api_error(exc) from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _network_error(exc) from exc

    async def _readable_channel(self, tenant: TenantId, channel: str, token: str) -> str:
        """The conversation id to read: a user id (the app's DM with them) becomes the DM's D… id."""
        if channel[:1] not in ("U", "W"):
            return channel
        known = self._dm_channels.get((tenant, channel))
        if known is None:
            response = await self.client.conversations_open(token=token, users=channel)
            known = str((response.get("channel") or {}).get("id") or "")
            if not known:
                raise DeliveryError("conversations.open gave no channel", transient=False)
            self._dm_channels[tenant, channel] = known
        return known

    async def _search(self, delivery: Delivery, channel: str, token: str) -> str | None:
        """The ts of the message carrying the delivery's key, reading at most MAX_HISTORY_PAGES pages."""
        thread_ts = delivery.payload.get("thread_ts")
        cursor: str | None = None
        for _ in range(MAX_HISTORY_PAGES):
            if thread_ts:
                response = await self.client.conversations_replies(
                    token=token, channel=channel, ts=thread_ts, include_all_metadata=True, limit=200, cursor=cursor
                )
            else:
                response = await self.client.conversations_history(
                    token=token,
                    channel=channel,
                    oldest=str(delivery.created_at - CLOCK_SKEW_MARGIN),
                    include_all_metadata=True,
                    limit=200,
                    cursor=cursor,
                )
            for message in response.get("messages") or []:
                if _carries_key(message, delivery.dedup_key):
                    return str(message.get("ts"))
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if not response.get("has_more") or not cursor:
                return None
        raise DeliveryError("history_too_long", transient=False)

    async def _respond(self, args: dict[str, Any]) -> None:
        url = args.pop("response_url")
        webhook = AsyncWebhookClient(url=url, session=self._session, timeout=10)
        try:
            response = await webhook.send_dict(args)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise _network_error(exc) from exc
        if response.status_code == 429:
            raise DeliveryError("http_429", transient=True)
        if response.status_code >= 500:
            raise DeliveryError(f"http_{response.status_code}", transient=True, ambiguous=True)
        if response.status_code >= 400:
            # Expired or used-up response_url: nothing more can be done through it.
            raise DeliveryError(f"{DEAD_RESPONSE_URL}{response.body or response.status_code}", transient=False)


def _carries_key(message: dict[str, Any], key: str) -> bool:
    metadata = message.get("metadata") or {}
    return metadata.get("event_type") == METADATA_EVENT and (metadata.get("event_payload") or {}).get("key") == key


def _api_error(exc: SlackApiError) -> str:
    data = getattr(exc.response, "data", None)
    return str(data.get("error") or "") if isinstance(data, dict) else ""


def _network_error(exc: BaseException) -> DeliveryError:
    """A connection that was never made is a clean failure; any later break leaves the outcome unknown."""
    ambiguous = not isinstance(exc, aiohttp.ClientConnectorError)
    return DeliveryError(f"network: {type(exc).__name__}", transient=True, ambiguous=ambiguous)


def _classify_api_error(exc: SlackApiError) -> DeliveryError:
    response = exc.response
    status = getattr(response, "status_code", 0) or 0
    error = _api_error(exc)
    if status == 429:
        retry_after = _float(response.headers.get("retry-after") or response.headers.get("Retry-After"))
        return DeliveryError("ratelimited", transient=True, retry_after=retry_after if retry_after else 1.0)
    if status >= 500:
        return DeliveryError(f"http_{status}", transient=True, ambiguous=True)
    if error in TRANSIENT_ERRORS:
        return DeliveryError(error, transient=True, ambiguous=error in AMBIGUOUS_ERRORS)
    if error == "missing_scope":
        data = getattr(response, "data", None)
        needed = str(data.get("needed") or "") if isinstance(data, dict) else ""
        return DeliveryError(f"missing_scope: {needed}" if needed else error, transient=False)
    return DeliveryError(error or f"http_{status}", transient=False)


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
