"""Several `askcall serve` processes on one PostgreSQL database, sharing the loopback fakes (issue 9 §5).

What these tests pin, with real processes and real leases (`ASKCALL_LEASE_SECONDS=2`):
- commands and webhooks spread over the replicas, duplicates landing on different replicas, give one request
  (one Pilot Status POST) and one thread reply each;
- a replica killed with -9 while a Slack call hangs (and then succeeds): a survivor takes the delivery over after
  the lease runs out, finds the message in the thread history and never posts it again;
- a rolling restart (SIGTERM, start again, one replica at a time) under steady traffic through a client-side
  balancer: every command acknowledged, every request sent and every answer replied exactly once, every exit 0
  (how fast is the benchmark's business, not a test's on a loaded machine);
- replicas started at the same moment on an empty database migrate it once and all become ready;
- the database stopped and started under the replicas: 503s and a "try again" ephemeral while it is down,
  everything working again afterwards without a restart.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from bot.fakes.pilot_status import FakePilotStatus, iso_timestamp, permission_event, sign_pilot_status
from bot.fakes.slack import FakeSlack, slack_signed_headers, slash_command_body
from bot.i18n.catalog import CATALOG
from bot.store.postgres.schema import MIGRATIONS
from tests.postgres import PrivateServer, execute
from tests.process.test_kill9 import (  # noqa: F401
    PAST_A_LEASE,
    SIGNING_SECRET,
    WEBHOOK_SECRET,
    fakes,
    free_port,
    process_env,
)

REPLICAS = 3
START_TIMEOUT = 40.0  # a cold start of three processes on a loaded 2-core machine
SETTLE = 30.0  # bound on waiting for background work (Slack posts, Pilot Status sends, takeovers)
QUIET = PAST_A_LEASE  # after everything arrived, how long nothing more may arrive (a takeover would by then)
REPS = 20  # reps sending the rolling restart's traffic
PHONE_BASE = 87650000  # customers +55 11 9 8765 0000, +55 11 9 8765 0001, …


def customer(number: int) -> str:
    """The E.164 number of test customer `number`."""
    return f"+55119{PHONE_BASE + number}"


def spoken(number: int) -> str:
    """How a rep types customer `number` in a slash command."""
    digits = str(PHONE_BASE + number)
    return f"+55 11 9{digits[:4]}-{digits[4:]}"


# --- the replicas ----------------------------------------------------------------------------------------------
class Replica:
    """One `askcall serve` process (restartable on the same port), logging to its own file."""

    def __init__(self, name: str, env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.env = env
        self.log_path = log_path
        self.url = f"http://127.0.0.1:{env['PORT']}"
        self.proc: asyncio.subprocess.Process | None = None
        self.exits: list[int] = []

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def spawn(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot.cli", "serve", env=self.env, stdout=log, stderr=log, cwd=self.log_path.parent
            )

    async def readiness(self, http: aiohttp.ClientSession) -> int | None:
        """/readyz's status, or None when nothing answers."""
        try:
            async with http.get(self.url + "/readyz", timeout=aiohttp.ClientTimeout(total=2)) as response:
                return response.status
        except (aiohttp.ClientError, TimeoutError):
            return None

    async def wait_ready(self, http: aiohttp.ClientSession, timeout: float = START_TIMEOUT) -> None:  # noqa: ASYNC109
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await self.readiness(http) == 200:
                return
            if self.proc is not None and self.proc.returncode is not None:
                break
            await asyncio.sleep(0.05)
        raise AssertionError(f"{self.name} did not become ready:\n{self.log()}")

    async def start(self, http: aiohttp.ClientSession) -> None:
        await self.spawn()
        await self.wait_ready(http)

    async def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def terminate(self) -> int:
        """SIGTERM, then the exit status (bounded: grace plus drain plus slack)."""
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.proc.wait(), 40)
        self.exits.append(code)
        return code

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.is_file() else ""


