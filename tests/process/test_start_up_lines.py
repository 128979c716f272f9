"""A real `askcall serve` says what stops it in one line (a port in use, a wrong HOST, a bad value, a Slack app
token Slack refuses) and exits non-zero, never "ready" before it listens; once up, it names its version, mode,
backend and schema; in Socket Mode it rides out a lost connection, retrying with backoff while /readyz says why."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import os
import re
import signal
import socket
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from bot import __version__
from bot.fakes.pilot_status import FakePilotStatus
from bot.fakes.slack import FakeSlack
from bot.store import known_schema_version
from bot.store.postgres.schema import MIGRATIONS as POSTGRES_MIGRATIONS
from bot.store.sqlite.schema import MIGRATIONS as SQLITE_MIGRATIONS
from tests.admin.conftest import PASSWORD, with_password
from tests.cli_process import AskcallOutput, run_askcall
from tests.process.test_kill9 import WEBHOOK_SECRET, process_env

READY = re.compile(r"AskCall \S+ ready on ")


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeSlack, FakePilotStatus]]:
    async with FakeSlack() as slack, FakePilotStatus(webhook_secret=WEBHOOK_SECRET) as pilot:
        yield slack, pilot


@pytest.fixture
async def serve() -> AsyncIterator[list[AskcallOutput]]:
    """`askcall serve` processes started by a test; whatever still runs at the end is killed."""
    started: list[AskcallOutput] = []
    yield started
    for process in started:
        if process.proc.returncode is None:
            process.proc.kill()
            await process.proc.wait()


async def start(serve: list[AskcallOutput], env: dict[str, str], cwd: Path) -> AskcallOutput:
    process = await AskcallOutput.start("serve", env=env, cwd=cwd)
    serve.append(process)
    return process


async def exit_status(process: AskcallOutput, timeout: float = 30) -> int:  # noqa: ASYNC109
    status = await asyncio.wait_for(process.proc.wait(), timeout)
    await process._reader
    return status


def one_line_failure(process: AskcallOutput) -> str:
    """The one `askcall: …` line that explains a failed start, after checking nothing else went wrong."""
    text = process.text
    assert "Traceback" not in text, text
    assert not READY.search(text), text  # never "ready" when it never listened
    (line,) = [line for line in process.lines if line.startswith("askcall: ")]
    return line


@pytest.mark.parametrize("variable", ["PORT", "ASKCALL_METRICS_PORT"])
async def test_a_port_in_use_is_one_line_and_a_non_zero_exit_before_anything_starts(
    fakes: tuple[FakeSlack, FakePilotStatus], tmp_path: Path, serve: list[AskcallOutput], variable: str
) -> None:
    slack, pilot = fakes
    env = process_env(slack, pilot, tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env[variable] = str(taken.getsockname()[1])
        process = await start(serve, env, tmp_path)
        status = await exit_status(process)

    assert status == 1
    assert one_line_failure(process) == (
        f"askcall: port {env[variable]} on 127.0.0.1 is already in use (another AskCall, or another program, listens "
        f"there): stop it, or set {variable} to a free port"
    )
    assert not (tmp_path / "data").exists()  # the database was not even opened
    assert slack.calls == []


@pytest.mark.parametrize(
    ("host", "status", "says"),
    [
        ("203.0.113.7", 1, "HOST='203.0.113.7' is not an address of this machine"),  # TEST-NET-3: nobody's
        ("not a host!", 2, "HOST='not a host!' is not an IP address or host name to listen on"),
    ],
)
async def test_an_invalid_host_is_one_line_and_a_non_zero_exit(
    fakes: tuple[FakeSlack, FakePilotStatus],
    tmp_path: Path,
    serve: list[AskcallOutput],
    host: str,
    status: int,
    says: str,
) -> None:
    slack, pilot = fakes
    env = {**process_env(slack, pilot, tmp_path), "HOST": host}

    process = await start(serve, env, tmp_path)

    assert await exit_status(process) == status
    line = one_line_failure(process)
    assert line.startswith(f"askcall: {says}"), line
    assert "e.g. HOST=0.0.0.0" in line


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("ASKCALL_LOG_LEVEL", "verbose", "ASKCALL_LOG_LEVEL='verbose' is not one of DEBUG, INFO, WARNING, ERROR"),
        ("ASKCALL_ALLOWED_CHANNELS", "#sales", "ASKCALL_ALLOWED_CHANNELS: '#sales' is a channel name, not its id"),
    ],
)
async def test_a_bad_value_stops_serve_with_the_variable_and_an_example(
    fakes: tuple[FakeSlack, FakePilotStatus],
    tmp_path: Path,
    serve: list[AskcallOutput],
    name: str,
    value: str,
    says: str,
) -> None:
    slack, pilot = fakes
    env = {**process_env(slack, pilot, tmp_path), name: value}

    process = await start(serve, env, tmp_path)

    assert await exit_status(process) == 2
    line = one_line_failure(process)
    assert line.startswith(f"askcall: {says}"), line
    assert f"e.g. {name}=" in line


async def test_the_ready_line_comes_once_it_listens_and_names_version_mode_backend_and_schema(
    fakes: tuple[FakeSlack, FakePilotStatus], tmp_path: Path, serve: list[AskcallOutput], pg_url: str
) -> None:
    slack, pilot = fakes
    url = with_password(pg_url)
    env = {**process_env(slack, pilot, tmp_path), "ASKCALL_DATABASE_URL": url}

    process = await start(serve, env, tmp_path)
    line = await process.line(READY.search, "ready line", timeout=30)
    # Ready means listening: the first try gets an answer.
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{env['PORT']}/healthz") as response:
        assert response.status == 200

    redacted = url.replace(PASSWORD, "***")
    assert line.endswith(
        f"AskCall {__version__} ready on 127.0.0.1:{env['PORT']}: Slack over HTTP, database PostgreSQL {redacted}, "
        f"schema version {known_schema_version()}"
    ), line
    assert await process.stop(signal.SIGTERM) == 0  # SIGTERM
    assert PASSWORD not in process.text


# --- Socket Mode ------------------------------------------------------------------------------------------------


async def test_an_app_token_slack_refuses_stops_the_start_with_the_fix(
    fakes: tuple[FakeSlack, FakePilotStatus], tmp_path: Path, serve: list[AskcallOutput]
) -> None:
    slack, pilot = fakes
    env = {**process_env(slack, pilot, tmp_path), "SLACK_APP_TOKEN": "xapp-1-revoked"}

    process = await start(serve, env, tmp_path)

    assert await exit_status(process) == 1
    line = one_line_failure(process)
    assert line.startswith("askcall: Slack refused SLACK_APP_TOKEN (invalid_auth): create an App-Level Token"), line
    assert "connections:write" in line
    assert "xapp-1-revoked" not in process.text


async def test_socket_mode_retries_a_lost_connection_with_backoff_while_readyz_says_why(
    fakes: tuple[FakeSlack, FakePilotStatus], tmp_path: Path, serve: list[AskcallOutput]
) -> None:
    slack, pilot = fakes
    env = {**process_env(slack, pilot, tmp_path), "SLACK_APP_TOKEN": slack.app_token}
    url = f"http://127.0.0.1:{env['PORT']}"
    process = await start(serve, env, tmp_path)
    await process.line(READY.search, "ready line", timeout=30)
    await slack.wait_for(lambda: len(slack.sockets) == 1, timeout=15)
    assert "Slack over Socket Mode" in process.text

    async with aiohttp.ClientSession() as http:
        await eventually_status(http, url, "ready")
        # Slack drops the connection and, for three attempts, won't hand out a new one.
        slack.fail_next("apps.connections.open", error="internal_error", times=3)
        await slack.drop_sockets()
        # Degraded, not unready: the replica still stores webhooks, and deliveries wait in the outbox.
        body = await eventually_status(http, url, "degraded")
        assert "Socket Mode" in body["slack"] and "internal_error" in body["slack"], body
        async with http.get(url + "/healthz") as response:
            assert response.status == 200  # the HTTP server never stops serving meanwhile
        # It comes back by itself, once Slack does.
        await slack.wait_for(lambda: len(slack.sockets) == 1, timeout=30)
        await eventually_status(http, url, "ready")

    assert await process.stop(signal.SIGTERM) == 0
    retries = [line for line in process.lines if "Socket Mode can't connect to Slack (internal_error)" in line]
    assert [re.search(r"retrying in (\S+) s", line).group(1) for line in retries] == ["1", "2", "4"]  # type: ignore[union-attr]
    assert "Traceback" not in process.text, process.text
    assert len(slack.calls_to("apps.connections.open", only_ok=False)) == 1 + 3 + 1  # start-up, 3 refused, the new one


async def eventually_status(
    http: aiohttp.ClientSession,
    url: str,
    status: str,
    timeout: float = 20,  # noqa: ASYNC109
) -> dict[str, str]:
    """/readyz's body once it says `status` (ready or degraded: both answer 200)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with http.get(url + "/readyz") as response:
            body = await response.json()
            if body.get("status") == status:
                assert response.status == 200, body
                return body
        assert asyncio.get_running_loop().time() < deadline, f"/readyz never said {status}: {body}"
        await asyncio.sleep(0.1)


