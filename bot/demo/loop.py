"""`askcall demo`: the whole loop on this machine, with stand-ins for Slack and Pilot Status.

AskCall runs in-process against the same loopback fakes the tests use (shipped in `bot.fakes`):
a rep's `/askcall`, the WhatsApp request, the customer's answer, and the Slack messages that result.
With `--call` (bot.demo.call) the rep then clicks "📞 Call now" and the demo serves the call page to this
machine's browser until it is stopped. AskCall listens on 127.0.0.1 only, and ASKCALL_PUBLIC_URL is that address.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import tempfile
import time
import webbrowser
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import aiohttp
from aiohttp import web

from bot.app import ASKCALL, create_web_app
from bot.config import RetryPolicy, Settings
from bot.demo import call as demo_call
from bot.demo.call import say
from bot.fakes.pilot_status import FakePilotStatus
from bot.fakes.slack import FakeSlack, slack_signed_headers, slash_command_body
from bot.i18n import Translator
from bot.phones import mask
from bot.slack.messages import CALL_ACTION
from bot.web.listener import ListenError, bind

PHONE = "+55 11 98765-4321"
CUSTOMER = "+5511987654321"
CHANNEL, CHANNEL_NAME = "C1", "sales"
REP, REP_NAME, REP_REAL_NAME = "U1", "ana", "Ana Souza"
TIMEOUT = 15.0
INDENT = "    "


class DemoFailed(Exception):
    """A step of the demo did not happen in time; the message says which."""


def demo_settings(
    slack: FakeSlack, pilot: FakePilotStatus, signing_secret: str, db_path: Path, language: str, public_url: str
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
        public_url=public_url,
    )


# --- showing Slack messages as a rep reads them ------------------------------------------------
_NAMES = {REP: REP_NAME}
_CHANNELS = {CHANNEL: CHANNEL_NAME}
_TOKEN = re.compile(r"<([^<>]*)>")


def render_mrkdwn(text: str) -> str:
    """`<@U1>` → `@ana`, `<!date^…|fallback>` → fallback, links → their label, entities decoded."""

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
    say(out, title, *(INDENT + line for line in lines), "")


# --- the run -------------------------------------------------------------------------------------
async def _until(check: Callable[[], bool | Awaitable[bool]], what: str, deadline: float, tr: Translator) -> None:
    while True:
        result = check()
        if result if isinstance(result, bool) else await result:
            return
        if time.monotonic() >= deadline:
            raise DemoFailed(tr.t("demo.timeout", what=what, seconds=f"{TIMEOUT:.0f}"))
        await asyncio.sleep(0.02)


def _parent(slack: FakeSlack) -> dict[str, Any] | None:
    tops = [m for m in slack.channel_messages(CHANNEL) if m.get("thread_ts") is None]
    return tops[0] if tops else None


def _call_request_id(message: dict[str, Any]) -> int | None:
    """The request id on the message's "📞 Call now" button (what Slack sends back when it is clicked)."""
    for block in message.get("blocks") or []:
        for element in block.get("elements") or [] if isinstance(block, dict) else []:
            if isinstance(element, dict) and element.get("action_id") == CALL_ACTION:
                return int(element["value"])
    return None


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
    language: str
    deadline: float = field(default_factory=lambda: time.monotonic() + TIMEOUT)

    @property
    def tr(self) -> Translator:
        """The demo speaks the language its Slack messages are in (ASKCALL_LANGUAGE, or --language)."""
        return Translator(self.language)

    async def _until(self, check: Callable[[], bool | Awaitable[bool]], step: str) -> None:
        await _until(check, self.tr.t(f"demo.step.{step}"), self.deadline, self.tr)

    def _refused(self, what: str, status: int) -> DemoFailed:
        return DemoFailed(self.tr.t("demo.http", what=self.tr.t(f"demo.http.{what}"), status=status))

    async def play(self) -> str:
        """The loop up to the answer in the thread; the channel message's ts."""
        await self.rep_asks()
        parent = await self.request_goes_out()
        await self.customer_answers()
        await self.answer_reaches_thread(parent["ts"])
        return str(parent["ts"])

    async def call_now(self, parent_ts: str, *, again: bool = False) -> str:
        """The rep clicks "📞 Call now" on the channel message; the personal link AskCall sends them."""
        self.deadline = time.monotonic() + TIMEOUT
        parent = self.slack.find_message(CHANNEL, parent_ts) or {}
        request_id = _call_request_id(parent)
        label = demo_call.button_label(self.language)
        if request_id is None:
            raise DemoFailed(self.tr.t("demo.no_button", label=label))
        clicks = "demo.clicks_again" if again else "demo.clicks"
        say(self.out, self.tr.t(clicks, rep=REP_NAME, label=label, channel=CHANNEL_NAME) + "\n")
        before = len(self.slack.ephemerals)
        status = await demo_call.click_call_now(
            self.url, self.signing_secret, request_id, user=REP, channel=CHANNEL, message_ts=parent_ts
        )
        if status != 200:
            raise self._refused("click", status)
        await self._until(lambda: len(self.slack.ephemerals) > before, "link_message")
        ephemeral = self.slack.ephemerals[-1]
        if not again:
            _show(self.out, self.tr.t("demo.ephemeral", rep=REP_NAME), message_lines(ephemeral))
        found = re.search(r"<(" + re.escape(self.url) + r"/call/[^|>]+)[|>]", str(ephemeral.get("text", "")))
        if found is None:
            raise DemoFailed(self.tr.t("demo.no_link"))
        return found.group(1)

    async def serve_calls(self, parent_ts: str, link: str, *, open_browser: bool) -> None:
        """Print the link and what to do, then every step of the calls made from the page, until stopped.

        Each line typed on the terminal (Enter) clicks "📞 Call now" again and prints a new link.
        """
        stop = asyncio.Event()
        demo_call.stop_on_signals(stop)
        links = demo_call.LinkRequests(lambda: self.new_link(parent_ts))
        say(self.out, *demo_call.instructions(link, self.language, CUSTOMER, new_links=links.watch_stdin()))
        if open_browser and not webbrowser.open(link):
            say(self.out, self.tr.t("demo.no_browser") + "\n")
        watcher = demo_call.CallWatcher(self.out, self.slack, self.pilot, CHANNEL, parent_ts, message_lines, self.tr)
        watcher.skip_thread_so_far()
        try:
            await watcher.run(stop)
        finally:
            await links.close()
        say(self.out, "", self.tr.t("demo.stopped"))

    async def new_link(self, parent_ts: str) -> None:
        try:
            link = await self.call_now(parent_ts, again=True)
        except DemoFailed as error:
            say(self.out, f"✗ {error}.")
            return
        say(self.out, self.tr.t("demo.new_link", minutes=demo_call.LINK_MINUTES), "", f"{INDENT}{link}", "")

    async def rep_asks(self) -> None:
        text = f"{PHONE} {self.tr.t('demo.reason')}"
        _show(self.out, self.tr.t("demo.types", rep=REP_NAME, channel=CHANNEL_NAME), [f"/askcall {text}"])
        body = slash_command_body(text, user_id=REP, channel_id=CHANNEL, response_url=self.slack.response_url("demo"))
        headers = slack_signed_headers(body, self.signing_secret)
        async with (
            aiohttp.ClientSession() as http,
            http.post(self.url + "/slack/events", data=body.encode(), headers=headers) as response,
        ):
            if response.status != 200:
                raise self._refused("command", response.status)

    async def request_goes_out(self) -> dict[str, Any]:
        await self._until(lambda: _parent(self.slack) is not None, "channel_message")
        _show(self.out, self.tr.t("demo.posts", channel=CHANNEL_NAME), message_lines(_first_post_args(self.slack)))
        await self._until(lambda: bool(self.pilot.permission_requests), "whatsapp")
        sent = self.pilot.permission_requests[0]
        _show(self.out, self.tr.t("demo.asks"), [self.tr.t("demo.sent", to=mask(sent.to), text=sent.text)])
        return _parent(self.slack) or {}

    async def customer_answers(self) -> None:
        status, _ = await self.pilot.customer_answers(self.url + "/webhooks/pilot-status", CUSTOMER, "TEMPORARY")
        if status != 200:
            raise self._refused("webhook", status)
        say(self.out, self.tr.t("demo.customer_allows") + "\n")

    async def answer_reaches_thread(self, parent_ts: str) -> None:
        def replied() -> bool:
            return bool(self.slack.thread_replies(CHANNEL, parent_ts))

        askcall = self.runner.app[ASKCALL]

        async def idle() -> bool:
            return len(askcall.tasks) == 0 and await askcall.store.pending_delivery_count() == 0

        await self._until(replied, "answer")
        await self._until(idle, "status")
        replies = self.slack.thread_replies(CHANNEL, parent_ts)
        _show(self.out, self.tr.t("demo.replies"), [line for r in replies for line in message_lines(r)])
        parent = self.slack.find_message(CHANNEL, parent_ts) or {}
        _show(self.out, self.tr.t("demo.now_shows", channel=CHANNEL_NAME), message_lines(parent))