@dataclass
class Fleet:
    slack: FakeSlack
    pilot: FakePilotStatus
    replicas: list[Replica]
    http: aiohttp.ClientSession
    database_url: str
    responses: itertools.count[int] = field(default_factory=itertools.count)

    def replica_of_pid(self, pid: int) -> Replica:
        (found,) = [r for r in self.replicas if r.running and r.pid == pid]
        return found

    async def start_all(self) -> None:
        await asyncio.gather(*(r.spawn() for r in self.replicas))
        await asyncio.gather(*(r.wait_ready(self.http) for r in self.replicas))

    def command_request(self, number: int, user: str = "U1", channel: str = "C1") -> tuple[bytes, dict[str, str]]:
        """A signed slash command asking customer `number`; the same bytes again are a Slack retry."""
        body = slash_command_body(
            f"{spoken(number)} Podemos ligar?",
            user_id=user,
            channel_id=channel,
            response_url=self.slack.response_url(f"r{next(self.responses)}"),
        )
        return body.encode(), slack_signed_headers(body, SIGNING_SECRET)

    async def post(
        self,
        replica: Replica,
        path: str,
        body: bytes,
        headers: dict[str, str],
        timeout: float = 10,  # noqa: ASYNC109
    ) -> tuple[int, str]:
        async with self.http.post(
            replica.url + path, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout)
        ) as response:
            return response.status, await response.text()

    async def command(self, replica: Replica, number: int) -> tuple[int, str]:
        body, headers = self.command_request(number)
        return await self.post(replica, "/slack/events", body, headers)

    async def answer(self, replica: Replica, body: bytes) -> tuple[int, str]:
        return await self.post(replica, "/webhooks/pilot-status", body, answer_headers(body))

    async def rows(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        connection = await asyncpg.connect(self.database_url, timeout=10)
        try:
            return [dict(row) for row in await connection.fetch(sql, *args)]
        finally:
            await connection.close()

    async def holders(self, table: str) -> list[Replica]:
        """The running replicas holding leases on rows of `table` (a lease owner names its process: host:pid:…)."""
        held = await self.rows(f"SELECT DISTINCT lease_owner FROM {table} WHERE lease_owner IS NOT NULL")
        return [self.replica_of_pid(int(row["lease_owner"].split(":")[1])) for row in held]

    async def stop_all(self) -> list[int]:
        """The exit codes of the replicas still running, each stopped with SIGTERM. One that is gone already
        has its log printed (pytest shows it with a failure)."""
        for replica in self.replicas:
            if replica.proc is not None and not replica.running:
                print(f"===== {replica.name} had already exited ({replica.proc.returncode})\n{replica.log()}")
        return list(await asyncio.gather(*(r.terminate() for r in self.replicas if r.running)))

    def logs(self) -> str:
        return "\n".join(f"===== {r.name}\n{r.log()}" for r in self.replicas)


def answer_body(number: int, status: str) -> bytes:
    """A Pilot Status answer from customer `number`, as the exact bytes Pilot Status signs (and resends)."""
    event = permission_event(customer(number).lstrip("+"), status)
    return json.dumps(event, separators=(",", ":")).encode()


def answer_headers(body: bytes) -> dict[str, str]:
    return {"Content-Type": "application/json", "x-pilot-status-signature": sign_pilot_status(body, WEBHOOK_SECRET)}


@pytest.fixture
async def make_fleet(
    fakes: tuple[FakeSlack, FakePilotStatus],  # noqa: F811
    tmp_path: Path,
) -> AsyncIterator[Callable[[str], Fleet]]:
    """Builds a fleet of REPLICAS replicas (not started) on a database URL; kills whatever still runs at teardown."""
    slack, pilot = fakes
    made: list[Fleet] = []
    http = aiohttp.ClientSession()

    def make(database_url: str) -> Fleet:
        replicas = []
        for index in range(REPLICAS):
            env = process_env(slack, pilot, tmp_path)
            env.update(ASKCALL_DATABASE_URL=database_url, ASKCALL_SHUTDOWN_GRACE="10", PORT=str(free_port()))
            replicas.append(Replica(f"replica-{index}", env, tmp_path / f"replica-{index}.log"))
        made.append(Fleet(slack, pilot, replicas, http, database_url))
        return made[-1]

    try:
        yield make
    finally:
        for fleet in made:
            for replica in fleet.replicas:
                if replica.running:
                    assert replica.proc is not None
                    replica.proc.kill()
                    await replica.proc.wait()
        await http.close()


# --- what the fakes saw ----------------------------------------------------------------------------------------
def parents(slack: FakeSlack) -> list[dict[str, Any]]:
    return [m for m in slack.messages if not m.get("thread_ts")]


def replies(slack: FakeSlack) -> list[dict[str, Any]]:
    return [m for m in slack.messages if m.get("thread_ts") and m["thread_ts"] != m["ts"]]


def sends_per_customer(pilot: FakePilotStatus) -> Counter[str]:
    return Counter(record.to for record in pilot.permission_requests)


def replies_per_parent(slack: FakeSlack) -> Counter[str]:
    return Counter(m["thread_ts"] for m in replies(slack))


def parent_of(slack: FakeSlack, number: int) -> dict[str, Any]:
    """The channel message of customer `number`'s request (its text shows the masked number's last digits)."""
    tail = str(PHONE_BASE + number)[-4:]
    found = [m for m in parents(slack) if tail in json.dumps([m.get("text"), m.get("blocks")], ensure_ascii=False)]
    assert len(found) == 1, slack.summary()
    return found[0]


async def eventually(predicate: Callable[[], bool], what: str, fleet: Fleet, timeout: float = SETTLE) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}\n{fleet.slack.summary()}\n{fleet.logs()}")
        await asyncio.sleep(0.05)


