"""`askcall serve` as a real process: start-up checks, SIGTERM, and kill -9 at awkward moments."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest

from bot.fakes.pilot_status import FakePilotStatus, permission_event, send_webhook
from bot.fakes.slack import FakeSlack, slack_signed_headers, slash_command_body
from tests.cli_process import run_askcall

SIGNING_SECRET = "process-signing-secret"
WEBHOOK_SECRET = "process-webhook-secret"
CUSTOMER = "+5511987654321"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class AskCallProcess:
    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.proc: asyncio.subprocess.Process | None = None
        self.url = f"http://127.0.0.1:{env['PORT']}"

    async def start(self) -> None:
        log = self.log_path.open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "serve", env=self.env, stdout=log, stderr=log, cwd=self.log_path.parent
        )
        async with aiohttp.ClientSession() as http:
            for _ in range(1500):  # up to ~30 s on a loaded machine
                try:
                    async with http.get(self.url + "/healthz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                if self.proc.returncode is not None:
                    break
                await asyncio.sleep(0.02)
        raise AssertionError("askcall serve did not start:\n" + self.log_path.read_text())

    async def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def terminate(self) -> int:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.proc.wait(), 40)

    async def command(self, http: aiohttp.ClientSession, text: str, response_url: str) -> int:
        body = slash_command_body(text, response_url=response_url)
        async with http.post(
            self.url + "/slack/events", data=body.encode(), headers=slack_signed_headers(body, SIGNING_SECRET)
        ) as response:
            return response.status

    async def answer(self, status: str, timestamp: str | None = None) -> int:
        code, _ = await send_webhook(
            self.url + "/webhooks/pilot-status",
            permission_event(CUSTOMER.lstrip("+"), status, timestamp=timestamp),
            secret=WEBHOOK_SECRET,
        )
        return code


@pytest.fixture
async def launch() -> AsyncIterator[Callable[[dict[str, str], Path], AskCallProcess]]:
    """Makes AskCallProcess objects and kills whatever is still running at teardown, so a failing
    test never leaves an `askcall serve` behind."""
    made: list[AskCallProcess] = []

    def make(env: dict[str, str], log_path: Path) -> AskCallProcess:
        made.append(AskCallProcess(env, log_path))
        return made[-1]

    yield make
    for app in made:
        if app.proc is not None and app.proc.returncode is None:
            app.proc.kill()
            await app.proc.wait()


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeSlack, FakePilotStatus]]:
    # The customers are in conversation with the team: their 24-hour window is open.
    async with FakeSlack() as slack, FakePilotStatus(webhook_secret=WEBHOOK_SECRET, window=False) as pilot:
        yield slack, pilot
    assert slack.invalid_payloads == []


# The processes' leases, and how long "nothing more arrives" is watched: a whole lease and a sweep after the work
# looked done, when a second takeover (the duplicate an "exactly once" test is about) would have posted.
LEASE_SECONDS = 2
PAST_A_LEASE = LEASE_SECONDS * 4 / 3 + 0.5


def process_env(slack: FakeSlack, pilot: FakePilotStatus, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PILOT_STATUS_", "ASKCALL_"))}
    env.update(
        SLACK_BOT_TOKEN=slack.token,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.api_url,
        PILOT_STATUS_API_KEY=pilot.api_key,
        PILOT_STATUS_BASE_URL=pilot.base_url,
        PILOT_STATUS_WEBHOOK_SECRET=WEBHOOK_SECRET,
        ASKCALL_DB_PATH=str(tmp_path / "data" / "askcall.db"),
        # A killed process's work is taken over once its leases run out: keep that short here.
        ASKCALL_LEASE_SECONDS=str(LEASE_SECONDS),
        HOST="127.0.0.1",
        PORT=str(free_port()),
    )
    return env


def replies(slack: FakeSlack) -> list[dict]:
    return [m for m in slack.messages if m.get("thread_ts") and m["thread_ts"] != m["ts"]]


async def test_missing_secret_stops_startup_with_its_name(fakes, tmp_path: Path) -> None:
    slack, pilot = fakes
    env = process_env(slack, pilot, tmp_path)
    del env["PILOT_STATUS_WEBHOOK_SECRET"]
    code, _, stderr = await run_askcall("serve", env=env, cwd=tmp_path, timeout=20)
    assert code != 0
    assert "PILOT_STATUS_WEBHOOK_SECRET" in stderr


async def test_kill9_with_pending_reply_then_restart_delivers_exactly_once(fakes, tmp_path: Path, launch) -> None:
    slack, pilot = fakes
    app = launch(process_env(slack, pilot, tmp_path), tmp_path / "askcall.log")
    await app.start()
    async with aiohttp.ClientSession() as http:
        assert await app.command(http, "+55 11 98765-4321 Podemos ligar?", slack.response_url()) == 200
    await slack.wait_for(lambda: len(pilot.permission_requests) == 1, timeout=10)
    # Slack is down for thread replies: the answer is stored but cannot be posted yet.
    slack.fail_next("chat.postMessage", status=503, times=1000)
    assert await app.answer("TEMPORARY") == 200
    await slack.wait_for(lambda: any(c.outcome == "503" for c in slack.calls), timeout=10)
    await app.kill9()

    slack.clear_scripts()  # Slack is back
    await app.start()
    await slack.wait_for(lambda: len(replies(slack)) == 1, timeout=15)
    await slack.wait_for(lambda: any("✅" in (u.get("text") or "") for u in slack.updates), timeout=15)
    await asyncio.sleep(PAST_A_LEASE)  # nothing else may arrive, even from a second takeover
    assert len(replies(slack)) == 1
    assert await app.terminate() == 0


async def test_kill9_while_reply_is_in_flight_does_not_duplicate(fakes, tmp_path: Path, launch) -> None:
    slack, pilot = fakes
    app = launch(process_env(slack, pilot, tmp_path), tmp_path / "askcall.log")
    await app.start()
    async with aiohttp.ClientSession() as http:
        assert await app.command(http, "+55 11 98765-4321", slack.response_url()) == 200
    await slack.wait_for(lambda: len(pilot.permission_requests) == 1, timeout=10)
    # Slack takes 1 s to accept the thread reply; AskCall dies while waiting for the answer.
    slack.delay_next("chat.postMessage", 1.0)
    assert await app.answer("PERMANENT") == 200
    await slack.wait_for(lambda: len(slack.calls_to("chat.postMessage", only_ok=False)) >= 2, timeout=10)
    await app.kill9()
    await slack.wait_for(lambda: len(replies(slack)) == 1, timeout=5)  # Slack did post it

    await app.start()
    await slack.wait_for(lambda: any("♾️" in (u.get("text") or "") for u in slack.updates), timeout=15)
    await asyncio.sleep(PAST_A_LEASE)
    assert len(replies(slack)) == 1
    assert await app.terminate() == 0


async def test_kill9_during_pilot_status_call_never_resends(fakes, tmp_path: Path, launch) -> None:
    slack, pilot = fakes
    app = launch(process_env(slack, pilot, tmp_path), tmp_path / "askcall.log")
    await app.start()
    pilot.script("POST", "/v1/calls/permissions/request", delay=2.0)
    async with aiohttp.ClientSession() as http:
        assert await app.command(http, "+55 11 98765-4321", slack.response_url()) == 200
    await slack.wait_for(lambda: len(pilot.requests_to("POST", "/v1/calls/permissions/request")) == 1, timeout=10)
    await app.kill9()

    await app.start()
    await slack.wait_for(lambda: len(replies(slack)) == 1, timeout=15)
    assert "⚠️" in replies(slack)[0]["text"]
    # The customer got it after all and answers: the answer still reaches the thread.
    assert await app.answer("NO_PERMISSION") == 200
    await slack.wait_for(lambda: len(replies(slack)) == 2, timeout=15)
    assert len(pilot.requests_to("POST", "/v1/calls/permissions/request")) == 1
    assert await app.terminate() == 0
    log = (tmp_path / "askcall.log").read_text()
    assert "98765-4321" not in log and "5511987654321" not in log
    assert slack.token not in log and pilot.api_key not in log


async def test_kill9_after_slack_stored_the_parent_in_a_channel_askcall_never_joined(
    fakes, tmp_path: Path, launch
) -> None:
    """chat:write.public: C1 is public and AskCall is not a member, so reading it back means joining it first."""
    slack, pilot = fakes
    assert not slack.channel("C1").member
    app = launch(process_env(slack, pilot, tmp_path), tmp_path / "askcall.log")
    await app.start()
    slack.hang_next("chat.postMessage")  # Slack stores the parent; its answer never arrives
    async with aiohttp.ClientSession() as http:
        assert await app.command(http, "+55 11 98765-4321 Podemos ligar?", slack.response_url()) == 200
    await slack.wait_for(lambda: slack.hanging == 1, timeout=10)
    await app.kill9()
    slack.release_hung(answer=False)

    await app.start()
    await slack.wait_for(lambda: len(pilot.permission_requests) == 1, timeout=15)
    await asyncio.sleep(PAST_A_LEASE)  # nothing else may arrive, even from a second takeover
    assert len([m for m in slack.messages if not m.get("thread_ts")]) == 1
    assert len(slack.calls_to("chat.postMessage", only_ok=False)) == 1
    assert [c.args["channel"] for c in slack.calls_to("conversations.join")] == ["C1"]
    assert await app.terminate() == 0
