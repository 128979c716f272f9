"""A fake Slack Web API (plus response_url endpoint) served by aiohttp on loopback.

Used by the test-suite and by ``askcall demo``. Point ``AsyncWebClient(base_url=fake.api_url)``
at it; Bolt's ``respond()`` can be pointed at ``fake.response_url("r1")``.

Also contains helpers to build and sign the requests Slack itself would send to the app
(slash commands, interaction payloads).

Invariant: the fake is at least as strict as real Slack wherever AskCall depends on it, so a test that
passes here does not fail against Slack for a rule the fake skipped:

* scopes are the ones ``manifest.yml`` grants (``oauth_config.scopes.bot``); every method checks its
  scope and answers ``missing_scope`` with ``needed`` / ``provided`` like Slack;
* membership: history reads answer ``not_in_channel`` unless the bot joined or was invited; a public
  channel (``C…`` by default) is one AskCall only posts into through ``chat:write.public``; a private
  one (``G…`` by default) is one it was invited to; posting into a private channel it is not in
  answers ``channel_not_found``; ``conversations.join`` refuses private channels; joining a public
  channel makes its whole history readable; ``chat.postMessage`` to a user id posts in the app's DM
  with that user (``D…``);
* GET methods read their arguments from the query string only; POST from the query, form or JSON;
* every Block Kit payload (messages, views, response_url bodies) is validated
  (:mod:`bot.fakes.blockkit`) and refused with ``invalid_blocks`` / ``invalid_arguments``;
* message metadata comes back from history reads only with ``include_all_metadata=true``; metadata that
  is not an object with ``event_type`` and ``event_payload`` is refused (``invalid_metadata_format`` /
  ``invalid_metadata_schema``);
* ``conversations.history`` / ``.replies`` page with ``limit`` and an opaque ``cursor`` (``has_more``,
  ``response_metadata.next_cursor``);
* ``chat.update`` refuses messages the bot did not write (``cant_update_message``) and updates with
  neither text nor blocks (``no_text``); ``chat.postEphemeral`` refuses a user who is not in the channel
  (``user_not_in_channel``); ``users.info`` refuses ids that name no user (``user_not_found``);
* lifetimes: a ``response_url`` takes :data:`RESPONSE_URL_POSTS` posts within
  :data:`RESPONSE_URL_LIFETIME` (then 404 ``used_url`` / ``expired_url``); a ``trigger_id`` opens one view
  within :data:`TRIGGER_LIFETIME` (``expired_trigger_id``, ``exchanged_trigger_id``, and
  ``invalid_trigger_id`` for one Slack never issued). Time is the fake's ``clock``, injectable;
* ``chat.postMessage`` is rate limited per channel (:data:`CHANNEL_POST_RATE` a second, bursts of
  :data:`CHANNEL_POST_BURST`): 429 ``ratelimited`` with ``Retry-After``, nothing stored;
* scripted failures: :meth:`FakeSlack.fail_next` (nothing is done), :meth:`FakeSlack.fail_after_storing`
  and :meth:`FakeSlack.drop_after_storing` (the message IS stored, then a 5xx or a dropped connection),
  :meth:`FakeSlack.hang_next` (carried out, then never answered: the caller dies meanwhile).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import math
import re
import secrets
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode

import yaml
from aiohttp import WSMsgType, web
from slack_sdk.signature import SignatureVerifier

from bot.fakes import blockkit
from bot.fakes.server import LoopbackServer
from bot.fakes.slack_oauth import SlackOAuth
from bot.slack.scopes import REQUIRED_BOT_SCOPES

__all__ = [
    "FakeChannel",
    "FakeSlack",
    "SlackCall",
    "button_payload",
    "interaction_body",
    "manifest_scopes",
    "shortcut_payload",
    "slack_signed_headers",
    "slash_command_body",
    "slash_command_envelope",
    "view_submission_payload",
]

MANIFEST = Path(__file__).resolve().parents[2] / "manifest.yml"

# The scope each method needs (history reads depend on the conversation's kind, see _HISTORY_SCOPES).
_METHOD_SCOPES = {
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.postEphemeral": "chat:write",
    "conversations.join": "channels:join",
    "conversations.open": "im:write",
    "users.info": "users:read",
    "usergroups.users.list": "usergroups:read",
}
PUBLIC, PRIVATE, IM = "public", "private", "im"
_HISTORY_SCOPES = {PUBLIC: "channels:history", PRIVATE: "groups:history", IM: "im:history"}
_HISTORY_METHODS = ("conversations.history", "conversations.replies")
_BLOCK_METHODS = ("chat.postMessage", "chat.update", "chat.postEphemeral")
_VIEW_METHODS = ("views.open", "views.update", "views.publish")
# A hung call is answered (or dropped) at the latest after this long, so a forgotten test can't hang forever.
HANG_LIMIT = 60.0
# A response_url takes up to 5 posts within 30 minutes of the interaction: the limit Slack's docs commonly state.
RESPONSE_URL_POSTS = 5
RESPONSE_URL_LIFETIME = 30 * 60.0
# A trigger_id opens one view, within about 3 seconds of the interaction.
TRIGGER_LIFETIME = 3.0
# chat.postMessage: "1 message per second per channel, short bursts >1 allowed" (Slack's rate-limit docs).
# A token bucket: CHANNEL_POST_BURST posts at once, then one more every 1 / CHANNEL_POST_RATE seconds.
CHANNEL_POST_RATE = 1.0
CHANNEL_POST_BURST = 5
# conversations.history pages 100 messages by default, conversations.replies 1000; both at most 1000.
_DEFAULT_LIMITS = {"conversations.history": 100, "conversations.replies": 1000}
_MAX_LIMIT = 1000
# What a user id looks like (users.info answers user_not_found for anything else).
_USER_ID = re.compile(r"^[UW][A-Z0-9]+$")


def manifest_scopes(path: Path = MANIFEST) -> str:
    """The bot scopes ``manifest.yml`` grants, comma separated like Slack's ``x-oauth-scopes``.

    Installed without the repository (``askcall demo`` from a wheel) there is no manifest: then the
    scopes AskCall requires, which tests/test_manifest.py keeps equal to the manifest's.
    """
    if not path.is_file():
        return ",".join(REQUIRED_BOT_SCOPES)
    manifest = yaml.safe_load(path.read_text(encoding="utf-8"))
    return ",".join(manifest["oauth_config"]["scopes"]["bot"])


# Arguments that slack_sdk may send as JSON strings when the request is form-encoded.
_JSON_ARGS = ("blocks", "metadata", "attachments", "view")
# Arguments that arrive as "1"/"0"/"true"/"false" strings in form/query requests.
_BOOL_TRUE = {"1", "true", "True", True}


@dataclass
class SlackCall:
    """One Web API call received by :class:`FakeSlack`."""

    method: str
    args: dict[str, Any]
    at: float  # time.monotonic() when the request arrived
    wall: float  # time.time() when the request arrived
    outcome: str = "pending"  # "ok", the Slack error string, or the scripted HTTP status
    # Carried out, but the caller never got the answer (the connection was dropped).
    dropped: bool = False
    # The team whose token made the call.
    team: str | None = None

    @property
    def in_doubt(self) -> bool:
        """Whether the caller can't know if Slack carried the call out: no answer, a 5xx, or an error that
        Slack documents as "some aspect of the operation may have succeeded"."""
        return self.dropped or (self.outcome.isdigit() and int(self.outcome) >= 500) or self.outcome in _AMBIGUOUS


@dataclass
class FakeChannel:
    """One conversation as the fake sees it: its kind and whether the bot is in it."""

    id: str
    kind: str  # PUBLIC, PRIVATE or IM
    member: bool
    archived: bool = False
    join_error: str | None = None  # what conversations.join answers instead (e.g. a Slack Connect channel)
    # Who is in it: None means anyone a test names (the default for conversations it does not describe).
    users: set[str] | None = None
    # chat.postMessage's rate limit: posts left in the burst, and when that was last counted (fake clock).
    post_tokens: float = CHANNEL_POST_BURST
    counted_at: float | None = None

    def has_user(self, user: str) -> bool:
        if self.kind == IM:
            return self.id == f"D{user}"
        return self.users is None or user in self.users


@dataclass
class _Scripted:
    status: int = 200
    error: str | None = None
    retry_after: float | None = None
    delay: float = 0.0
    remaining: int = 1
    hang: bool = False
    # Carry the call out first, then fail it (`status` / `error`) or, with `drop`, never answer.
    after: bool = False
    drop: bool = False


@dataclass
class _Issued:
    """A response_url or trigger_id the fake handed out: when (fake clock), and how often it was used."""

    at: float
    uses: int = 0


# The key of response_url posts among the scripted failures (`fail_response_urls_next`).
_RESPONSE_URL = "response_url"
# `ok: false` errors after which Slack may have carried the call out anyway.
_AMBIGUOUS = frozenset({"internal_error", "fatal_error", "request_timeout"})
# Refusals of a call that was malformed (a bug in the caller, not a state of the workspace): kept in
# `invalid_payloads` with the Block Kit ones.
_MALFORMED = frozenset(
    {
        "no_text",
        "cant_update_message",
        "invalid_metadata_format",
        "invalid_metadata_schema",
        "invalid_cursor",
        "invalid_limit",
        "invalid_trigger_id",
        "exchanged_trigger_id",
    }
)


def _ts_key(ts: str) -> tuple[int, int]:
    sec, _, frac = ts.partition(".")
    return int(sec), int(frac or 0)


def _truthy(value: Any) -> bool:
    return value in _BOOL_TRUE


def _public(message: dict[str, Any], *, metadata: bool = True) -> dict[str, Any]:
    """The message as the API returns it (None-valued keys dropped, like Slack); its metadata only when asked."""
    return {k: v for k, v in message.items() if v is not None and (metadata or k != "metadata")}


def _cursor(ts: str) -> str:
    """An opaque cursor, as Slack's look: base64 of ``next_ts:<ts>``."""
    return base64.b64encode(f"next_ts:{ts}".encode()).decode()