def assert_exactly_once(fleet: Fleet, customers: list[int]) -> None:
    """One Pilot Status send per customer, one parent per request, one reply in each parent's thread."""
    expected = {customer(n): 1 for n in customers}
    assert sends_per_customer(fleet.pilot) == expected, fleet.slack.summary()
    assert len(parents(fleet.slack)) == len(customers), fleet.slack.summary()
    per_parent = replies_per_parent(fleet.slack)
    assert per_parent == {parent_of(fleet.slack, n)["ts"]: 1 for n in customers}, fleet.slack.summary()


def assert_clean_logs(fleet: Fleet, customers: list[int]) -> None:
    logs = fleet.logs()
    assert "Traceback" not in logs and " ERROR " not in logs, logs
    for n in customers:  # never a full phone number
        assert spoken(n)[-9:] not in logs and customer(n)[1:] not in logs, logs


# --- 1. spread over the replicas, duplicates on different replicas -------------------------------------------
async def test_commands_and_webhooks_spread_over_replicas_with_duplicates_elsewhere_happen_once(
    make_fleet: Callable[[str], Fleet], pg_url: str
) -> None:
    fleet = make_fleet(pg_url)
    await fleet.start_all()
    replicas = fleet.replicas
    customers = list(range(6))

    # Round-robin; each command also arrives at the next replica at the same moment (a Slack retry: same
    # trigger_id, same signature).
    async def command_twice(n: int) -> list[tuple[int, str]]:
        body, headers = fleet.command_request(n)
        first, second = replicas[n % REPLICAS], replicas[(n + 1) % REPLICAS]
        return list(
            await asyncio.gather(
                fleet.post(first, "/slack/events", body, headers), fleet.post(second, "/slack/events", body, headers)
            )
        )

    acks = await asyncio.gather(*(command_twice(n) for n in customers))
    # Both copies are acknowledged quietly: the retry is the same request, not a second one refused as open.
    assert acks == [[(200, ""), (200, "")]] * len(customers), acks
    await eventually(lambda: len(fleet.pilot.permission_requests) >= len(customers), "every request sent", fleet)
    await eventually(lambda: len(parents(fleet.slack)) >= len(customers), "every parent posted", fleet)

    # Each answer arrives at two replicas at once (a redelivery), and once more later at a third.
    bodies = {n: answer_body(n, ("TEMPORARY", "PERMANENT", "NO_PERMISSION")[n % 3]) for n in customers}

    async def answer_twice(n: int) -> list[tuple[int, str]]:
        first, second = replicas[(n + 1) % REPLICAS], replicas[(n + 2) % REPLICAS]
        return list(await asyncio.gather(fleet.answer(first, bodies[n]), fleet.answer(second, bodies[n])))

    answered = await asyncio.gather(*(answer_twice(n) for n in customers))
    assert all(status == 200 for pair in answered for status, _ in pair), answered
    await eventually(lambda: len(replies(fleet.slack)) >= len(customers), "every answer replied", fleet)
    # Pilot Status redelivers every answer once more, later, to the replica that has not seen it yet.
    again = await asyncio.gather(*(fleet.answer(replicas[n % REPLICAS], bodies[n]) for n in customers))
    assert all(status == 200 for status, _ in again), again
    await asyncio.sleep(QUIET)  # nothing more may arrive
    assert_exactly_once(fleet, customers)
    assert await fleet.stop_all() == [0] * REPLICAS
    assert_clean_logs(fleet, customers)


