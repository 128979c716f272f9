"""`askcall demo --call`: after the grant, "📞 Call now" is clicked and the call page is served to this browser.

The fake Pilot Status plays the customer's WhatsApp with aiortc (:mod:`bot.fakes.whatsapp_peer`): it rings, picks up
and plays a tone the person hears. The demo prints the link from the rep's ephemeral message, then what happens
(the phone rings, picks up, the audio connects, the call ends, the thread line AskCall writes) until it is stopped.

Invariant: AskCall's ASKCALL_PUBLIC_URL is the demo's own loopback address, so the link, the page and its live
channel only ever point at 127.0.0.1; the demo reads Slack and Pilot Status only through the fakes' records.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

import aiohttp

from bot.fakes.pilot_status import CallBehaviour, FakeCall, FakePilotStatus
from bot.fakes.slack import FakeSlack, button_payload, interaction_body, slack_signed_headers
from bot.i18n import Translator
from bot.phones import mask
from bot.pilot_status.webhooks import HANDLED_EVENTS
from bot.slack.messages import CALL_ACTION
from bot.web import page_strings

# The customer's phone rings long enough to be seen ringing, then picks up and plays a 440 Hz tone.
DEMO_CALL = CallBehaviour(ring_after=0.3, answer_after=2.0, ring_timeout=60.0, media_timeout=20.0)
LINK_MINUTES = 10
WATCH_INTERVAL = 0.1
FRAME_SECONDS = 0.02  # one audio frame of the fake phone (bot.fakes.whatsapp_peer.PTIME, which needs aiortc)


def aiortc_problem(tr: Translator) -> str | None:
    """Why the fake customer's phone can't answer a call here, or None when it can."""
    try:
        import bot.fakes.whatsapp_peer  # noqa: F401
    except ImportError as error:
        return f"{tr.t('demo.aiortc_missing')}\n  ({error})"
    return None


def say(out: TextIO, *lines: str) -> None:
    """Print now (the demo's output may be a pipe, and a person is waiting for it)."""
    for line in lines:
        print(line, file=out)
    out.flush()


def call_click_body(request_id: int, *, user: str, channel: str, message_ts: str) -> str:
    """The block_actions body Slack posts when `user` clicks "📞 Call now" on the status message."""
    message = {"ts": message_ts, "text": ""}
    payload = button_payload(CALL_ACTION, str(request_id), user=user, channel=channel, message=message)
    return interaction_body(payload)


async def click_call_now(
    url: str, signing_secret: str, request_id: int, *, user: str, channel: str, message_ts: str
) -> int:
    """Post the signed click to AskCall's /slack/events; its HTTP status."""
    body = call_click_body(request_id, user=user, channel=channel, message_ts=message_ts)
    headers = slack_signed_headers(body, signing_secret)
    async with (
        aiohttp.ClientSession() as http,
        http.post(url + "/slack/events", data=body.encode(), headers=headers) as response,
    ):
        return response.status


def button_label(language: str) -> str:
    return Translator(language).t("button.call")


def instructions(link: str, language: str, customer: str, *, new_links: bool) -> list[str]:
    """What the person does with the link (the page's own words for its buttons)."""
    page, tr = page_strings(language), Translator(language)
    ring = DEMO_CALL.answer_after or 0
    return [
        tr.t("demo.open", minutes=LINK_MINUTES),
        "",
        f"{'':4}{link}",
        "",
        tr.t("demo.press", call=page["call"], customer=mask(customer), ring=f"{ring:.0f}"),
        tr.t("demo.tone", hz=f"{DEMO_CALL.tone_hz:.0f}", hangup=page["hangup"]),
        tr.t("demo.reload", enter=tr.t("demo.enter") if new_links else ""),
        "",
    ]


class LinkRequests:
    """Runs `new_link` once per line typed on this process's standard input (one at a time, in the loop).

    The descriptor is watched as it is (no change to its blocking mode, which a terminal shares with the output).
    """

    def __init__(self, new_link: Callable[[], Awaitable[None]]) -> None:
        self._new_link = new_link
        self._wanted = 0
        self._task: asyncio.Task[None] | None = None
        self._fd: int | None = None

    def watch_stdin(self) -> bool:
        """Start watching; False where standard input can't be watched (a file, none, no reader support)."""
        loop = asyncio.get_running_loop()
        try:
            fd = sys.stdin.fileno()
            loop.add_reader(fd, self._readable, fd)
        except (AttributeError, NotImplementedError, OSError, ValueError):
            return False
        self._fd = fd
        return True

    def _readable(self, fd: int) -> None:
        try:
            data = os.read(fd, 4096)
        except OSError:
            data = b""
        if not data:  # end of input: nothing more will ask for a link
            self._unwatch()
            return
        self._wanted += data.count(b"\n")
        if self._wanted and (self._task is None or self._task.done()):
            self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while self._wanted:
            self._wanted = 0
            await self._new_link()

    def _unwatch(self) -> None:
        if self._fd is not None:
            asyncio.get_running_loop().remove_reader(self._fd)
            self._fd = None

    async def close(self) -> None:
        self._unwatch()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


@dataclass
class _Seen:
    offered: bool = False
    events: int = 0  # how many of the call's webhooks (FakeCall.events) have been told
    audio: bool = False


@dataclass
class CallWatcher:
    """Prints each step of every call once: the customer's phone (the fake) and AskCall's line in the thread."""

    out: TextIO
    slack: FakeSlack
    pilot: FakePilotStatus
    channel: str
    parent_ts: str
    render: Callable[[dict[str, Any]], list[str]]  # a message's visible lines (bot.demo.loop.message_lines)
    tr: Translator
    calls: dict[str, _Seen] = field(default_factory=dict)
    thread: dict[str, list[str]] = field(default_factory=dict)

    def poll(self) -> None:
        for call in list(self.pilot.calls.values()):
            self._call(call, self.calls.setdefault(call.id, _Seen()))
        for message in self.slack.thread_replies(self.channel, self.parent_ts):
            lines = self.render(message)
            if self.thread.get(message["ts"]) != lines:
                self.thread[message["ts"]] = lines
                say(self.out, *(self.tr.t("demo.call.thread", line=line) for line in lines))

    def skip_thread_so_far(self) -> None:
        """The replies already shown (the customer's answer) are not news."""
        for message in self.slack.thread_replies(self.channel, self.parent_ts):
            self.thread[message["ts"]] = self.render(message)

    def _call(self, call: FakeCall, seen: _Seen) -> None:
        if not seen.offered:
            seen.offered = True
            say(self.out, self.tr.t("demo.call.offer", customer=mask(call.to)))
        for event in call.events[seen.events :]:
            seen.events += 1
            if event["event"] == "call.ringing":
                say(self.out, self.tr.t("demo.call.rings"))
            elif event["event"] == "call.connected":
                say(self.out, self.tr.t("demo.call.picks_up", hz=f"{call.behaviour.tone_hz:.0f}"))
            else:  # call.ended or call.missed: the last one
                self._ended(call)
        peer = call.peer
        if not seen.audio and peer is not None and peer.connected.is_set() and call.ended_at is None:
            seen.audio = True
            say(self.out, self.tr.t("demo.call.audio"))

    def _ended(self, call: FakeCall) -> None:
        if call.error_code is not None:
            say(self.out, self.tr.t("demo.call.failed", message=call.error_message, code=call.error_code))
            return
        if call.duration is None:
            say(self.out, self.tr.t("demo.call.ended", status=call.status.lower()))
            return
        heard = call.peer.frames_received * FRAME_SECONDS if call.peer is not None else 0.0
        say(
            self.out,
            self.tr.t("demo.call.ended_after", status=call.status.lower(), seconds=call.duration, heard=f"{heard:.0f}"),
        )

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.poll()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), WATCH_INTERVAL)
        self.poll()


def stop_on_signals(stop: asyncio.Event) -> None:
    """Ctrl-C (and SIGTERM) set `stop` instead of tearing the loop down mid-step."""
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # no signal handlers on this platform
            loop.add_signal_handler(number, stop.set)


def subscribe_calls(pilot: FakePilotStatus, url: str) -> None:
    """The fake sends the call webhooks to AskCall (as `askcall webhook register` sets up for real)."""
    pilot.subscribe(url + "/webhooks/pilot-status", list(HANDLED_EVENTS))
    pilot.call_behaviour = DEMO_CALL
