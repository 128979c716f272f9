"""/readyz tells whether the database takes a write now; /metrics never waits on the request path's
connection, is cached, and can require a bearer token."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import sqlite3
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot import __version__
from bot.fakes.pilot_status import FakePilotStatus
from bot.fakes.slack import FakeSlack
from bot.observability import database_problem
from bot.store import StoreError, known_schema_version
from tests.conftest import Server, make_settings
from tests.e2e.helpers import DIGITS, ask, free_port, running
from tests.e2e.test_operations import readiness_becomes, scrape, total
from tests.promtool import check_metrics, require_promtool

TOKEN = "metrics-token-0123456789"
# SQLite's own locks and files; PostgreSQL outages are tested with a server of the test's own.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


# --- /readyz ----------------------------------------------------------------------------------------


@SQLITE_ONLY
async def test_not_ready_while_another_process_holds_the_write_lock(server: Server) -> None:
    await readiness_becomes(server, 200)
    other = sqlite3.connect(server.askcall.settings.db_path, isolation_level=None, check_same_thread=False)
    try:
        # e.g. someone's sqlite3 shell in the middle of an edit. Taken from a thread, so that AskCall's
        # own transactions (the retention pass at start-up) can finish meanwhile.
        await asyncio.to_thread(other.execute, "BEGIN IMMEDIATE")
        body = await readiness_becomes(server, 503)
        assert body["status"] == "unavailable" and "locked" in str(body["database"])
        async with server.http.get(server.url + "/healthz") as response:
            assert response.status == 200  # alive, just not ready
    finally:
        other.execute("ROLLBACK")
        other.close()
    await readiness_becomes(server, 200)


async def test_readiness_is_cached_for_a_second(server: Server) -> None:
    """Probes (every few seconds from an orchestrator, or a flood) cost one tiny write a second at most."""
    await readiness_becomes(server, 200)
    responses = await asyncio.gather(*(server.http.get(server.url + "/readyz") for _ in range(20)))
    assert [r.status for r in responses] == [200] * 20
    for response in responses:
        response.release()


def unavailable(reason: str) -> None:
    """Skip where the machine can't do it; under CI (which can) that is a failure, never a silent skip."""
    if os.environ.get("CI"):
        pytest.fail(f"CI must be able to run this: {reason}", pytrace=False)
    pytest.skip(reason)


@contextmanager
def read_only(database: Path) -> Iterator[None]:
    """Makes the database file read-only for the duration: its mode, or as root (whom modes don't
    stop) the immutable attribute."""
    if os.geteuid() != 0:
        database.chmod(0o444)
        try:
            yield
        finally:
            database.chmod(0o644)
        return
    if shutil.which("chattr") is None:
        unavailable("needs chattr(1) to make a file read-only for root")
    made = subprocess.run(["chattr", "+i", str(database)], capture_output=True)
    if made.returncode == 0:
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(database)], check=True)
        return
    # In a user namespace (CI's) there is no immutable attribute, but its own mount namespace can put a
    # read-only bind mount over the folder: new opens (the readiness probe's) see a read-only file system,
    # while the connections AskCall opened before keep writing to the mount below.
    folder = str(database.parent)
    bound = subprocess.run(["mount", "--bind", folder, folder], capture_output=True)
    if bound.returncode != 0:
        unavailable(
            f"no way to make a file read-only for root here: no immutable attribute ({made.stderr.decode().strip()})"
            f" and no bind mount ({bound.stderr.decode().strip()})"
        )
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", folder, folder], check=True, capture_output=True)
        yield
    finally:
        subprocess.run(["umount", folder], check=True)


@SQLITE_ONLY
async def test_not_ready_when_the_database_file_is_read_only(server: Server) -> None:
    await readiness_becomes(server, 200)
    with read_only(Path(server.askcall.settings.db_path)):
        body = await readiness_becomes(server, 503)
        assert body == {"status": "unavailable", "database": "the database is read-only"}
    await readiness_becomes(server, 200)


# --- /metrics ---------------------------------------------------------------------------------------