# --- 2. kill -9 of the replicas holding deliveries in flight --------------------------------------------------
async def test_kill9_of_replicas_holding_hung_slack_calls_the_survivor_never_posts_twice(
    make_fleet: Callable[[str], Fleet], pg_url: str
) -> None:
    fleet = make_fleet(pg_url)
    await fleet.start_all()
    customers = [0, 1]
    for n in customers:
        status, _ = await fleet.command(fleet.replicas[n], n)
        assert status == 200
    await eventually(lambda: len(fleet.pilot.permission_requests) == len(customers), "both requests sent", fleet)
    await eventually(lambda: len(parents(fleet.slack)) == len(customers), "both parents posted", fleet)

    # Slack stores both thread replies but never answers: the replicas holding them wait.
    fleet.slack.hang_next("chat.postMessage", times=len(customers))
    for n in customers:
        status, _ = await fleet.answer(fleet.replicas[n], answer_body(n, "PERMANENT"))
        assert status == 200
    await eventually(lambda: fleet.slack.hanging == len(customers), "both replies hanging", fleet)
    assert len(replies(fleet.slack)) == len(customers)  # Slack did store them

    holders = await fleet.holders("deliveries")
    assert 1 <= len(holders) < REPLICAS
    for holder in holders:
        await holder.kill9()
    fleet.slack.release_hung()  # the calls succeed after all; their answers reach dead processes

    # A survivor takes the deliveries over once the leases run out, reads the threads and posts nothing.
    await eventually(
        lambda: sum("♾️" in (u.get("text") or "") for u in fleet.slack.updates) >= len(customers),
        "both parents updated by a survivor",
        fleet,
    )
    await asyncio.sleep(QUIET)
    assert_exactly_once(fleet, customers)
    assert len(fleet.slack.calls_to("chat.postMessage", only_ok=False)) == 2 * len(customers)  # parents + replies
    # The survivors looked before deciding: each thread was read back (for the delivery's metadata key).
    read = {call.args.get("ts") for call in fleet.slack.calls_to("conversations.replies")}
    assert {parent_of(fleet.slack, n)["ts"] for n in customers} <= read, fleet.slack.summary()
    survivors = [r for r in fleet.replicas if r.running]
    assert await fleet.stop_all() == [0] * len(survivors)