# --- versions ---------------------------------------------------------------------------------------------------


async def test_an_older_askcall_refuses_a_newer_schema_at_start_up(
    fakes: tuple[FakeSlack, FakePilotStatus], tmp_path: Path, serve: list[AskcallOutput], database_url: str
) -> None:
    """What a rollback without restoring the backup meets: one line, exit 1, and the database left as it was."""
    newer = known_schema_version() + 1
    if database_url.startswith("sqlite"):
        path = database_url.removeprefix("sqlite://")
        with contextlib.closing(sqlite3.connect(path)) as db:
            db.execute(f"PRAGMA user_version = {newer}")
    else:
        connection = await asyncpg.connect(database_url)
        await connection.execute("CREATE TABLE askcall_schema (version INTEGER NOT NULL)")
        await connection.execute("INSERT INTO askcall_schema (version) VALUES ($1)", newer)
        await connection.close()
    slack, pilot = fakes
    env = {**process_env(slack, pilot, tmp_path), "ASKCALL_DATABASE_URL": database_url}

    process = await start(serve, env, tmp_path)

    assert await exit_status(process) == 1
    line = one_line_failure(process)
    assert f"is at schema version {newer}, newer than this AskCall knows ({newer - 1})" in line, line
    assert line.endswith("to roll back instead, restore the backup taken before askcall db migrate")