async def run_demo(
    out: TextIO, language: str = "pt-BR", *, call: bool = False, open_browser: bool = False, port: int = 0
) -> int:
    """Play the loop once; 0 when the customer's answer reached the thread, 1 otherwise.

    With `call`, the rep then clicks "📞 Call now" and the demo serves the call page until Ctrl-C (or SIGTERM).
    """
    tr = Translator(language)
    if call and (problem := demo_call.aiortc_problem(tr)):
        say(out, problem)
        return 1
    say(out, tr.t("demo.intro") + "\n")
    try:
        # Bound before AskCall starts, so its URL is known (port 0: a free one).
        listener = bind("127.0.0.1", port, port_variable="--port")
    except ListenError as error:
        say(out, f"✗ {error}.")
        return 1
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    signing_secret = secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="askcall-demo-") as folder:
        async with FakeSlack() as slack, FakePilotStatus(webhook_secret=secrets.token_hex(16)) as pilot:
            slack.user_locales[REP] = "en-US" if language == "en" else "pt-BR"  # AskCall speaks the rep's language
            slack.user_names[REP] = REP_REAL_NAME
            pilot.customer_writes(CUSTOMER)  # the customer is chatting with the rep: their 24-hour window is open
            settings = demo_settings(slack, pilot, signing_secret, Path(folder) / "askcall.db", language, url)
            # An open call page keeps its event stream open: stopping does not wait for it.
            runner = web.AppRunner(create_web_app(settings), access_log=None, shutdown_timeout=1.0)
            await runner.setup()
            try:
                await web.SockSite(runner, listener).start()
                demo = _Demo(out, url, slack, pilot, signing_secret, runner, language)
                parent_ts = await demo.play()
                say(out, tr.t("demo.worked"))
                if call:
                    say(out, "")
                    demo_call.subscribe_calls(pilot, url)
                    link = await demo.call_now(parent_ts)
                    await demo.serve_calls(parent_ts, link, open_browser=open_browser)
            except DemoFailed as error:
                say(out, tr.t("demo.failed", error=error))
                return 1
            finally:
                await runner.cleanup()
                listener.close()
    return 0