# --- 4. a simultaneous start on an empty database -------------------------------------------------------------
async def test_replicas_started_together_on_an_empty_database_migrate_it_once_and_all_become_ready(
    make_fleet: Callable[[str], Fleet], pg_url: str
) -> None:
    fleet = make_fleet(pg_url)
    await fleet.start_all()  # spawned at the same moment; each must answer /readyz 200
    assert await fleet.rows("SELECT version FROM askcall_schema") == [{"version": len(MIGRATIONS)}]
    logs = fleet.logs()
    for version in range(1, len(MIGRATIONS) + 1):
        assert logs.count(f"database migrated to schema version {version}\n") == 1, logs
    # and they serve: one command through each
    for n, replica in enumerate(fleet.replicas):
        assert await fleet.command(replica, n) == (200, "")
    customers = list(range(REPLICAS))
    await eventually(lambda: len(fleet.pilot.permission_requests) == REPLICAS, "every request sent", fleet)
    assert sends_per_customer(fleet.pilot) == {customer(n): 1 for n in customers}
    assert await fleet.stop_all() == [0] * REPLICAS
    assert_clean_logs(fleet, customers)


# --- 5. the database stopped and started under the replicas ---------------------------------------------------
UNAVAILABLE = CATALOG["error.unavailable"]["pt-BR"]


async def test_database_stopped_and_started_under_the_replicas(
    make_fleet: Callable[[str], Fleet], pg_private_server: PrivateServer
) -> None:
    server = pg_private_server
    await execute(server.info.admin_url, "CREATE DATABASE askcall")
    fleet = make_fleet(server.info.url_for("askcall"))
    await fleet.start_all()
    replicas = fleet.replicas
    pids = [replica.pid for replica in replicas]
    assert await fleet.command(replicas[0], 0) == (200, "")
    await eventually(lambda: len(fleet.pilot.permission_requests) == 1, "the first request sent", fleet)
    await eventually(lambda: len(parents(fleet.slack)) == 1, "the first parent posted", fleet)

    await asyncio.to_thread(server.stop)
    # Not ready, on every replica (readiness is cached for a second at most).
    for replica in replicas:
        deadline = time.monotonic() + 10
        while await replica.readiness(fleet.http) != 503:
            assert time.monotonic() < deadline, f"{replica.name} still ready with the database down\n{fleet.logs()}"
            await asyncio.sleep(0.1)
    # An answer that can't be stored is refused (Pilot Status retries), never acknowledged.
    answer = answer_body(0, "TEMPORARY")
    status, _ = await fleet.answer(replicas[1], answer)
    assert status == 503
    # A command gets the "try again in a minute" ephemeral (as its acknowledgement: no waiting on the database).
    status, text = await fleet.command(replicas[2], 1)
    assert status == 200
    assert json.loads(text) == {"text": UNAVAILABLE, "response_type": "ephemeral"}

    await asyncio.to_thread(server.start)
    # Every replica is ready again without a restart.
    await asyncio.gather(*(replica.wait_ready(fleet.http, timeout=SETTLE) for replica in replicas))
    # Pilot Status retries the refused answer: one reply.
    status, _ = await fleet.answer(replicas[2], answer)
    assert status == 200
    await eventually(lambda: len(replies(fleet.slack)) == 1, "the retried answer replied", fleet)
    # New commands work end to end, on every replica.
    customers = [0, 2, 3, 4]
    for n, replica in zip(customers[1:], replicas, strict=False):
        assert await fleet.command(replica, n) == (200, "")
    await eventually(lambda: len(fleet.pilot.permission_requests) == len(customers), "new requests sent", fleet)
    for n, replica in zip(customers[1:], reversed(replicas), strict=False):
        assert (await fleet.answer(replica, answer_body(n, "NO_PERMISSION")))[0] == 200
    await eventually(lambda: len(replies(fleet.slack)) == len(customers), "new answers replied", fleet)
    await asyncio.sleep(QUIET)
    assert_exactly_once(fleet, customers)
    assert [replica.pid for replica in replicas if replica.running] == pids  # none restarted
    assert await fleet.stop_all() == [0] * REPLICAS
    # The outage is told in one-line warnings, with no traceback, error or phone number.
    assert_clean_logs(fleet, [*customers, 1])