def _cursor_ts(cursor: str) -> tuple[int, int] | None:
    try:
        text = base64.b64decode(cursor.encode(), validate=True).decode()
    except ValueError:
        return None
    if not text.startswith("next_ts:"):
        return None
    try:
        return _ts_key(text.removeprefix("next_ts:"))
    except ValueError:
        return None


def _metadata_error(metadata: Any) -> str | None:
    """Why Slack refuses a message's ``metadata``, or None."""
    if metadata is None:
        return None
    if not isinstance(metadata, dict):
        return "invalid_metadata_format"
    event_type = metadata.get("event_type")
    if not isinstance(event_type, str) or not event_type or not isinstance(metadata.get("event_payload"), dict):
        return "invalid_metadata_schema"
    return None


class FakeSlack(LoopbackServer):
    """In-process fake of the Slack Web API methods AskCall uses."""

    def __init__(
        self,
        token: str = "xoxb-test",
        bot_user_id: str = "UBOT",
        team_id: str = "T1",
        app_token: str = "xapp-test",
        *,
        validate_blocks: bool = True,
        limits: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token = token
        # Lifetimes (response_url, trigger_id) and rate limits run on this clock (plus `pass_time`).
        self.clock = clock
        self._time_passed = 0.0
        # Block Kit validation costs ~0.6 ms of CPU a message; only the benchmark's load fake turns it off.
        self.validate_blocks = validate_blocks
        # App-level token for Socket Mode: only `apps.connections.open` accepts it.
        self.app_token = app_token
        self.bot_user_id = bot_user_id
        self.team_id = team_id
        # Comma separated, like Slack's x-oauth-scopes header; tests may narrow it.
        self.scopes: str = manifest_scopes()
        self.channels: dict[str, FakeChannel] = {}
        # The workspaces, their bot tokens and the OAuth install flow (bot.fakes.slack_oauth). The token given here
        # is the first team's; more teams come with `oauth.add_team`, their tokens from installs.
        self.oauth = SlackOAuth(clock=self.now, granted_scopes=lambda: self.scopes)
        self.oauth.add_team(team_id, "Fake", bot_user_id=bot_user_id).bot_id = "BBOT"
        self.oauth.grant(team_id, token)
        # Which team each conversation belongs to (set by the first team that names it): another team's token is
        # told it does not exist (channel_not_found).
        self.channel_teams: dict[str, str] = {}
        self._caller_team = team_id
        self._caller_token: str | None = None

        self.calls: list[SlackCall] = []
        self.messages: list[dict[str, Any]] = []
        self.updates: list[dict[str, Any]] = []
        self.ephemerals: list[dict[str, Any]] = []
        self.views: list[dict[str, Any]] = []
        self.home_views: dict[str, dict[str, Any]] = {}
        self.responses: list[dict[str, Any]] = []
        self.rejected_responses: list[dict[str, Any]] = []
        # Every payload refused as real Slack would, for being malformed (Block Kit, metadata, an empty update, a
        # reused trigger_id…): (method or "response_url", why).
        self.invalid_payloads: list[tuple[str, str]] = []
        self.joined_channels: set[str] = set()

        self.unreachable_channels: dict[str, str] = {}
        self.user_locales: dict[str, str] = {}
        self.user_names: dict[str, str] = {}  # users.info's real_name (default "Rep <id>")
        self.usergroups: dict[str, list[str]] = {}
        self.unknown_users: set[str] = set()  # ids users.info answers user_not_found for
        self.admins: set[str] = set()  # users.info's is_admin (workspace admins)
        self.owners: set[str] = set()  # users.info's is_owner
        self.fail_response_urls: bool = False
        self._response_urls: dict[str, _Issued] = {}
        self._triggers: dict[str, _Issued] = {}
        # Slack's limits on posting (per channel) and on a response_url's posts and lifetime. Only the benchmark's
        # load fake turns them off: it measures AskCall, not Slack's limits.
        self.limits = limits
        self.post_rate: float | None = CHANNEL_POST_RATE if limits else None
        self.post_burst: int = CHANNEL_POST_BURST

        # Socket Mode: open WebSockets (newest last), every connection ever made, and what clients sent.
        self.sockets: list[web.WebSocketResponse] = []
        self.socket_connections: int = 0
        self.socket_acks: list[dict[str, Any]] = []
        self._socket_tickets: set[str] = set()  # issued by apps.connections.open, each good for one connection

        self._scripts: dict[str, deque[_Scripted]] = {}
        # Workspaces Slack is rate-limiting as a whole: team → until when (the fake's clock), as `throttle_team` set.
        self._throttled: dict[str, float] = {}
        self._ts_counter = itertools.count(100)
        self._last_sec = 0
        self._view_counter = itertools.count(1)
        self._hung: list[asyncio.Future[bool]] = []

        super().__init__(self._build_app())

    # ------------------------------------------------------------------ lifecycle
    def _build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("POST", "/api/{method}", self._handle_api)
        # slack_sdk sends some methods (conversations.replies, users.info, ...) as GET.
        app.router.add_route("GET", "/api/{method}", self._handle_api)
        app.router.add_post("/response/{name}", self._handle_response_url)
        app.router.add_get("/socket", self._handle_socket)
        app.router.add_get("/oauth/v2/authorize", self.oauth.authorize_page)
        app.router.add_get("/oauth/v2/authorize/allow", self.oauth.allow)
        app.router.add_get("/oauth/v2/authorize/cancel", self.oauth.cancel)
        return app

    async def stop(self) -> None:
        self.release_hung(answer=False)
        for socket in list(self.sockets):
            await socket.close()
        await super().stop()

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    def response_url(self, name: str = "r1") -> str:
        """The response_url ``name``: issued now (on the fake's clock) the first time it is asked for."""
        self._response_urls.setdefault(name, _Issued(self.now()))
        return f"{self.base_url}/response/{name}"

    def now(self) -> float:
        """The fake's time: its clock, moved on by :meth:`pass_time`."""
        return self.clock() + self._time_passed

    def pass_time(self, seconds: float) -> None:
        """Let ``seconds`` go by for the fake at once (response_urls and trigger_ids age, rate limits refill)."""
        self._time_passed += seconds

    def new_response_url(self) -> str:
        """A response_url no one was given before (r1, r2, …), as each interaction gets its own."""
        number = len(self._response_urls) + 1
        while f"r{number}" in self._response_urls:
            number += 1
        return self.response_url(f"r{number}")

    def trigger_id(self) -> str:
        """A trigger_id for an interaction happening now (on the fake's clock): it opens one view, soon."""
        trigger = _new_trigger_id()
        self._triggers[trigger] = _Issued(self.now())
        return trigger

    @property
    def socket_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/socket"

    # ------------------------------------------------------------------ scripting
    def fail_next(
        self,
        method: str,
        *,
        status: int = 200,
        error: str | None = None,
        retry_after: float | None = None,
        times: int = 1,
        delay: float = 0.0,
    ) -> None:
        """Answer the next ``times`` calls to ``method`` with a failure.

        ``error`` -> body ``{"ok": false, "error": error}`` (429 defaults to "ratelimited");
        status >= 500 without error -> plain-text "upstream error"; other non-200 statuses
        without error -> ``{"ok": false, "error": "http_<status>"}``; status 200 without
        error -> answered normally after ``delay``. Failed calls store nothing.
        """
        if error is None and status == 429:
            error = "ratelimited"
        self._scripts.setdefault(method, deque()).append(
            _Scripted(status=status, error=error, retry_after=retry_after, delay=delay, remaining=times)
        )

    def fail_after_storing(
        self, method: str, *, status: int | None = None, error: str | None = None, times: int = 1
    ) -> None:
        """Carry out the next ``times`` calls to ``method`` (a message IS stored), then answer with a failure:
        ``status`` (default 500, a plain-text "upstream error") or, with ``error``, ``{"ok": false, "error":
        error}`` (e.g. ``internal_error``, with status 200 unless given). The caller can't tell it from a
        failure that did nothing."""
        status = status if status is not None else (200 if error else 500)
        self._scripts.setdefault(method, deque()).append(
            _Scripted(status=status, error=error, remaining=times, after=True)
        )

    def fail_response_urls_next(self, status: int, times: int = 1) -> None:
        """Answer the next ``times`` posts to any response_url with ``status`` (a 429, or a 5xx with a plain-text
        "upstream error"), storing nothing and using nothing up."""
        self._scripts.setdefault(_RESPONSE_URL, deque()).append(_Scripted(status=status, remaining=times))

    def drop_after_storing(self, method: str, times: int = 1) -> None:
        """Carry out the next ``times`` calls to ``method`` (a message IS stored), then drop the connection
        without answering."""
        self._scripts.setdefault(method, deque()).append(_Scripted(remaining=times, after=True, drop=True))

    def throttle_team(self, team: str, seconds: float) -> None:
        """Answer every Web API call made with `team`'s token 429 (Retry-After: the seconds left) for `seconds`:
        that workspace is over its rate limit; the others are not."""
        self._throttled[team] = self.now() + seconds

    def clear_scripts(self) -> None:
        """Forget every scripted answer: the service is healthy again."""
        self._scripts.clear()

    def hang_next(self, method: str, times: int = 1) -> None:
        """Carry out the next ``times`` calls to ``method`` (a message IS stored), then never answer.

        The response waits until :meth:`release_hung` (or :data:`HANG_LIMIT`): the caller gives up
        or dies meanwhile, not knowing whether Slack did it. :attr:`hanging` counts the waiting calls.
        """
        self._scripts.setdefault(method, deque()).append(_Scripted(hang=True, remaining=times))

    def release_hung(self, *, answer: bool = True) -> None:
        """Let every hung call finish: with its real answer, or (``answer=False``) by dropping the connection."""
        for waiter in self._hung:
            if not waiter.done():
                waiter.set_result(answer)
        self._hung.clear()

    @property
    def hanging(self) -> int:
        return sum(1 for waiter in self._hung if not waiter.done())

    # ------------------------------------------------------------------ channels and membership
    def channel(self, channel_id: str) -> FakeChannel:
        """The conversation ``channel_id``; unknown ids get defaults from their prefix.

        ``D…``: the app's DM with a user. ``G…``: a private channel the bot was invited to (the only
        way it can post there). Anything else (``C…``): a public channel the bot is NOT a member of
        and posts into with ``chat:write.public``; :meth:`add_member` models an invitation.
        """
        found = self.channels.get(channel_id)
        if found is None:
            if channel_id.startswith("D"):
                found = FakeChannel(channel_id, IM, member=True)
            elif channel_id.startswith("G"):
                found = FakeChannel(channel_id, PRIVATE, member=True)
            else:
                found = FakeChannel(channel_id, PUBLIC, member=False)
            self.channels[channel_id] = found
        return found

    def add_channel(
        self,
        channel_id: str,
        *,
        private: bool = False,
        member: bool = False,
        archived: bool = False,
        join_error: str | None = None,
    ) -> FakeChannel:
        """Declare a conversation explicitly (e.g. a private ``C…`` channel, an archived or Slack Connect one)."""
        channel = FakeChannel(channel_id, PRIVATE if private else PUBLIC, member, archived, join_error)
        self.channels[channel_id] = channel
        return channel

    def add_member(self, channel_id: str) -> None:
        """Someone ran ``/invite @askcall`` in ``channel_id``."""
        self.channel(channel_id).member = True

    def add_message(self, channel_id: str, text: str, *, user: str = "U9", ts: str | None = None) -> dict[str, Any]:
        """A message someone else wrote in ``channel_id`` (not through the API: no call is recorded)."""
        message = {"type": "message", "channel": channel_id, "ts": ts or self._new_ts(), "text": text, "user": user}
        self.messages.append(message)
        return message

    @staticmethod
    def dm_channel(user_id: str) -> str:
        """The id of the app's DM with ``user_id`` (what chat.postMessage to a user id posts into)."""
        return f"D{user_id}"

    def granted(self) -> set[str]:
        return {scope.strip() for scope in self.scopes.split(",") if scope.strip()}

    def _missing_scope(self, needed: str) -> dict[str, Any] | None:
        if needed in self.granted():
            return None
        return {"ok": False, "error": "missing_scope", "needed": needed, "provided": self.scopes}

    def delay_next(self, method: str, seconds: float, times: int = 1) -> None:
        """Sleep ``seconds`` before answering the next ``times`` calls to ``method`` normally."""
        self.fail_next(method, delay=seconds, times=times)

    def _take_script(self, method: str) -> _Scripted | None:
        queue = self._scripts.get(method)
        if not queue:
            return None
        script = queue[0]
        script.remaining -= 1
        if script.remaining <= 0:
            queue.popleft()
        return script

    # ------------------------------------------------------------------ queries
    def calls_to(self, method: str, only_ok: bool = True) -> list[SlackCall]:
        return [c for c in self.calls if c.method == method and (not only_ok or c.outcome == "ok")]

    def channel_messages(self, channel: str) -> list[dict[str, Any]]:
        """All stored messages of ``channel`` (parents and replies), oldest first."""
        return sorted((m for m in self.messages if m["channel"] == channel), key=lambda m: _ts_key(m["ts"]))

    def thread_replies(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """Replies (parent excluded) of the thread ``thread_ts`` in ``channel``, oldest first."""
        return [m for m in self.channel_messages(channel) if m.get("thread_ts") == thread_ts and m["ts"] != thread_ts]

    def find_message(self, channel: str, ts: str) -> dict[str, Any] | None:
        for m in self.messages:
            if m["channel"] == channel and m["ts"] == ts:
                return m
        return None

    def summary(self) -> str:
        lines = [f"{len(self.calls)} Slack call(s):"]
        for c in self.calls:
            args = {k: v for k, v in c.args.items() if k in ("channel", "ts", "thread_ts", "text", "user")}
            text = json.dumps(args, ensure_ascii=False, default=str)
            if len(text) > 200:
                text = text[:197] + "..."
            lines.append(f"  {c.method} -> {c.outcome} {text}")
        lines.append(f"{len(self.responses)} response_url post(s)")
        return "\n".join(lines)

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Poll ``predicate`` every 10 ms until it is true; AssertionError after ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if predicate():
                return
            if loop.time() >= deadline:
                name = getattr(predicate, "__name__", repr(predicate))
                raise AssertionError(f"FakeSlack.wait_for({name}) timed out after {timeout}s\n{self.summary()}")
            await asyncio.sleep(0.01)

    # ------------------------------------------------------------------ helpers
    def _new_ts(self) -> str:
        self._last_sec = max(self._last_sec, int(time.time()))
        return f"{self._last_sec}.{next(self._ts_counter):06d}"

    @staticmethod
    async def _read_args(request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        # Like Slack, a GET's arguments come from the query string only: a GET body is ignored.
        if request.method == "POST" and request.can_read_body:
            ctype = request.content_type
            if ctype == "application/json":
                raw = await request.text()
                if raw.strip():
                    body = json.loads(raw)
                    if isinstance(body, dict):
                        args.update(body)
            elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
                form = await request.post()
                args.update({k: v for k, v in form.items() if isinstance(v, str)})
        for key in _JSON_ARGS:
            value = args.get(key)
            if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
                with contextlib.suppress(ValueError):
                    args[key] = json.loads(value)
        return args

    @staticmethod
    def _ok(**payload: Any) -> dict[str, Any]:
        return {"ok": True, **payload}

    @staticmethod
    def _err(error: str, why: str | None = None) -> dict[str, Any]:
        if why is None:
            return {"ok": False, "error": error}
        return {"ok": False, "error": error, "response_metadata": {"messages": [f"[ERROR] {why}"]}}

    def _post_error(self, channel_id: str) -> str | None:
        """Why chat.postMessage / chat.postEphemeral can't post in ``channel_id``, or None."""
        if channel_id in self.unreachable_channels:
            return self.unreachable_channels[channel_id]
        channel = self.channel(channel_id)
        if channel.archived:
            return "is_archived"
        if channel.member:
            return None
        if channel.kind == PRIVATE:
            return "channel_not_found"  # a private channel the bot is not in does not exist for it
        return None if "chat:write.public" in self.granted() else "not_in_channel"

    def _read_error(self, channel_id: str) -> str | None:
        """Why conversations.history / conversations.replies can't read ``channel_id``, or None."""
        if not channel_id:
            return "channel_not_found"
        if channel_id in self.unreachable_channels:
            return self.unreachable_channels[channel_id]
        channel = self.channel(channel_id)
        if channel.member:
            return None
        return "channel_not_found" if channel.kind == PRIVATE else "not_in_channel"

    # ------------------------------------------------------------------ HTTP handlers
    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        now_mono, now_wall = time.monotonic(), time.time()
        try:
            args = await self._read_args(request)
        except ValueError:
            call = SlackCall(method, {}, now_mono, now_wall, outcome="invalid_json")
            self.calls.append(call)
            return web.json_response(self._err("invalid_json"))

        token = args.pop("token", None)
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            token = auth.removeprefix("Bearer ").strip()
        call = SlackCall(method, args, now_mono, now_wall)
        self.calls.append(call)

        if method == "oauth.v2.access":  # the app authenticates with its client id and secret, not a token
            body = self.oauth.access(args, request.headers.get("Authorization", ""))
            call.outcome = "ok" if body.get("ok") else str(body.get("error"))
            return web.json_response(body)
        # Like Slack: the other kind of valid token is refused as such, anything else as invalid_auth (or as revoked
        # or expired, for a bot token that was).
        team, refusal = self.oauth.team_of(token)
        if method == "apps.connections.open":
            team, refusal = (self.team_id, "ok") if token == self.app_token else (None, "not_allowed_token_type")
            if token != self.app_token and self.oauth.team_of(token)[0] is None:
                refusal = "invalid_auth"
        elif token == self.app_token:
            refusal = "not_allowed_token_type"
        if team is None:
            call.outcome = refusal
            return web.json_response(self._err(call.outcome))
        call.team = team
        self._caller_team, self._caller_token = team, token
        if (left := self._throttled.get(team, 0.0) - self.now()) > 0:
            call.outcome = "ratelimited"
            return web.json_response(
                self._err("ratelimited"), status=429, headers={"Retry-After": str(max(1, math.ceil(left)))}
            )

        script = self._take_script(method)
        if script is not None and not script.hang and not script.after:
            if script.delay > 0:
                await asyncio.sleep(script.delay)
            failed = self._scripted_response(script, call)
            if failed is not None:
                return failed

        if method == "chat.postMessage" and (wait := self._rate_limited(args)) is not None:
            call.outcome = "ratelimited"
            return web.json_response(
                self._err("ratelimited"), status=429, headers={"Retry-After": str(max(1, math.ceil(wait)))}
            )
        body = self._answer(method, args)
        call.outcome = "ok" if body.get("ok") else str(body.get("error"))
        if script is not None and script.after and not script.drop:
            return self._scripted_response(script, call) or web.json_response(body)
        if script is not None and (script.drop or (script.hang and not await self._hang())):
            call.dropped = True
            if request.transport is not None:
                request.transport.abort()  # the answer never arrives
            return web.Response(status=504)
        headers = {"x-oauth-scopes": self.scopes} if method == "auth.test" else None
        return web.json_response(body, headers=headers)

    def _rate_limited(self, args: dict[str, Any]) -> float | None:
        """chat.postMessage's per-channel limit: None when a post may go now, else the seconds until it may.
        Only a post that lands takes from the channel's burst (see :meth:`_take_post_token`)."""
        if self.post_rate is None:
            return None
        channel = self._refill(self._post_channel(str(args.get("channel") or "")))
        if channel.post_tokens >= 1:
            return None
        return (1 - channel.post_tokens) / self.post_rate

    def _refill(self, channel_id: str) -> FakeChannel:
        channel = self.channel(channel_id)
        now = self.now()
        if channel.counted_at is not None and self.post_rate is not None:
            refilled = channel.post_tokens + (now - channel.counted_at) * self.post_rate
            channel.post_tokens = min(float(self.post_burst), refilled)
        channel.counted_at = now
        return channel

    def _take_post_token(self, channel_id: str) -> None:
        if self.post_rate is not None:
            self._refill(channel_id).post_tokens -= 1

    def _post_channel(self, channel: str) -> str:
        """Where chat.postMessage to ``channel`` lands: a user id means the app's DM with that user."""
        if channel[:1] in ("U", "W") and channel not in self.unreachable_channels:
            return self.dm_channel(channel)
        return channel

    async def _hang(self) -> bool:
        """Wait for :meth:`release_hung`; True to answer, False to drop the connection."""
        waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._hung.append(waiter)
        try:
            return await asyncio.wait_for(waiter, HANG_LIMIT)
        except TimeoutError:
            return False

    def _answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        """Scope and payload checks shared by every method, then the method itself."""
        needed = _METHOD_SCOPES.get(method)
        if needed is not None and (missing := self._missing_scope(needed)) is not None:
            return missing
        if method in _HISTORY_METHODS:
            channel = self.channel(str(args.get("channel") or ""))
            if (missing := self._missing_scope(_HISTORY_SCOPES[channel.kind])) is not None:
                return missing
        if method in _BLOCK_METHODS and self.validate_blocks:
            if args.get("blocks") is not None and (why := blockkit.message_blocks_error(args["blocks"])):
                self.invalid_payloads.append((method, why))
                return self._err("invalid_blocks", why)
            if why := blockkit.message_text_error(args.get("text")):
                self.invalid_payloads.append((method, why))
                return self._err("msg_too_long", why)
        if method in _VIEW_METHODS and self.validate_blocks and (why := blockkit.view_error(args.get("view"))):
            self.invalid_payloads.append((method, why))
            return self._err("invalid_arguments", why)
        if (channel_id := args.get("channel")) and isinstance(channel_id, str) and channel_id[:1] not in ("U", "W"):
            owner = self.channel_teams.setdefault(channel_id, self._caller_team)
            if owner != self._caller_team:
                return self._err("channel_not_found")  # another workspace's conversation does not exist for this one
        handler = self._methods.get(method)
        body = handler(self, args) if handler is not None else self._ok()
        if body.get("error") in _MALFORMED:
            self.invalid_payloads.append((method, str(body["error"])))
        return body

    @staticmethod
    def _scripted_response(script: _Scripted, call: SlackCall) -> web.Response | None:
        headers: dict[str, str] = {}
        if script.retry_after is not None:
            ra = script.retry_after
            headers["Retry-After"] = str(int(ra)) if float(ra).is_integer() else str(ra)
        if script.error is not None:
            call.outcome = script.error
            return web.json_response({"ok": False, "error": script.error}, status=script.status, headers=headers)
        if script.status >= 500:
            call.outcome = str(script.status)
            return web.Response(status=script.status, text="upstream error", headers=headers)
        if script.status != 200:
            call.outcome = str(script.status)
            return web.json_response(
                {"ok": False, "error": f"http_{script.status}"}, status=script.status, headers=headers
            )
        return None  # status 200, no error: answer normally (after the delay)

    async def _handle_socket(self, request: web.Request) -> web.StreamResponse:
        """Socket Mode WebSocket: says hello, then relays envelopes sent with :meth:`socket_send`. Like Slack's,
        each URL apps.connections.open hands out opens one connection: a ticket used or never issued is refused."""
        ticket = request.query.get("ticket", "")
        if ticket not in self._socket_tickets:
            return web.Response(status=403, text="invalid or used ticket")
        self._socket_tickets.discard(ticket)
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self.sockets.append(socket)
        self.socket_connections += 1
        try:
            await socket.send_json(
                {
                    "type": "hello",
                    "num_connections": len(self.sockets),
                    "debug_info": {"host": "fake-slack", "approximate_connection_time": 3600},
                    "connection_info": {"app_id": "A1"},
                }
            )
            async for message in socket:
                if message.type == WSMsgType.TEXT:
                    with contextlib.suppress(ValueError):
                        body = json.loads(message.data)
                        if isinstance(body, dict):
                            self.socket_acks.append(body)
        finally:
            self.sockets.remove(socket)
        return socket

    async def socket_send(self, envelope: dict[str, Any]) -> None:
        """Send an envelope (e.g. from :func:`slash_command_envelope`) to the newest Socket Mode client."""
        if not self.sockets:
            raise AssertionError("no Socket Mode client is connected")
        await self.sockets[-1].send_json(envelope)

    async def drop_sockets(self) -> None:
        """Close every Socket Mode connection from Slack's side (as a Slack restart or a network cut would)."""
        for socket in list(self.sockets):
            await socket.close()

    def socket_ack(self, envelope_id: str) -> dict[str, Any] | None:
        """The client's acknowledgement of an envelope, if it came."""
        return next((a for a in self.socket_acks if a.get("envelope_id") == envelope_id), None)

    async def _handle_response_url(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        raw = await request.text()
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError:
            body = dict(await request.post()) if raw else {}
        if not isinstance(body, dict):
            body = {"_body": body}
        body["_name"] = name
        if (script := self._take_script(_RESPONSE_URL)) is not None:
            self.rejected_responses.append(body)
            return web.Response(status=script.status, text="rate_limited" if script.status == 429 else "upstream error")
        blocks = body.get("blocks") if self.validate_blocks else None
        if blocks is not None and (why := blockkit.message_blocks_error(blocks)):
            self.invalid_payloads.append(("response_url", why))
            self.rejected_responses.append(body)
            return web.Response(status=400, text="invalid_blocks")
        if why := self._response_url_error(name):
            self.rejected_responses.append(body)
            return web.Response(status=404, text=why)
        self.responses.append(body)
        return web.Response(text="ok")

    def _response_url_error(self, name: str) -> str | None:
        """Use ``name`` once; why Slack refuses the post (404 with this body), or None."""
        issued = self._response_urls.get(name)
        if issued is None:
            return "invalid_url"  # never handed out
        if self.fail_response_urls or (self.limits and self.now() - issued.at > RESPONSE_URL_LIFETIME):
            return "expired_url"
        if self.limits and issued.uses >= RESPONSE_URL_POSTS:
            return "used_url"
        issued.uses += 1
        return None

    # ------------------------------------------------------------------ API methods
    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        team = self.oauth.teams[self._caller_team]
        first = team.team_id == self.team_id
        return self._ok(
            url="https://fake.slack.com/" if first else f"https://{team.team_id.lower()}.fake.slack.com/",
            team=team.name,
            user="askcall",
            team_id=team.team_id,
            user_id=self.bot_user_id if first else team.bot_user_id,
            bot_id=team.bot_id,
            is_enterprise_install=False,
        )

    def _auth_revoke(self, args: dict[str, Any]) -> dict[str, Any]:
        if not _truthy(args.get("test")):
            self.oauth.revoke(self._caller_token or "")
        return self._ok(revoked=not _truthy(args.get("test")))

    def _chat_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args.get("channel")
        if not channel:
            return self._err("channel_not_found")
        channel = self._post_channel(channel)  # a user id: the app's DM with that user
        if error := self._post_error(channel):
            return self._err(error)
        if not args.get("text") and not args.get("blocks") and not args.get("attachments"):
            return self._err("no_text")
        if error := _metadata_error(args.get("metadata")):
            return self._err(error)
        thread_ts = args.get("thread_ts") or None
        if thread_ts is not None:
            parent = self.find_message(channel, thread_ts)
            if parent is None:
                return self._err("thread_not_found")
            # Replying to a reply lands in the parent's thread, like Slack.
            thread_ts = parent.get("thread_ts") or parent["ts"]
        message: dict[str, Any] = {
            "type": "message",
            "channel": channel,
            "ts": self._new_ts(),
            "thread_ts": thread_ts,
            "text": args.get("text", ""),
            "blocks": args.get("blocks"),
            "metadata": args.get("metadata"),
            "user": self.bot_user_id,
            "bot_id": "BBOT",
        }
        self.messages.append(message)
        self._take_post_token(channel)
        return self._ok(channel=channel, ts=message["ts"], message=_public(message))

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = args.get("channel"), args.get("ts")
        if channel in self.unreachable_channels:
            return self._err(self.unreachable_channels[channel])
        if self.channel(channel or "").archived:
            return self._err("is_archived")
        message = self.find_message(channel or "", ts or "")
        if message is None:
            return self._err("message_not_found")
        if message.get("user") != self.bot_user_id:
            return self._err("cant_update_message")  # a bot token edits only the bot's own messages
        if not args.get("text") and not args.get("blocks") and not args.get("attachments"):
            return self._err("no_text")
        if error := _metadata_error(args.get("metadata")):
            return self._err(error)
        for key in ("text", "blocks", "metadata"):
            if key in args:
                message[key] = args[key]
        self.updates.append(
            {
                "channel": channel,
                "ts": ts,
                "text": args.get("text"),
                "blocks": args.get("blocks"),
                "metadata": args.get("metadata"),
                "at": time.monotonic(),
            }
        )
        return self._ok(channel=channel, ts=ts, text=message.get("text", ""), message=_public(message))

    def _chat_post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args.get("channel")
        if not channel:
            return self._err("channel_not_found")
        if error := self._post_error(channel):
            return self._err(error)
        user = str(args.get("user") or "")
        if not _USER_ID.match(user) or user in self.unknown_users:
            return self._err("user_not_found")
        if not self.channel(channel).has_user(user):
            return self._err("user_not_in_channel")
        ts = self._new_ts()
        self.ephemerals.append(
            {
                "channel": channel,
                "user": args.get("user"),
                "text": args.get("text", ""),
                "blocks": args.get("blocks"),
                "thread_ts": args.get("thread_ts"),
                "message_ts": ts,
            }
        )
        return self._ok(message_ts=ts)

    def _with_thread_info(self, message: dict[str, Any], *, metadata: bool) -> dict[str, Any]:
        out = _public(message, metadata=metadata)
        if message.get("thread_ts") is None:
            replies = self.thread_replies(message["channel"], message["ts"])
            if replies:
                out["thread_ts"] = message["ts"]
                out["reply_count"] = len(replies)
                out["latest_reply"] = replies[-1]["ts"]
        return out

    def _conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = args.get("channel") or "", args.get("ts") or ""
        if error := self._read_error(channel):
            return self._err(error)
        message = self.find_message(channel, ts)
        if message is None:
            return self._err("thread_not_found")
        metadata = _truthy(args.get("include_all_metadata"))
        parent_ts = message.get("thread_ts") or message["ts"]
        parent = self.find_message(channel, parent_ts) or message
        thread = [parent, *self.thread_replies(channel, parent_ts)]  # oldest first, the parent leading
        return self._page("conversations.replies", args, thread, metadata)

    def _page(
        self, method: str, args: dict[str, Any], messages: list[dict[str, Any]], metadata: bool
    ) -> dict[str, Any]:
        """One page of ``messages`` (in the order the method returns them), like Slack: at most ``limit``,
        from the ``cursor`` on; ``has_more`` and ``response_metadata.next_cursor`` say where the next starts."""
        cursor = str(args.get("cursor") or "")
        if cursor:
            after = _cursor_ts(cursor)
            if after is None:
                return self._err("invalid_cursor")
            # A cursor names the first message of the next page.
            start = next((i for i, m in enumerate(messages) if _ts_key(m["ts"]) == after), len(messages))
            messages = messages[start:]
        try:
            limit = int(args.get("limit") or _DEFAULT_LIMITS[method])
        except ValueError:
            return self._err("invalid_limit")
        limit = min(max(limit, 1), _MAX_LIMIT)
        page, rest = messages[:limit], messages[limit:]
        return self._ok(
            messages=[self._with_thread_info(m, metadata=metadata) for m in page],
            has_more=bool(rest),
            response_metadata={"next_cursor": _cursor(rest[0]["ts"]) if rest else ""},
        )

    def _conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args.get("channel") or ""
        if error := self._read_error(channel):
            return self._err(error)
        inclusive = _truthy(args.get("inclusive"))
        oldest, latest = args.get("oldest"), args.get("latest")
        top = [m for m in self.channel_messages(channel) if m.get("thread_ts") in (None, m["ts"])]
        if oldest:
            o = _ts_key(str(oldest))
            top = [m for m in top if _ts_key(m["ts"]) > o or (inclusive and _ts_key(m["ts"]) == o)]
        if latest:
            la = _ts_key(str(latest))
            top = [m for m in top if _ts_key(m["ts"]) < la or (inclusive and _ts_key(m["ts"]) == la)]
        top.reverse()  # newest first
        return self._page("conversations.history", args, top, _truthy(args.get("include_all_metadata")))

    def _conversations_join(self, args: dict[str, Any]) -> dict[str, Any]:
        channel_id = args.get("channel") or ""
        error = self.unreachable_channels.get(channel_id)
        if error is not None and error != "not_in_channel":
            return self._err(error)  # e.g. private channel -> channel_not_found
        channel = self.channel(channel_id)
        if channel.kind != PUBLIC:
            return self._err("method_not_supported_for_channel_type")
        if channel.archived:
            return self._err("is_archived")
        if channel.join_error is not None:
            return self._err(channel.join_error)
        self.unreachable_channels.pop(channel_id, None)
        self.joined_channels.add(channel_id)
        if channel.member:
            return self._ok(channel={"id": channel_id}, warning="already_in_channel")
        channel.member = True  # the whole history is readable from now on, like Slack
        return self._ok(channel={"id": channel_id})

    def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        users = [u for u in str(args.get("users") or "").split(",") if u]
        if len(users) != 1:
            return self._err("users_list_not_supplied" if not users else "not_supported")
        channel = self.channel(self.dm_channel(users[0]))
        return self._ok(channel={"id": channel.id})

    def _store_view(self, view: Any, view_id: str | None = None) -> dict[str, Any]:
        body = dict(view) if isinstance(view, dict) else {}
        return {**body, "id": view_id or f"V{next(self._view_counter)}"}

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("trigger_id"):
            return self._err("invalid_arguments")
        if not isinstance(args.get("view"), dict):
            return self._err("invalid_arguments")
        if error := self._exchange_trigger(str(args["trigger_id"])):
            return self._err(error)
        view = self._store_view(args["view"])
        self.views.append(view)
        return self._ok(view=view)

    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(args.get("view"), dict):
            return self._err("invalid_arguments")
        view_id = args.get("view_id")
        external_id = args.get("external_id")
        known = [
            v
            for v in self.views
            if (view_id and v["id"] == view_id) or (external_id and v.get("external_id") == external_id)
        ]
        if not known:
            return self._err("not_found")
        view = self._store_view(args["view"], known[-1]["id"])
        self.views.append(view)
        return self._ok(view=view)

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        user_id = args.get("user_id")
        if not user_id or not isinstance(args.get("view"), dict):
            return self._err("invalid_arguments")
        view = self._store_view(args["view"])
        self.home_views[user_id] = view
        return self._ok(view=view)

    def _exchange_trigger(self, trigger_id: str) -> str | None:
        """Use up ``trigger_id``; why Slack refuses it, or None."""
        issued = self._triggers.get(trigger_id)
        if issued is None:
            return "invalid_trigger_id"  # one Slack never issued (tests get theirs from `trigger_id()`)
        if issued.uses:
            return "exchanged_trigger_id"
        if self.now() - issued.at > TRIGGER_LIFETIME:
            return "expired_trigger_id"
        issued.uses += 1
        return None

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = str(args.get("user") or "")
        if not _USER_ID.match(user) or user in self.unknown_users:
            return self._err("user_not_found")
        return self._ok(
            user={
                "id": user,
                "team_id": self.team_id,
                "name": user.lower(),
                "real_name": self.user_names.get(user, f"Rep {user}"),
                "profile": {"display_name": "", "real_name": self.user_names.get(user, f"Rep {user}")},
                "locale": self.user_locales.get(user, "pt-BR"),
                "tz": "America/Sao_Paulo",
                "is_admin": user in self.admins or user in self.owners,
                "is_owner": user in self.owners,
            }
        )

    def _usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        return self._ok(users=list(self.usergroups.get(str(args.get("usergroup") or ""), [])))

    def _apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        ticket = secrets.token_hex(8)
        self._socket_tickets.add(ticket)
        return self._ok(url=f"{self.socket_url}?ticket={ticket}")

    _methods: ClassVar[dict[str, Callable[[FakeSlack, dict[str, Any]], dict[str, Any]]]] = {
        "auth.test": _auth_test,
        "auth.revoke": _auth_revoke,
        "chat.postMessage": _chat_post_message,
        "chat.update": _chat_update,
        "chat.postEphemeral": _chat_post_ephemeral,
        "conversations.replies": _conversations_replies,
        "conversations.history": _conversations_history,
        "conversations.join": _conversations_join,
        "conversations.open": _conversations_open,
        "views.open": _views_open,
        "views.update": _views_update,
        "views.publish": _views_publish,
        "users.info": _users_info,
        "usergroups.users.list": _usergroups_users_list,
        "apps.connections.open": _apps_connections_open,
    }


# ---------------------------------------------------------------------- request builders / signing
_trigger_counter = itertools.count(1)


def _new_trigger_id() -> str:
    return f"{next(_trigger_counter)}.{int(time.time())}.{uuid.uuid4().hex}"


def slack_signed_headers(body: str, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """Headers Slack sends with a signed form-encoded request carrying ``body``."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature,
    }


def slash_command_body(
    text: str,
    *,
    command: str = "/askcall",
    user_id: str = "U1",
    channel_id: str = "C1",
    team_id: str = "T1",
    trigger_id: str | None = None,
    response_url: str = "http://127.0.0.1:9/response/unset",
) -> str:
    """Form-encoded body of a slash command invocation.

    The default ``response_url`` points to a closed loopback port so a forgotten override
    fails fast instead of reaching the internet; pass ``fake.response_url(...)``.
    """
    return urlencode(
        {
            "token": "legacy-verification-token",
            "team_id": team_id,
            "team_domain": "fake",
            "channel_id": channel_id,
            "channel_name": "general",
            "user_id": user_id,
            "user_name": user_id.lower(),
            "command": command,
            "text": text,
            "api_app_id": "A1",
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": trigger_id or _new_trigger_id(),
        }
    )


def slash_command_envelope(text: str, *, envelope_id: str | None = None, **fields: Any) -> dict[str, Any]:
    """A Socket Mode ``slash_commands`` envelope: the same fields as :func:`slash_command_body`, as JSON."""
    payload = dict(parse_qsl(slash_command_body(text, **fields)))
    return {
        "envelope_id": envelope_id or uuid.uuid4().hex,
        "type": "slash_commands",
        "payload": payload,
        "accepts_response_payload": True,
    }


def interaction_body(payload: dict[str, Any]) -> str:
    """Form-encoded body ``payload=<urlencoded json>`` of an interactivity request."""
    return urlencode({"payload": json.dumps(payload)})


def button_payload(
    action_id: str,
    value: str,
    *,
    user: str,
    channel: str,
    message: dict[str, Any],
    response_url: str = "",
    action_ts: str = "1.1",
    team_id: str = "T1",
) -> dict[str, Any]:
    """A ``block_actions`` payload: ``user`` of ``team_id`` clicks the button ``action_id`` of ``message`` (which has
    a ``ts``)."""
    return {
        "type": "block_actions",
        "team": {"id": team_id, "domain": "fake"},
        "user": {"id": user, "username": user.lower(), "team_id": team_id},
        "api_app_id": "A1",
        "token": "legacy",
        "trigger_id": "111.222.abc",
        "channel": {"id": channel, "name": "general"},
        "container": {"type": "message", "channel_id": channel, "message_ts": message["ts"]},
        "message": message,
        "response_url": response_url,
        "actions": [{"type": "button", "action_id": action_id, "value": value, "action_ts": action_ts}],
    }


def shortcut_payload(
    callback_id: str,
    user_id: str,
    *,
    trigger_id: str,
    message: dict[str, Any] | None = None,
    channel_id: str | None = None,
    response_url: str | None = None,
    team_id: str = "T1",
) -> dict[str, Any]:
    """A global ``shortcut`` payload, or a ``message_action`` one when ``message`` is given."""
    payload: dict[str, Any] = {
        "type": "shortcut" if message is None else "message_action",
        "callback_id": callback_id,
        "team": {"id": team_id, "domain": "fake"},
        "user": {"id": user_id, "name": user_id.lower()},
        "trigger_id": trigger_id,
    }
    if message is not None:
        payload |= {
            "channel": {"id": channel_id, "name": "general"},
            "message": message,
            "response_url": response_url,
            "message_ts": message["ts"],
        }
    return payload


def view_submission_payload(
    callback_id: str,
    values: dict[str, dict[str, dict[str, Any]]],
    private_metadata: str,
    user_id: str = "U1",
    team_id: str = "T1",
    view_id: str | None = None,
) -> dict[str, Any]:
    """A ``view_submission`` payload; ``values`` is ``{block_id: {action_id: state}}``."""
    vid = view_id or f"V{uuid.uuid4().hex[:10].upper()}"
    return {
        "type": "view_submission",
        "team": {"id": team_id, "domain": "fake"},
        "user": {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": team_id},
        "api_app_id": "A1",
        "token": "legacy-verification-token",
        "trigger_id": _new_trigger_id(),
        "view": {
            "id": vid,
            "team_id": team_id,
            "type": "modal",
            "callback_id": callback_id,
            "private_metadata": private_metadata,
            "state": {"values": values},
            "hash": uuid.uuid4().hex[:16],
            "title": {"type": "plain_text", "text": "AskCall"},
            "blocks": [],
            "app_id": "A1",
            "bot_id": "BBOT",
            "root_view_id": vid,
            "previous_view_id": None,
            "external_id": "",
            "clear_on_close": False,
            "notify_on_close": False,
        },
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }
