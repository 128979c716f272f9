"""Process control for one bench run: every child process and database the bench starts, and their ends.

The bench starts the fakes, the floor servers and the load generator (`Servers`), AskCall deployments
(`Deployment`: one `askcall serve` on a fresh SQLite file, or N on a fresh PostgreSQL database), and
run-to-completion children (the storage floors, figure 4). Invariants: the bench signals only the
children it started, by pid (SIGTERM, then SIGKILL after a grace period), and records every AskCall
process's exit code; every PostgreSQL database it creates is named `askcall_bench_<hex>` and dropped
(WITH FORCE) by the same run, so a run leaves the server as it found it, whatever happened in between.
No child reads a developer `.env` or the shell's AskCall settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
from slack_sdk.oauth.installation_store import Installation

from bench.common import (
    PILOT_API_KEY,
    SIGNING_SECRET,
    SLACK_TOKEN,
    WEBHOOK_SECRET,
    free_port,
    say,
    workspace_team,
    workspace_token,
)
from bench.questions import Database, PostgresDatabase, WorkQuestions
from bot.config import DEFAULT_NUMBER
from bot.secrets import Secrets, new_key
from bot.slack.scopes import REQUIRED_BOT_SCOPES
from bot.slack.stored_installations import StoredInstallations
from bot.store import create_store
from bot.store.workspace_settings import StoredNumber

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
# Replies of the load generator can hold thousands of samples on one line.
LINE_LIMIT = 64 * 1024 * 1024
FLOORS = ("aiohttp", "bolt-pbr", "bolt-default", "relay")
# The project's machines run PostgreSQL 15 here with trust auth (see tests/postgres.py).
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DATABASE_PREFIX = "askcall_bench_"


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


async def run_once(work: Path, name: str, argv: Sequence[str], within: float) -> dict[str, Any]:
    """A run-to-completion child (a storage floor, figure 4): its one JSON line, once it has exited."""
    child = Child(name, argv, work / f"{name}.log")
    await child.start(ready_line=False)
    return await child.finish(within=within)


def make_workdir(given: Path | None) -> Path:
    """`given` (created if missing), or a new temporary directory: databases and logs of every process."""
    work = given or Path(tempfile.mkdtemp(prefix="askcall-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    return work


def database_url(admin_url: str, name: str) -> str:
    """`admin_url` with its database replaced by `name`."""
    parts = urlsplit(admin_url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


@asynccontextmanager
async def fresh_database(admin_url: str) -> AsyncIterator[str]:
    """A new empty database on the server at `admin_url`; yields its URL and drops it afterwards."""
    name = DATABASE_PREFIX + uuid.uuid4().hex[:12]
    conn = await asyncpg.connect(admin_url, timeout=5)
    try:
        await conn.execute(f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'")
    finally:
        await conn.close()
    try:
        yield database_url(admin_url, name)
    finally:
        conn = await asyncpg.connect(admin_url, timeout=5)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


@dataclass
class Deployment:
    """AskCall as measured: one or more `askcall serve` processes on one database.

    Leaving `stack` stops the processes (recording their exit codes), then drops a PostgreSQL database."""

    label: str  # how the table names it: "SQLite", "PostgreSQL, 1 replica", …
    backend: str  # "sqlite" or "postgresql"
    replicas: list[Child]
    urls: list[str]
    db: WorkQuestions
    stack: contextlib.AsyncExitStack

    @property
    def postgres(self) -> bool:
        return self.backend == "postgresql"

    @property
    def aside(self) -> str:
        """How check names and CPU lines qualify this deployment: "" on SQLite, " (PostgreSQL, 1 replica)"."""
        return f" ({self.label})" if self.postgres else ""

    def cpu_seconds(self) -> float:
        return sum(child.cpu_seconds() for child in self.replicas)

    def webhook_urls(self) -> list[str]:
        return [url + "/webhooks/pilot-status" for url in self.urls]


@dataclass
class Servers:
    """The long-lived helpers of a run (fake Slack, fake Pilot Status, the floor servers, the load
    generator) and the bench's side of their protocols: the fakes' control APIs, the load generator's
    operations (see bench/loadgen.py)."""

    slack: dict[str, str]  # the fake Slack's URLs: api_url, response_url, control
    pilot: dict[str, str]  # the fake Pilot Status's URLs: base_url, control
    floors: dict[str, Child]
    floor_urls: dict[str, str]
    loadgen: Child
    children: list[Child]  # all of the above, in the order they started
    http: aiohttp.ClientSession

    async def slash(
        self,
        urls: list[str],
        concurrency: int,
        count: int,
        *,
        area: int,
        offset: int,
        warmup: int = 0,
        channel_prefix: str = "",
        user_prefix: str = "",
        rate: float | None = None,
        teams: int = 0,
    ) -> dict[str, Any]:
        """`warmup + count` signed `/askcall` commands for customers `offset`… of `area` (see bench/loadgen.py)."""
        total = warmup + count
        spec: dict[str, Any] = {
            "op": "slash",
            "urls": urls,
            "concurrency": concurrency,
            "count": total,
            "warmup": warmup,
            "area": area,
            "offset": offset,
            "channel_prefix": channel_prefix,
            "user_prefix": user_prefix,
            "response_url": self.slack["response_url"],
            "teams": teams,
        }
        if rate:
            spec["rate"] = rate
        return await self.loadgen.call(spec, within=120 + total * 0.1 + (count / rate if rate else 0))

    async def webhooks(self, urls: list[str], bodies: list[str], shift: int = 0) -> dict[str, Any]:
        """The webhooks closed loop at c=16, spread round robin over `urls` (starting `shift` along)."""
        spec = {"op": "webhooks", "urls": urls, "concurrency": 16, "bodies": bodies, "shift": shift}
        return await self.loadgen.call(spec, within=120 + len(bodies) * 0.1)

    async def paced(self, urls: list[str], events: list[dict[str, Any]], rate: float) -> dict[str, Any]:
        """The events open loop at `rate` per second; the wall-clock send time of each."""
        spec = {"op": "paced", "urls": urls, "rate": rate, "events": events}
        return await self.loadgen.call(spec, within=120 + len(events) / rate)

    async def pilot_delay(self, seconds: float) -> None:
        """How long the fake Pilot Status sleeps on each permission request from now on."""
        async with self.http.post(f"{self.pilot['control']}/delay", params={"seconds": str(seconds)}) as response:
            response.raise_for_status()

    async def slack_count(self, **query: str | int) -> tuple[int, int]:
        """(matching calls, all calls so far) at the fake Slack."""
        params = {k: str(v) for k, v in query.items()}
        async with self.http.get(f"{self.slack['control']}/count", params=params) as response:
            data = await response.json()
        return int(data["count"]), int(data["total"])

    async def slack_calls(self, **query: str | int) -> list[dict[str, Any]]:
        params = {k: str(v) for k, v in query.items()}
        async with self.http.get(f"{self.slack['control']}/calls", params=params) as response:
            data = await response.json()
        return list(data["calls"])


class Processes:
    """Starts and stops every long-lived child of one run; `stopped` records each AskCall's exit code.

    `note` receives lines for the report's notes (where --profile left its reports)."""

    def __init__(self, work: Path, askcall_command: list[str], *, profile: bool, note: Callable[[str], None]) -> None:
        self.work = work
        self.askcall_command = askcall_command
        self.profile = profile
        self.note = note
        self.stopped: list[tuple[str, int | None, Path]] = []  # (process, exit code, log) of every AskCall
        self._children: list[Child] = []
        self._http: aiohttp.ClientSession | None = None

    async def _spawn(self, name: str, argv: Sequence[str]) -> tuple[Child, dict[str, Any]]:
        child = Child(name, argv, self.work / f"{name}.log")
        self._children.append(child)
        return child, await child.start()

    async def start_servers(self) -> Servers:
        say(f"starting the fakes, the floors and the load generator (workdir {self.work})")
        _, slack = await self._spawn("fake-slack", [PYTHON, "-m", "bench.fakes", "slack"])
        _, pilot = await self._spawn("fake-pilot-status", [PYTHON, "-m", "bench.fakes", "pilot"])
        floors, floor_urls = {}, {}
        for name in FLOORS:
            argv = [PYTHON, "-m", "bench.floors", name, "--slack-api-url", slack["api_url"]]
            floors[name], info = await self._spawn(f"floor-{name}", argv)
            floor_urls[name] = info["url"]
        loadgen, _ = await self._spawn("loadgen", [PYTHON, "-m", "bench.loadgen"])
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        return Servers(slack, pilot, floors, floor_urls, loadgen, list(self._children), self._http)

    async def start_loadgen(self, name: str) -> Child:
        """Another load generator (the soak drives two at once: commands and webhooks); stopped by `stop`."""
        child, _ = await self._spawn(name, [PYTHON, "-m", "bench.loadgen"])
        return child

    async def stop(self) -> None:
        """Stops the helpers started by `start_servers` (AskCall deployments stop with their stack)."""
        if self._http is not None:
            await self._http.close()
            self._http = None
        for child in reversed(self._children):
            await child.stop()
        self._children.clear()

    async def start_askcall(
        self, name: str, database: dict[str, str], servers: Servers, slack: dict[str, str] | None = None
    ) -> tuple[Child, str]:
        """One `askcall serve` process on `database` (its ASKCALL_* variables), pointed at the fakes; `slack`: how it
        knows its workspaces (the one bot token by default)."""
        port = free_port()
        env = child_env(
            {
                **(slack if slack is not None else {"SLACK_BOT_TOKEN": SLACK_TOKEN}),
                "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "SLACK_API_URL": servers.slack["api_url"],
                "PILOT_STATUS_API_KEY": PILOT_API_KEY,
                "PILOT_STATUS_BASE_URL": servers.pilot["base_url"],
                "PILOT_STATUS_WEBHOOK_SECRET": WEBHOOK_SECRET,
                "HOST": "127.0.0.1",
                "PORT": str(port),
                # The load comes from one rep (UBENCH): with the default budget (30 an hour) the bench would
                # only measure the refusal, and any budget that never refuses would have the check read every
                # one of that rep's thousands of requests, which no real rep makes. No budget; in production
                # the check reads at most `budget` rows (30 by default) through an index.
                "ASKCALL_MAX_REQUESTS_PER_REP_PER_HOUR": "0",
                **database,
            }
        )
        command = self.askcall_command
        if self.profile:
            if command[0] != PYTHON:
                raise BenchError("--profile needs an --askcall-command that starts with `python`")
            profile = self.work / f"{name}.pyisession"
            command = [PYTHON, "-m", "pyinstrument", "-r", "pyisession", "-o", str(profile), *command[1:]]
        cwd = self.work / name
        cwd.mkdir(parents=True, exist_ok=True)  # its cwd: no stray .env gets read
        child = Child(name, command, self.work / f"{name}.log", env=env, cwd=cwd)
        await child.start(ready_line=False)
        url = f"http://127.0.0.1:{port}"
        try:
            await wait_healthy(url + "/healthz", child)
        except BenchError:
            await child.stop()
            raise
        return child, url

    async def start_sqlite(self, servers: Servers) -> Deployment:
        say("starting AskCall on SQLite")
        db = Database(self.work / "askcall" / "askcall.db")
        child, url = await self.start_askcall("askcall", {"ASKCALL_DB_PATH": str(db.path)}, servers)
        deployment = Deployment("SQLite", "sqlite", [child], [url], db, contextlib.AsyncExitStack())
        deployment.stack.push_async_callback(self.stop_askcall, child)
        return deployment

    async def start_many_workspaces(self, servers: Servers, workspaces: int) -> Deployment:
        """AskCall on SQLite in multi-workspace mode with `workspaces` installations stored beforehand through the
        store (tokens encrypted), as Add to Slack would have: authorize reads them on every request."""
        say(f"starting AskCall on SQLite with {workspaces:,} installed workspaces")
        db = Database(self.work / "askcall-many" / "askcall.db")
        db.path.parent.mkdir(parents=True, exist_ok=True)
        key = new_key()
        await install_workspaces(f"sqlite:///{db.path}", key, workspaces)
        slack = {
            "SLACK_CLIENT_ID": "bench.client",
            "SLACK_CLIENT_SECRET": "bench-client-secret",
            "ASKCALL_ENCRYPTION_KEY": key,
            "ASKCALL_PUBLIC_URL": "https://askcall.bench.example",
        }
        child, url = await self.start_askcall("askcall-many", {"ASKCALL_DB_PATH": str(db.path)}, servers, slack)
        deployment = Deployment(
            f"SQLite, {workspaces:,} workspaces", "sqlite", [child], [url], db, contextlib.AsyncExitStack()
        )
        deployment.stack.push_async_callback(self.stop_askcall, child)
        return deployment

    async def start_postgres(self, replicas: int, admin_url: str, servers: Servers) -> Deployment:
        """`replicas` AskCall processes sharing a database created for them on the server at `admin_url`
        (leaving the deployment's stack stops them, then drops it)."""
        label = f"PostgreSQL, {replicas} replica{'s' if replicas > 1 else ''}"
        say(f"starting AskCall on PostgreSQL: {replicas} process(es) on a fresh database")
        stack = contextlib.AsyncExitStack()
        try:
            url = await stack.enter_async_context(fresh_database(admin_url))
            db = PostgresDatabase(url)
            stack.push_async_callback(db.close)
            children, urls = [], []
            for i in range(replicas):
                child, http_url = await self.start_askcall(
                    f"askcall-pg{replicas}-{i + 1}", {"ASKCALL_DATABASE_URL": url}, servers
                )
                stack.push_async_callback(self.stop_askcall, child)
                children.append(child)
                urls.append(http_url)
        except BaseException:
            await stack.aclose()
            raise
        return Deployment(label, "postgresql", children, urls, db, stack)

    async def stop_askcall(self, child: Child) -> None:
        code = await child.stop()
        self.stopped.append((child.name, code, child.log))
        if self.profile:
            await self.render_profile(child.name)

    async def render_profile(self, name: str) -> None:
        session = self.work / f"{name}.pyisession"
        if not session.exists():
            self.note(f"--profile: pyinstrument wrote no session for {name} (did it exit cleanly?)")
            return
        text = self.work / f"{name}-profile.txt"
        proc = await asyncio.create_subprocess_exec(
            PYTHON, "-m", "pyinstrument", f"--load={session}", "-r", "text", "--show-all", "-o", str(text)
        )
        await proc.wait()
        html = self.work / f"{name}-profile.html"
        proc = await asyncio.create_subprocess_exec(
            PYTHON, "-m", "pyinstrument", f"--load={session}", "-r", "html", "-o", str(html)
        )
        await proc.wait()
        self.note(f"pyinstrument profile of {name}: {text} and {html}")


async def install_workspaces(url: str, key: str, workspaces: int) -> None:
    """Store `workspaces` Slack installations (bench teams, tokens the fake Slack accepts), encrypted under `key`,
    each with the fake Pilot Status account connected (its WhatsApp number, as Settings would store it): a workspace
    without one is refused before anything is stored, and the figure would measure that refusal."""
    store = create_store(url)
    await store.open()
    try:
        secrets = Secrets(key)
        sdk = StoredInstallations(store, secrets).sdk_store
        for index in range(workspaces):
            team = workspace_team(index)
            await store.save_workspace_number(
                StoredNumber(
                    tenant_id=team,
                    name=DEFAULT_NUMBER,
                    api_key=secrets.encrypt(PILOT_API_KEY),
                    webhook_token=f"bench-{team}-{uuid.uuid4().hex}",
                    webhook_secret=secrets.encrypt(WEBHOOK_SECRET),
                    webhook_id=f"wh-{team}",
                    created_at=time.time(),
                    updated_at=time.time(),
                )
            )
            await sdk.async_save(
                Installation(
                    app_id="ABENCH",
                    team_id=team,
                    team_name=f"Bench {team}",
                    bot_token=workspace_token(team),
                    bot_id="BBENCH",
                    bot_user_id="UBENCHBOT",
                    bot_scopes=",".join(REQUIRED_BOT_SCOPES),
                    user_id="UINSTALLER",
                    installed_at=time.time(),
                )
            )
    finally:
        await store.close()