# --- 3. a rolling restart under steady traffic ----------------------------------------------------------------
class Balancer:
    """A tiny client-side load balancer: it polls every replica's /readyz, sends round-robin to the ready ones
    only, and tries the next one when a replica refuses the connection. One fresh connection per request, like
    a proxy that never reuses a connection to a replica that may be going away."""

    POLL = 0.1

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.ready: dict[str, bool] = {r.name: False for r in fleet.replicas}
        self.turn = itertools.count()
        self.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))
        self.skipped = 0  # connections refused, then sent elsewhere

    async def poll(self) -> None:
        while True:
            statuses = await asyncio.gather(*(r.readiness(self.http) for r in self.fleet.replicas))
            for replica, status in zip(self.fleet.replicas, statuses, strict=True):
                self.ready[replica.name] = status == 200
            await asyncio.sleep(self.POLL)

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        """(status, body) from the first ready replica that takes the connection."""
        began = time.monotonic()
        while time.monotonic() - began < SETTLE:
            up = [r for r in self.fleet.replicas if self.ready[r.name]]
            if not up:
                await asyncio.sleep(0.02)
                continue
            replica = up[next(self.turn) % len(up)]
            try:
                async with self.http.post(
                    replica.url + path, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=10)
                ) as response:
                    return response.status, await response.text()
            except aiohttp.ClientConnectorError:  # refused: nothing was sent
                self.ready[replica.name] = False
                self.skipped += 1
        raise AssertionError("no replica took the request")


async def test_rolling_restart_under_steady_traffic_fails_no_command_and_doubles_nothing(
    make_fleet: Callable[[str], Fleet], pg_url: str
) -> None:
    fleet = make_fleet(pg_url)
    # Slow upstreams: every SIGTERM finds Slack posts and Pilot Status sends in flight.
    fleet.slack.delay_next("chat.postMessage", 0.3, times=100_000)
    fleet.slack.delay_next("chat.update", 0.3, times=100_000)
    fleet.pilot.script("POST", "/v1/calls/permissions/request", delay=0.3, times=100_000)
    await fleet.start_all()
    balancer = Balancer(fleet)
    poller = asyncio.create_task(balancer.poll())
    commands: dict[int, tuple[int, str]] = {}
    answers: dict[int, tuple[int, str]] = {}
    in_flight: set[asyncio.Task[None]] = set()

    async def command(n: int) -> None:
        # Many reps, as on a real team, each in their own channel: each rep stays well within the hourly budget
        # of requests, and each channel within Slack's rate of about one post a second.
        rep = 100 + n % REPS
        body, headers = fleet.command_request(n, user=f"U{rep}", channel=f"C{rep}")
        commands[n] = await balancer.post("/slack/events", body, headers)

    async def answer(n: int) -> None:
        body = answer_body(n, ("TEMPORARY", "PERMANENT", "NO_PERMISSION")[n % 3])
        answers[n] = await balancer.post("/webhooks/pilot-status", body, answer_headers(body))

    def spawn(work: Any) -> None:
        task = asyncio.create_task(work)
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)

    sent = itertools.count()
    stop = asyncio.Event()

    async def load() -> None:
        """A command every 0.15 s; each customer answers as soon as Pilot Status has the request."""
        while not stop.is_set():
            spawn(command(next(sent)))
            asked = {int(record.to[-4:]) for record in fleet.pilot.permission_requests}
            for n in sorted(asked - answers.keys() - {a for a in pending_answers}):
                pending_answers.add(n)
                spawn(answer(n))
            await asyncio.sleep(0.15)

    pending_answers: set[int] = set()
    loader = asyncio.create_task(load())
    try:
        await asyncio.sleep(1.0)
        for replica in fleet.replicas:
            code = await replica.terminate()
            assert code == 0, replica.log()
            await replica.start(fleet.http)
            await asyncio.sleep(1.0)  # traffic on the full set again before the next one goes
        stop.set()
        await loader
        await asyncio.wait_for(asyncio.gather(*in_flight), SETTLE)
        customers = sorted(commands)
        await eventually(lambda: len(fleet.pilot.permission_requests) >= len(customers), "every request sent", fleet)
        for n in sorted(set(customers) - pending_answers):
            await answer(n)
        await eventually(lambda: len(replies(fleet.slack)) >= len(customers), "every answer replied", fleet)
    finally:
        stop.set()
        poller.cancel()
        await balancer.http.close()

    failed = {n: result for n, result in commands.items() if result != (200, "")}
    assert failed == {}, failed
    assert {n: r for n, r in answers.items() if r[0] != 200} == {}
    assert len(customers) >= 30, len(customers)  # steady traffic throughout
    await asyncio.sleep(QUIET)
    assert_exactly_once(fleet, customers)
    assert await fleet.stop_all() == [0] * REPLICAS
    assert [r.exits for r in fleet.replicas] == [[0, 0]] * REPLICAS
    assert_clean_logs(fleet, customers)