async def test_version_prints_the_release_and_the_schema_version(tmp_path: Path) -> None:
    code, out, err = await run_askcall("--version", env=process_env_without_settings(), cwd=tmp_path)

    assert (code, err) == (0, "")
    assert out == f"askcall {__version__} (database schema version {len(SQLITE_MIGRATIONS)})\n"
    assert len(SQLITE_MIGRATIONS) == len(POSTGRES_MIGRATIONS)
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)  # semantic: MAJOR.MINOR.PATCH
    assert importlib.metadata.version("askcall") == __version__  # what pip installed says the same


def process_env_without_settings() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PILOT_STATUS_", "ASKCALL_"))}


# --- which workspace the bot token serves -------------------------------------------------------------------------


async def test_a_first_start_while_slack_cant_say_which_workspace_stops_with_one_line(
    fakes: tuple[FakeSlack, FakePilotStatus], tmp_path: Path, serve: list[AskcallOutput]
) -> None:
    """`auth.test` unreachable on a database that records no workspace: AskCall can't tell whose rows to serve, so it
    stops with one line and exit status 1 (a later start, once Slack answers, records the workspace)."""
    slack, pilot = fakes
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{unused.getsockname()[1]}/api/"
    env = {**process_env(slack, pilot, tmp_path), "SLACK_API_URL": nowhere}

    process = await start(serve, env, tmp_path)

    assert await exit_status(process) == 1
    line = one_line_failure(process)
    assert line.startswith("askcall: Slack's auth.test could not be reached"), line
    assert "can't tell which workspace SLACK_BOT_TOKEN serves" in line
    assert slack.token not in process.text
