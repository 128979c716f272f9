"""`askcall demo`: the whole loop on this machine, with stand-ins for Slack and Pilot Status.

AskCall runs in-process against the same loopback fakes the tests use (shipped in `bot.fakes`):
a rep's `/askcall`, the WhatsApp request, the customer's answer, and the Slack messages that result.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import aiohttp
from aiohttp import web

from bot.app import ASKCALL, create_web_app
from bot.config import RetryPolicy, Settings
from bot.fakes.pilot_status import FakePilotStatus
from bot.fakes.slack import FakeSlack, slack_signed_headers, slash_command_body
from bot.phones import mask

PHONE = "+55 11 98765-4321"
CUSTOMER = "+5511987654321"
REASON = "Podemos te ligar para fechar o pedido?"
CHANNEL, CHANNEL_NAME = "C1", "sales"
REP, REP_NAME = "U1", "rep"
TIMEOUT = 15.0
INDENT = "    "


class DemoFailed(Exception):
    """A step of the demo did not happen in time; the message says which."""


def demo_settings(
    slack: FakeSlack, pilot: FakePilotStatus, signing_secret: str, db_path: Path, language: str
) -> Settings:
    fast = RetryPolicy(attempts=3, base_delay=0.05, max_delay=0.2, max_retry_after=5)
    return Settings(
        slack_bot_token=slack.token,
        slack_signing_secret=signing_secret,
        pilot_status_api_key=pilot.api_key,
        pilot_status_webhook_secret=pilot.webhook_secret,
        slack_api_url=slack.api_url,
        pilot_status_base_url=pilot.base_url,
        db_path=str(db_path),
        language=language,
        host="127.0.0.1",
        port=0,
        log_level="WARNING",
        pilot_status_retry=fast,
        slack_retry=RetryPolicy(attempts=6, base_delay=0.05, max_delay=0.2, max_retry_after=5),
        pilot_status_timeout=5.0,
        shutdown_grace=2.0,
        retention_days=0,
    )


# --- showing Slack messages as a rep reads them ------------------------------------------------
_NAMES = {REP: REP_NAME}
_CHANNELS = {CHANNEL: CHANNEL_NAME}
_TOKEN = re.compile(r"<([^<>]*)>")


def render_mrkdwn(text: str) -> str:
    """`<@U1>` → `@rep`, `<!date^…|fallback>` → fallback, links → their label, entities decoded."""

    def token(match: re.Match[str]) -> str:
        inner = match.group(1)
        target, _, label = inner.partition("|")
        if target.startswith("@"):
            return "@" + _NAMES.get(target[1:], target[1:])
        if target.startswith("#"):
            return "#" + (label or _CHANNELS.get(target[1:], target[1:]))
        if target.startswith("!date^"):
            return label or target
        if target.startswith("!"):
            return "@" + target[1:].split("^")[0]
        return label or target

    plain = _TOKEN.sub(token, text)
    plain = re.sub(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])", r"\1", plain)  # *bold* → bold
    return plain.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def message_lines(message: dict[str, Any]) -> list[str]:
    """The visible lines of a message: its blocks when it has some, else its text."""
    lines: list[str] = []
    for block in message.get("blocks") or []:
        if not isinstance(block, dict):
            continue
        if block.get("type") in ("section", "header") and isinstance(block.get("text"), dict):
            lines.extend(str(block["text"].get("text", "")).splitlines())
        elif block.get("type") == "context":
            texts = [str(e.get("text", "")) for e in block.get("elements") or [] if isinstance(e, dict)]
            lines.append("  ".join(t for t in texts if t))
    if not lines:
        lines = str(message.get("text") or "").splitlines()
    return [render_mrkdwn(line) for line in lines]


def _show(out: TextIO, title: str, lines: list[str]) -> None:
    print(title, file=out)
    for line in lines:
        print(INDENT + line, file=out)
    print(file=out)


# --- the run -------------------------------------------------------------------------------------
async def _until(check: Callable[[], bool | Awaitable[bool]], what: str, deadline: float) -> None:
    while True:
        result = check()
        if result if isinstance(result, bool) else await result:
            return
        if time.monotonic() >= deadline:
            raise DemoFailed(f"{what} did not happen within {TIMEOUT:.0f} s")
        await asyncio.sleep(0.02)


def _parent(slack: FakeSlack) -> dict[str, Any] | None:
    tops = [m for m in slack.channel_messages(CHANNEL) if m.get("thread_ts") is None]
    return tops[0] if tops else None


def _first_post_args(slack: FakeSlack) -> dict[str, Any]:
    """The channel message as AskCall first posted it (before any status update)."""
    for call in slack.calls_to("chat.postMessage"):
        if call.args.get("channel") == CHANNEL and not call.args.get("thread_ts"):
            return call.args
    return {}


@dataclass
class _Demo:
    out: TextIO
    url: str
    slack: FakeSlack
    pilot: FakePilotStatus
    signing_secret: str
    runner: web.AppRunner
    deadline: float = field(default_factory=lambda: time.monotonic() + TIMEOUT)

    async def play(self) -> None:
        await self.rep_asks()
        parent = await self.request_goes_out()
        await self.customer_answers()
        await self.answer_reaches_thread(parent["ts"])

    async def rep_asks(self) -> None:
        _show(self.out, f"@{REP_NAME} types in #{CHANNEL_NAME}:", [f"/askcall {PHONE} {REASON}"])
        body = slash_command_body(
            f"{PHONE} {REASON}", user_id=REP, channel_id=CHANNEL, response_url=self.slack.response_url("demo")
        )
        headers = slack_signed_headers(body, self.signing_secret)
        async with (
            aiohttp.ClientSession() as http,
            http.post(self.url + "/slack/events", data=body.encode(), headers=headers) as response,
        ):
            if response.status != 200:
                raise DemoFailed(f"AskCall answered the slash command with HTTP {response.status}")

    async def request_goes_out(self) -> dict[str, Any]:
        await _until(lambda: _parent(self.slack) is not None, "AskCall's message in the channel", self.deadline)
        _show(self.out, f"AskCall posts in #{CHANNEL_NAME}:", message_lines(_first_post_args(self.slack)))
        await _until(lambda: bool(self.pilot.permission_requests), "The WhatsApp request", self.deadline)
        sent = self.pilot.permission_requests[0]
        _show(
            self.out,
            "AskCall asks the customer on WhatsApp, through Pilot Status:",
            [f"to {mask(sent.to)}: {sent.text}"],
        )
        return _parent(self.slack) or {}

    async def customer_answers(self) -> None:
        status, _ = await self.pilot.customer_answers(self.url + "/webhooks/pilot-status", CUSTOMER, "TEMPORARY")
        if status != 200:
            raise DemoFailed(f"AskCall answered the customer's webhook with HTTP {status}")
        print("The customer taps “allow calls” on WhatsApp (a temporary permission, 7 days).\n", file=self.out)

    async def answer_reaches_thread(self, parent_ts: str) -> None:
        def replied() -> bool:
            return bool(self.slack.thread_replies(CHANNEL, parent_ts))

        askcall = self.runner.app[ASKCALL]

        async def idle() -> bool:
            return len(askcall.tasks) == 0 and await askcall.store.pending_delivery_count() == 0

        await _until(replied, "The answer in the message's thread", self.deadline)
        await _until(idle, "The status update of the channel message", self.deadline)
        replies = self.slack.thread_replies(CHANNEL, parent_ts)
        _show(self.out, "AskCall replies in the thread:", [line for r in replies for line in message_lines(r)])
        parent = self.slack.find_message(CHANNEL, parent_ts) or {}
        _show(self.out, f"The message in #{CHANNEL_NAME} now shows:", message_lines(parent))


async def run_demo(out: TextIO, language: str = "pt-BR") -> int:
    """Play the loop once; 0 when the customer's answer reached the thread, 1 otherwise."""
    print(
        "AskCall demo: AskCall runs here with stand-ins for Slack and Pilot Status. "
        "No account is needed and nothing leaves this computer.\n",
        file=out,
    )
    signing_secret = secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="askcall-demo-") as folder:
        async with FakeSlack() as slack, FakePilotStatus(webhook_secret=secrets.token_hex(16)) as pilot:
            slack.user_locales[REP] = "en-US" if language == "en" else "pt-BR"  # AskCall speaks the rep's language
            settings = demo_settings(slack, pilot, signing_secret, Path(folder) / "askcall.db", language)
            runner = web.AppRunner(create_web_app(settings), access_log=None)
            await runner.setup()
            try:
                site = web.TCPSite(runner, "127.0.0.1", 0)
                await site.start()
                url = f"http://127.0.0.1:{runner.addresses[0][1]}"
                await _Demo(out, url, slack, pilot, signing_secret, runner).play()
            except DemoFailed as error:
                print(f"✗ {error}. The demo failed.", file=out)
                return 1
            finally:
                await runner.cleanup()
    print("✓ The customer's answer reached the thread. The demo worked.", file=out)
    return 0