async def test_database_stopped_while_a_slack_reply_hangs_then_started_the_reply_is_posted_once(
    make_fleet: Callable[[str], Fleet], pg_private_server: PrivateServer
) -> None:
    """Slack posts the reply while the database is down, so the replica can't record it: once the database is
    back, whoever resumes the delivery finds it in the thread and posts nothing more."""
    server = pg_private_server
    await execute(server.info.admin_url, "CREATE DATABASE askcall")
    fleet = make_fleet(server.info.url_for("askcall"))
    await fleet.start_all()
    assert await fleet.command(fleet.replicas[0], 0) == (200, "")
    await eventually(lambda: len(parents(fleet.slack)) == 1, "the parent posted", fleet)
    await eventually(lambda: len(fleet.pilot.permission_requests) == 1, "the request sent", fleet)
    fleet.slack.hang_next("chat.postMessage")
    assert (await fleet.answer(fleet.replicas[1], answer_body(0, "PERMANENT")))[0] == 200
    await eventually(lambda: fleet.slack.hanging == 1, "the reply hanging", fleet)

    await asyncio.to_thread(server.stop)
    fleet.slack.release_hung()  # Slack answers "ok" while the database is down
    await asyncio.sleep(2 * 2.0)  # longer than a lease: nobody can renew or record anything meanwhile
    await asyncio.to_thread(server.start)

    await eventually(
        lambda: any("♾️" in (u.get("text") or "") for u in fleet.slack.updates), "the parent updated", fleet
    )
    await asyncio.sleep(QUIET)
    assert_exactly_once(fleet, [0])
    assert await fleet.stop_all() == [0] * REPLICAS
    assert_clean_logs(fleet, [0])


async def test_kill9_of_the_replica_holding_a_hung_parent_post_another_finds_it_and_asks_once(
    make_fleet: Callable[[str], Fleet], pg_url: str
) -> None:
    fleet = make_fleet(pg_url)
    await fleet.start_all()
    fleet.slack.hang_next("chat.postMessage")  # Slack stores the channel message, its answer never arrives
    assert await fleet.command(fleet.replicas[1], 0) == (200, "")
    await eventually(lambda: fleet.slack.hanging == 1, "the parent post hanging", fleet)
    (holder,) = await fleet.holders("deliveries")  # the channel message is a delivery too
    await holder.kill9()
    fleet.slack.release_hung()

    # A survivor resumes the request: it finds the parent in the channel's history, then asks the customer.
    await eventually(lambda: len(fleet.pilot.permission_requests) == 1, "the request sent by a survivor", fleet)
    survivor = next(r for r in fleet.replicas if r.running)
    assert (await fleet.answer(survivor, answer_body(0, "NO_PERMISSION")))[0] == 200
    await eventually(lambda: len(replies(fleet.slack)) == 1, "the answer replied", fleet)
    await asyncio.sleep(QUIET)
    assert_exactly_once(fleet, [0])
    assert len(fleet.slack.calls_to("chat.postMessage", only_ok=False)) == 2  # the parent once, the reply once
    assert await fleet.stop_all() == [0] * (REPLICAS - 1)


