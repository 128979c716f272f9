"""A real `askcall` process: a database it can't use stops it with one readable line (no traceback),
and SIGTERM ends it within the shutdown grace even while clients never finish their bodies."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest

from bot.fakes.pilot_status import FakePilotStatus
from bot.fakes.slack import FakeSlack
from tests.cli_process import run_askcall
from tests.process.test_kill9 import AskCallProcess, fakes, launch, process_env  # noqa: F401 (fixtures)


def without_root_override() -> list[str]:
    """A command prefix under which file modes apply (root ignores them), or a skip."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv(1): file modes can't be enforced")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]


def make_database(path: Path, rows: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path)
    with connection:
        connection.execute("CREATE TABLE filler (id INTEGER PRIMARY KEY, text TEXT)")
        connection.executemany("INSERT INTO filler (text) VALUES (?)", [("x" * 200,)] * rows)
    connection.close()


def corrupt_pages(path: Path) -> None:
    """Keeps the header (so it still opens as SQLite) and garbles b-tree pages."""
    make_database(path, rows=3000)
    data = bytearray(path.read_bytes())
    page = 4096
    for start in range(2 * page, len(data), 3 * page):
        data[start + 8 : start + 400] = b"\xa5" * 392
    path.write_bytes(bytes(data))


def _folder_is_a_file(tmp: Path) -> tuple[Path, str]:
    (tmp / "data").write_text("not a folder")
    return tmp / "data" / "askcall.db", "cannot create the database folder"


def _folder_not_writable(tmp: Path) -> tuple[Path, str]:
    (tmp / "data").mkdir()
    (tmp / "data").chmod(0o555)
    return tmp / "data" / "askcall.db", "folder"


def _unreadable(tmp: Path) -> tuple[Path, str]:
    make_database(tmp / "data" / "askcall.db")
    (tmp / "data" / "askcall.db").chmod(0o000)
    return tmp / "data" / "askcall.db", "cannot read the database"


def _read_only(tmp: Path) -> tuple[Path, str]:
    make_database(tmp / "data" / "askcall.db")
    (tmp / "data" / "askcall.db").chmod(0o444)
    return tmp / "data" / "askcall.db", "is read-only"


def _not_a_database(tmp: Path) -> tuple[Path, str]:
    (tmp / "data").mkdir()
    (tmp / "data" / "askcall.db").write_bytes(os.urandom(8192))
    return tmp / "data" / "askcall.db", "is corrupt"


def _corrupt_pages(tmp: Path) -> tuple[Path, str]:
    corrupt_pages(tmp / "data" / "askcall.db")
    return tmp / "data" / "askcall.db", "is corrupt"


def _a_folder(tmp: Path) -> tuple[Path, str]:
    (tmp / "data" / "askcall.db").mkdir(parents=True)
    return tmp / "data" / "askcall.db", "is a folder"


PROBLEMS: dict[str, Callable[[Path], tuple[Path, str]]] = {
    "folder-is-a-file": _folder_is_a_file,
    "folder-not-writable": _folder_not_writable,
    "database-unreadable": _unreadable,
    "database-read-only": _read_only,
    "not-a-database": _not_a_database,
    "corrupt-pages": _corrupt_pages,
    "path-is-a-folder": _a_folder,
}
COMMANDS = {
    "serve": ["serve"],
    "export": ["export", "--since", "2026-01-01", "--format", "csv"],
    "purge": ["purge", "--older-than", "180d", "--dry-run"],
}


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("problem", list(PROBLEMS))
async def test_a_database_askcall_cannot_use_stops_it_with_one_readable_line(
    fakes: tuple[FakeSlack, FakePilotStatus],  # noqa: F811
    tmp_path: Path,
    problem: str,
    command: str,
) -> None:
    slack, pilot = fakes
    prefix = without_root_override()
    db_path, expected = PROBLEMS[problem](tmp_path)
    env = process_env(slack, pilot, tmp_path)
    env["ASKCALL_DB_PATH"] = str(db_path)
    code, stdout, stderr = await run_askcall(*COMMANDS[command], env=env, cwd=tmp_path, prefix=prefix, timeout=30)
    output = stdout + stderr
    assert code not in (0, None), output
    assert "Traceback" not in output, output
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, output
    (line,) = lines
    if command != "serve" and not db_path.is_file():
        expected = "no AskCall database"  # admin commands never create one
    elif command != "serve" and problem == "database-read-only":
        expected = "holds no AskCall schema yet"  # they only read, which a read-only file allows: it is no AskCall's
    assert line.startswith("askcall: ") and expected in line, line
    assert str(db_path.parent) in line  # names where
    assert any(fix in line for fix in ("ASKCALL_DB_PATH", "restore", "chmod", "writable", "askcall db migrate")), line


def test_quick_check_runs_at_start(tmp_path: Path) -> None:
    """A file whose header is fine but whose pages are not: only an integrity check finds it."""
    path = tmp_path / "askcall.db"
    corrupt_pages(path)
    connection = sqlite3.connect(path)
    try:
        connection.execute("SELECT 1").fetchone()  # opens and answers like a healthy database
        assert connection.execute("PRAGMA quick_check").fetchone()[0] != "ok"
    finally:
        connection.close()


