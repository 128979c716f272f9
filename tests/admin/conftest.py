"""Fixtures for the admin commands: the `askcall` CLI, in-process (`run_cli`) or as the real process
(`run_askcall_process`), against the loopback fakes."""

from __future__ import annotations

import asyncio
import os
import shlex
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from bot.cli import main
from bot.config import Settings
from bot.fakes.pilot_status import FakePilotStatus
from bot.fakes.slack import FakeSlack
from tests.cli_process import run_askcall
from tests.conftest import SIGNING_SECRET, WEBHOOK_SECRET


@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()

    def line_with(self, text: str) -> str:
        found = [line for line in self.lines if text in line]
        assert len(found) == 1, f"expected one line with {text!r} in:\n{self.out}"
        return found[0]


RunCli = Callable[..., Awaitable[CliResult]]
# A password put into database URLs, to prove it is never printed.
PASSWORD = "s3cret-Pa55word"


def with_password(url: str, password: str = PASSWORD) -> str:
    """`url` with `password` in its user part (the test servers trust local users, so it is never checked)."""
    parts = urlsplit(url)
    userinfo, _, hosts = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{userinfo.split(':')[0]}:{password}@{hosts}"))


def use_database(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    """Point the CLI at the database a test's AskCall used (SQLite or PostgreSQL)."""
    monkeypatch.setenv("ASKCALL_DB_PATH", settings.db_path)
    if settings.database.dsn is not None:
        monkeypatch.setenv("ASKCALL_DATABASE_URL", settings.database.dsn)


@pytest.fixture
def cli_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, slack: FakeSlack, pilot: FakePilotStatus
) -> dict[str, str]:
    """A complete, valid configuration pointing at the fakes; nothing from the developer's environment."""
    for name in list(os.environ):
        if name.startswith(("SLACK_", "PILOT_STATUS_", "ASKCALL_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env
    values = {
        "SLACK_BOT_TOKEN": slack.token,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "PILOT_STATUS_API_KEY": pilot.api_key,
        "PILOT_STATUS_BASE_URL": pilot.base_url,
        "PILOT_STATUS_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "ASKCALL_DB_PATH": str(tmp_path / "data" / "askcall.db"),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> RunCli:
    """Run `askcall ARGS…` in a worker thread (it runs its own event loop) while the fakes serve on this one."""

    async def run(*argv: str) -> CliResult:
        capsys.readouterr()
        code = await asyncio.to_thread(main, list(argv))
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture
def run_askcall_process(tmp_path: Path) -> RunCli:
    """Run the real `askcall ARGS…` process with this test's environment (cli_env's settings), in tmp_path."""

    async def run(*argv: str) -> CliResult:
        code, out, err = await run_askcall(*argv, env=dict(os.environ), cwd=tmp_path)
        assert code is not None
        return CliResult(code, out, err)

    return run


def printed_command(line: str) -> list[str]:
    """The arguments of the `askcall …` command a check line tells the operator to run, exactly as printed."""
    _, _, fix = line.partition(" — fix: run askcall ")
    assert fix, f"no `run askcall …` fix in: {line}"
    return shlex.split(fix.split(" (", 1)[0])