async def test_kill9_of_the_replica_calling_pilot_status_the_request_is_never_resent(
    make_fleet: Callable[[str], Fleet], pg_url: str
) -> None:
    fleet = make_fleet(pg_url)
    await fleet.start_all()
    fleet.pilot.script("POST", "/v1/calls/permissions/request", delay=3.0)  # accepted, but too late for the caller
    assert await fleet.command(fleet.replicas[2], 0) == (200, "")
    await eventually(
        lambda: len(fleet.pilot.requests_to("POST", "/v1/calls/permissions/request")) == 1, "the send started", fleet
    )
    (holder,) = await fleet.holders("requests")
    await holder.kill9()

    # A survivor takes the request over: the outcome is unknown, so it says so in the thread and never resends.
    await eventually(lambda: len(replies(fleet.slack)) == 1, "the unconfirmed send told in the thread", fleet)
    assert "⚠️" in replies(fleet.slack)[0]["text"]
    # The customer got it after all and answers: the answer still reaches the thread.
    survivor = next(r for r in fleet.replicas if r.running)
    assert (await fleet.answer(survivor, answer_body(0, "TEMPORARY")))[0] == 200
    await eventually(lambda: len(replies(fleet.slack)) == 2, "the answer replied", fleet)
    await asyncio.sleep(QUIET)
    assert len(fleet.pilot.requests_to("POST", "/v1/calls/permissions/request")) == 1
    assert len(parents(fleet.slack)) == 1
    assert await fleet.stop_all() == [0] * (REPLICAS - 1)


# --- a customer's answers in order, across replicas ---------------------------------------------------------
async def test_a_customers_two_answers_on_two_replicas_at_once_end_on_the_later_one(
    make_fleet: Callable[[str], Fleet], pg_url: str
) -> None:
    """A customer says no, then yes a second later; Pilot Status delivers both at the same moment, each to
    another replica. Whatever the arrival order, the thread and the channel message end on the later answer."""
    fleet = make_fleet(pg_url)
    await fleet.start_all()
    customers = list(range(6))
    for n in customers:
        assert await fleet.command(fleet.replicas[n % REPLICAS], n) == (200, "")
    await eventually(lambda: len(fleet.pilot.permission_requests) == len(customers), "every request sent", fleet)
    now = time.time()

    def stamped(n: int, status: str, at: float) -> bytes:
        event = permission_event(customer(n).lstrip("+"), status, timestamp=iso_timestamp(at))
        return json.dumps(event, separators=(",", ":")).encode()

    async def both(n: int) -> list[tuple[int, str]]:
        first = fleet.answer(fleet.replicas[n % REPLICAS], stamped(n, "NO_PERMISSION", now - 1))
        later = fleet.answer(fleet.replicas[(n + 1) % REPLICAS], stamped(n, "PERMANENT", now))
        pair = (later, first) if n % 2 else (first, later)
        return list(await asyncio.gather(*pair))

    results = await asyncio.gather(*(both(n) for n in customers))
    assert all(status == 200 for pair in results for status, _ in pair), results

    def settled(n: int) -> bool:
        updates = [u for u in fleet.slack.updates if u["ts"] == parent_of(fleet.slack, n)["ts"]]
        return bool(updates) and "♾️" in (updates[-1].get("text") or "")

    await eventually(lambda: all(settled(n) for n in customers), "every channel message ends on ♾️", fleet)
    await asyncio.sleep(QUIET)
    assert all(settled(n) for n in customers), fleet.slack.summary()
    rows = await fleet.rows("SELECT outcome FROM requests ORDER BY id")
    assert [row["outcome"] for row in rows] == ["PERMANENT"] * len(customers)
    for n in customers:
        thread = fleet.slack.thread_replies("C1", parent_of(fleet.slack, n)["ts"])
        assert 1 <= len(thread) <= 2 and "♾️" in thread[-1]["text"], thread  # a "no" first, if it came first
    assert sends_per_customer(fleet.pilot) == {customer(n): 1 for n in customers}
    assert await fleet.stop_all() == [0] * REPLICAS