async def test_a_database_locked_by_another_process_is_named(
    fakes: tuple[FakeSlack, FakePilotStatus],  # noqa: F811
    tmp_path: Path,
) -> None:
    slack, pilot = fakes
    env = process_env(slack, pilot, tmp_path)
    db_path = Path(env["ASKCALL_DB_PATH"])
    make_database(db_path)
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # rollback journal: nobody else can even read
    try:
        code, _, text = await run_askcall("serve", env=env, cwd=tmp_path, timeout=30)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert code != 0 and "Traceback" not in text, text
    (line,) = [line for line in text.splitlines() if line.strip()]
    assert line.startswith("askcall: ") and "locked by another process" in line, line


# --- SIGTERM with clients that never finish ---------------------------------------------------------------


async def _stalled_client(url: str, path: str) -> asyncio.StreamWriter:
    host, port = url.removeprefix("http://").split(":")
    _, writer = await asyncio.open_connection(host, int(port))
    writer.write(f"POST {path} HTTP/1.1\r\nHost: askcall\r\nContent-Length: 100000\r\n\r\npayload=".encode())
    await writer.drain()
    return writer


async def test_sigterm_ends_within_the_grace_while_clients_never_finish_their_bodies(
    fakes: tuple[FakeSlack, FakePilotStatus],  # noqa: F811
    tmp_path: Path,
    launch: Callable[[dict[str, str], Path], AskCallProcess],  # noqa: F811
) -> None:
    slack, pilot = fakes
    log_path = tmp_path / "askcall.log"
    app = launch(process_env(slack, pilot, tmp_path), log_path)
    await app.start()
    stalled = [
        await _stalled_client(app.url, "/slack/events"),
        await _stalled_client(app.url, "/webhooks/pilot-status"),
        await _stalled_client(app.url, "/slack/events"),
    ]
    try:
        await asyncio.sleep(0.5)  # the handlers are now waiting for bodies that never come
        began = time.monotonic()
        assert app.proc is not None
        app.proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(app.proc.wait(), 30)
        took = time.monotonic() - began
    finally:
        for writer in stalled:
            writer.close()
    assert code == 0, log_path.read_text()
    # Nothing was in flight: the default grace (for work in flight) is not spent on stalled clients,
    # and the stop comes well under a container's 10 s between SIGTERM and SIGKILL.
    assert took < 7.0, f"stopping took {took:.1f} s\n" + log_path.read_text()
    log = log_path.read_text()
    assert "Traceback" not in log and " ERROR " not in log, log


# --- start-up warnings ----------------------------------------------------------------------------------


async def test_serve_logs_what_insecure_dev_really_skips_and_a_bare_channel_contact(
    fakes: tuple[FakeSlack, FakePilotStatus],  # noqa: F811
    tmp_path: Path,
    launch: Callable[[dict[str, str], Path], AskCallProcess],  # noqa: F811
) -> None:
    slack, pilot = fakes
    env = process_env(slack, pilot, tmp_path)
    env.update(ASKCALL_INSECURE_DEV="1", ASKCALL_ACCESS_CONTACT="#sales-ops")
    del env["PILOT_STATUS_WEBHOOK_SECRET"]  # Slack's secret stays set: its checks stay on
    log_path = tmp_path / "askcall.log"
    app = launch(env, log_path)
    await app.start()
    assert await app.terminate() == 0
    log = log_path.read_text()
    (insecure,) = [line for line in log.splitlines() if "ASKCALL_INSECURE_DEV" in line]
    assert "Pilot Status webhooks to /webhooks/pilot-status" in insecure
    assert "Slack requests" not in insecure and "requests without valid signatures are accepted" not in insecure
    assert any("ASKCALL_ACCESS_CONTACT=#sales-ops shows as plain text" in line for line in log.splitlines())


async def test_sigterm_makes_it_unready_at_once_and_serves_what_still_arrives(
    fakes: tuple[FakeSlack, FakePilotStatus],  # noqa: F811
    tmp_path: Path,
    launch: Callable[[dict[str, str], Path], AskCallProcess],  # noqa: F811
) -> None:
    """A load balancer sees /readyz turn 503 the moment SIGTERM arrives; a command that still reaches
    the replica in that moment is acknowledged and stored, and the process exits 0."""
    slack, pilot = fakes
    log_path = tmp_path / "askcall.log"
    app = launch(process_env(slack, pilot, tmp_path), log_path)
    await app.start()
    async with aiohttp.ClientSession() as http:
        async with http.get(app.url + "/readyz") as response:
            assert response.status == 200
        assert app.proc is not None
        app.proc.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.3)
        async with http.get(app.url + "/readyz") as response:
            assert response.status == 503
            assert (await response.json())["status"] == "stopping"
        assert await app.command(http, "+55 11 98765-4321 Podemos ligar?", slack.response_url()) == 200
    code = await asyncio.wait_for(app.proc.wait(), 30)
    assert code == 0, log_path.read_text()
    log = log_path.read_text()
    assert "stopping: not ready any more" in log and "request 1 stored" in log, log
    assert "Traceback" not in log and " ERROR " not in log, log