@SQLITE_ONLY
async def test_a_scrape_never_waits_for_the_request_paths_connection(server: Server) -> None:
    """The counts come from a read-only connection of their own: a scrape completes while the
    writer's connection is busy (here: its lock held for the whole scrape)."""
    await ask(server)
    async with server.askcall.store._lock:
        _, samples = await asyncio.wait_for(scrape(server), 3)
    assert total(samples, "askcall_requests") == 1


@pytest.fixture
async def cached(slack: FakeSlack, pilot: FakePilotStatus, tmp_path: Path) -> AsyncIterator[Server]:
    settings = make_settings(slack, pilot, tmp_path / "askcall.db", metrics_max_age=60.0)
    async with running(settings, slack, pilot) as server:
        yield server


async def test_stored_counts_are_read_at_most_once_per_max_age(cached: Server) -> None:
    _, before = await scrape(cached)
    assert total(before, "askcall_requests") == 0
    await ask(cached)
    _, after = await scrape(cached)
    assert total(after, "askcall_requests") == 0  # still the cached count: no scan for this scrape
    # Latency is measured in process and stays current.
    key = ("askcall_http_request_duration_seconds_count", (("route", "/slack/events"),))
    assert after[key] == before.get(key, 0) + 1


async def test_concurrent_scrapes_share_one_read(cached: Server) -> None:
    results = await asyncio.gather(*(scrape(cached) for _ in range(20)))
    assert len({text.split("askcall_requests")[0] for text, _ in results}) >= 1
    assert all(total(samples, "askcall_requests") == 0 for _, samples in results)


