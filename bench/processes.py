"""Child processes of the bench: start, talk to, measure and stop them (only them, by pid)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
# Replies of the load generator can hold thousands of samples on one line.
LINE_LIMIT = 64 * 1024 * 1024


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment minus AskCall's own settings (no developer .env or shell leaks in), bench importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PILOT_STATUS_", "ASKCALL_"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.update(extra or {})
    return env


class BenchError(Exception):
    """The bench itself could not run (a process did not start, a phase timed out)."""


class Child:
    """One child process. stdout is a pipe (a ready line, then replies); stderr goes to `log`."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log: Path,
        *,
        env: dict[str, str] | None = None,
        cwd: Path = REPO,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log = log
        self.env = env or child_env()
        self.cwd = cwd
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise BenchError(f"{self.name} is not running")
        return self.proc.pid

    async def start(self, *, ready_line: bool = True, within: float = 60.0) -> dict[str, Any]:
        with self.log.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                env=self.env,
                cwd=self.cwd,
                limit=LINE_LIMIT,
            )
        return await self.read_line(within) if ready_line else {}

    async def read_line(self, within: float) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        try:
            line = await asyncio.wait_for(self.proc.stdout.readline(), within)
        except TimeoutError as error:
            raise BenchError(f"{self.name}: no answer within {within:.0f}s; see {self.log}") from error
        if not line:
            await self.proc.wait()
            raise BenchError(f"{self.name} exited with {self.proc.returncode}; see {self.log}:\n{self.tail()}")
        data: dict[str, Any] = json.loads(line)
        if "error" in data:
            raise BenchError(f"{self.name}: {data['error']}")
        return data

    async def call(self, request: dict[str, Any], within: float) -> dict[str, Any]:
        """One request/reply over the child's stdin/stdout (the load generator's protocol)."""
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(request).encode() + b"\n")
        await self.proc.stdin.drain()
        return await self.read_line(within)

    async def finish(self, within: float) -> dict[str, Any]:
        """For run-to-completion children: the JSON line they print, then their exit."""
        result = await self.read_line(within)
        assert self.proc is not None
        await self.proc.wait()
        return result

    async def stop(self, within: float = 30.0) -> int | None:
        """SIGTERM, then SIGKILL if it doesn't exit `within` seconds (this child's pid only)."""
        if self.proc is None or self.proc.returncode is not None:
            return self.proc.returncode if self.proc else None
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.proc.wait(), within)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            return await self.proc.wait()

    def memory_kib(self) -> dict[str, int]:
        """VmHWM (peak resident set) and VmRSS, in KiB, from /proc/<pid>/status."""
        found = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                found[key] = int(value.split()[0])
        return found

    def cpu_seconds(self) -> float:
        """User + system CPU time so far (all threads), from /proc/<pid>/stat."""
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


async def wait_healthy(url: str, child: Child, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(url) as response:
                    if response.status == 200:
                        return
            if child.proc is not None and child.proc.returncode is not None:
                break
            await asyncio.sleep(0.05)
    raise BenchError(f"{child.name} did not become healthy at {url}:\n{child.tail()}")


class WorkQuestions:
    """Read-only questions about AskCall's work, asked of its database from the bench process.

    SQL uses `?` placeholders; each backend's subclass answers `query`."""

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    async def close(self) -> None:
        return None

    async def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = await self.query(sql, params)
        return rows[0][0] if rows else None

    async def backlog(self) -> dict[str, int]:
        """Work AskCall still has to do: unfinished requests, unsent deliveries, unprocessed webhooks."""
        soon = time.time() + 5
        rows = await self.query(
            """SELECT (SELECT COUNT(*) FROM requests WHERE state IN ('new', 'ready', 'sending')),
                      (SELECT COUNT(*) FROM deliveries WHERE state IN ('pending', 'inflight')
                                                       AND next_attempt_at <= ?),
                      (SELECT COUNT(*) FROM webhook_events WHERE processed_at IS NULL)""",
            (soon,),
        )
        requests, deliveries, events = rows[0]
        return {"requests": requests, "deliveries": deliveries, "webhooks": events}

    async def wait_idle(self, within: float) -> tuple[bool, dict[str, int]]:
        """Until the backlog is empty twice in a row; returns (idle, last backlog)."""
        deadline = time.monotonic() + within
        quiet = 0
        backlog: dict[str, int] = {}
        while time.monotonic() < deadline:
            backlog = await self.backlog()
            quiet = quiet + 1 if not any(backlog.values()) else 0
            if quiet >= 2:
                return True, backlog
            await asyncio.sleep(0.25)
        return False, backlog


class Database(WorkQuestions):
    """AskCall's SQLite file, read from the bench process (WAL: no blocking)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _query(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10)
        try:
            return list(conn.execute(sql, tuple(params)).fetchall())
        finally:
            conn.close()

    async def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return await asyncio.to_thread(self._query, sql, params)