@pytest.fixture
async def protected(slack: FakeSlack, pilot: FakePilotStatus, tmp_path: Path) -> AsyncIterator[Server]:
    settings = make_settings(slack, pilot, tmp_path / "askcall.db", metrics_token=TOKEN)
    async with running(settings, slack, pilot) as server:
        yield server


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer wrong-token-0123456789", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer é"],
)
async def test_metrics_with_a_token_refuse_scrapes_without_it(protected: Server, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    async with protected.http.get(protected.url + "/metrics", headers=headers) as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert "askcall_requests" not in await response.text()


@pytest.mark.parametrize("scheme", ["Bearer", "bearer"])
async def test_metrics_with_the_right_token_are_served(protected: Server, scheme: str) -> None:
    headers = {"Authorization": f"{scheme} {TOKEN}"}
    async with protected.http.get(protected.url + "/metrics", headers=headers) as response:
        assert response.status == 200
        assert "askcall_requests" in await response.text() or "askcall_pending_deliveries" in await response.text()
    async with protected.http.get(protected.url + "/healthz") as response:
        assert response.status == 200  # only /metrics is protected


async def test_metrics_on_their_own_port_only(slack: FakeSlack, pilot: FakePilotStatus, tmp_path: Path) -> None:
    port = free_port()
    settings = make_settings(slack, pilot, tmp_path / "askcall.db", metrics_port=port, metrics_token=TOKEN)
    async with running(settings, slack, pilot) as server:
        await ask(server)
        async with server.http.get(server.url + "/metrics") as response:
            assert response.status == 404  # not on the public port any more
        metrics_url = f"http://127.0.0.1:{port}/metrics"
        async with server.http.get(metrics_url) as response:
            assert response.status == 401  # the token still applies
        async with server.http.get(metrics_url, headers={"Authorization": f"Bearer {TOKEN}"}) as response:
            assert response.status == 200
            assert 'askcall_requests{outcome="none",state="waiting"} 1.0' in await response.text()
        async with server.http.get(f"http://127.0.0.1:{port}/healthz") as response:
            assert response.status == 404  # that port serves metrics and nothing else


@SQLITE_ONLY
async def test_while_the_database_is_down_metrics_serve_the_last_counts_with_their_age(
    server: Server, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The outage is exactly what an operator wants to watch: the scrape succeeds, says the database is down,
    and keeps the last counts, marked with their age (no 503, no traceback)."""
    await ask(server)
    _, before = await scrape(server)
    assert before[("askcall_database_up", ())] == 1 and total(before, "askcall_requests") == 1
    path, server.askcall.store.path = server.askcall.store.path, str(tmp_path / "gone" / "askcall.db")  # vanished

    await asyncio.sleep(0.3)
    _, down = await scrape(server)  # status 200, checked by scrape()
    _, still_down = await scrape(server)

    assert down[("askcall_database_up", ())] == 0
    assert total(down, "askcall_requests") == 1  # the last counts
    assert down[("askcall_stored_counts_age_seconds", ())] >= 0.3
    assert still_down[("askcall_stored_counts_age_seconds", ())] > down[("askcall_stored_counts_age_seconds", ())]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert (
        sum("could not read the counts for /metrics" in r.getMessage() for r in caplog.records) == 1
    )  # not per scrape

    server.askcall.store.path = path
    _, back = await scrape(server)
    assert back[("askcall_database_up", ())] == 1 and back[("askcall_stored_counts_age_seconds", ())] < 0.3


@SQLITE_ONLY
async def test_readyz_says_what_is_wrong_but_not_where_the_database_lives(server: Server, tmp_path: Path) -> None:
    hidden = tmp_path / "secret-folder-name"
    server.askcall.store.path = str(hidden / "askcall.db")  # the readiness probe can't write there

    body = await readiness_becomes(server, 503)

    assert body == {"status": "unavailable", "database": "the database is read-only"}
    assert "secret-folder-name" not in json.dumps(body)


def test_a_postgresql_failure_is_named_without_host_database_or_user() -> None:
    error = StoreError("PostgreSQL at postgresql://askuser:***@db.internal:5432/askdb cannot be reached (refused)")
    assert database_problem(error) == "the database can't be reached"
    assert database_problem(StoreError("something new at db.internal")) == (
        "the database can't be written (details in AskCall's log)"
    )


async def test_the_exposition_passes_promtool_with_counters_build_info_and_process_metrics(
    slack: FakeSlack, pilot: FakePilotStatus, tmp_path: Path
) -> None:
    """Every family AskCall exposes, filled in (a request, its answer, a failed delivery, a refusal),
    passes `promtool check metrics`: counters end in _total, gauges don't, each has its help."""
    require_promtool()
    settings = make_settings(slack, pilot, tmp_path / "askcall.db", max_requests_per_rep_per_hour=1)
    async with running(settings, slack, pilot) as server:
        slack.fail_next("chat.postMessage", status=503)  # one failed delivery attempt, retried
        await ask(server)
        refused = await server.command("+55 11 91234-5678 outro")  # over the budget: refused, counted in process
        assert refused.status == 200
        await server.answer(DIGITS, "TEMPORARY")
        await server.wait_idle()
        text, samples = await scrape(server)

    status, problems = check_metrics(text)
    assert (status, problems) == (0, ""), problems
    types = {family.name: family.type for family in text_string_to_metric_families(text)}
    for counter in (
        "askcall_slack_delivery_attempts",
        "askcall_slack_delivery_failures",
        "askcall_calls_connected",
        "askcall_call_duration_seconds",
        "askcall_requests_refused",
        "process_cpu_seconds",
    ):
        assert types[counter] == "counter", (counter, types.get(counter))
    for gauge in ("askcall_requests", "askcall_webhook_events", "askcall_database_up", "askcall_pending_deliveries"):
        assert types[gauge] == "gauge", (gauge, types.get(gauge))
    assert total(samples, "askcall_slack_delivery_failures_total") == 1
    assert samples[("askcall_requests_refused_total", (("reason", "budget"),))] == 1
    build = (("schema", str(known_schema_version())), ("version", __version__))
    assert samples[("askcall_build_info", build)] == 1
    assert samples[("askcall_database_up", ())] == 1
    assert samples[("process_resident_memory_bytes", ())] > 0
    assert any(name == "python_info" for name, _ in samples)


def test_a_missing_promtool_fails_under_ci_and_skips_elsewhere() -> None:
    with pytest.raises(pytest.fail.Exception, match="CI must check the metrics"):
        require_promtool("", required=True)
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y prometheus"):
        require_promtool("", required=False)
    assert require_promtool("/usr/bin/promtool", required=True) == Path("/usr/bin/promtool")
