"""Argument parsing and dispatch for the admin commands (`askcall check | webhook | export | purge | db`).

Each command needs only the settings it uses: `webhook` only the Pilot Status key, `export`,
`purge` and `db` only the database. Exit status: 0 done, 1 failed, 2 bad configuration or arguments.
`askcall demo` is bot.demo's: it runs the whole app, which the admin commands never import.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from datetime import UTC, datetime
from typing import Any, TextIO

from bot.config import DEFAULT_NUMBER, ConfigError, DatabaseConfig, webhook_path
from bot.pilot_status.webhooks import HANDLED_EVENTS
from bot.store import SchemaTooNew, StoreError

Env = Mapping[str, str]
Handler = Callable[[argparse.Namespace, Env], int]


def add_setup_commands(commands: Any) -> None:
    """Add `check` and `webhook` to the `askcall` parser's subparsers."""
    check = commands.add_parser(
        "check",
        help="check that this install is ready (Slack, Pilot Status, database, webhook)",
        description="Check the Slack token and scopes, the Pilot Status key and calling, the database, and the "
        "Pilot Status webhook. One line per check: ✓, or ✗ with how to fix it. Exit status 1 if any check fails.",
    )
    check.set_defaults(handler=_check)

    webhook = commands.add_parser(
        "webhook",
        help="create or list the Pilot Status webhook that sends customers' answers to AskCall",
        description="Manage the Pilot Status webhook of the WhatsApp number (needs only PILOT_STATUS_API_KEY).",
    )
    actions = webhook.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    register = actions.add_parser(
        "register",
        help="create the webhook, or repair the one that already posts to the URL",
        description=f"Make Pilot Status post every event AskCall handles ({', '.join(HANDLED_EVENTS)}) to URL. "
        "Safe to run again: a webhook that already posts to URL is repaired (turned on, subscribed to exactly "
        "those events) instead of duplicated.",
    )
    register.add_argument("--url", required=True, help="https://<your-host>/webhooks/pilot-status")
    register.add_argument("--name", help="name shown in the Pilot Status dashboard (new webhooks: AskCall)")
    register.add_argument("--allow-http", action="store_true", help="accept an http:// URL (local tests only)")
    _number_argument(register)
    register.set_defaults(handler=_webhook_register)
    listing = actions.add_parser(
        "list", help="list the number's webhooks", description="One line per webhook: id, URL, active, events."
    )
    _number_argument(listing)
    listing.set_defaults(handler=_webhook_list)


def _number_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--number",
        default=DEFAULT_NUMBER,
        metavar="NAME",
        help="a number declared in ASKCALL_CONFIG, with its own key (default: the number of PILOT_STATUS_API_KEY)",
    )


def add_data_commands(commands: Any) -> None:
    """Add `export`, `purge` and `db` to the `askcall` parser's subparsers."""
    export = commands.add_parser(
        "export",
        help="export the consent records (one per request) as CSV or JSON Lines",
        description="One record per request created between --since and --until (UTC dates, both included): "
        "requested_at, requested_by (Slack user id), channel, number, phone (masked unless --full-phones), "
        "reason, outcome, error_code, answered_at, expires_at, source_event, source_event_timestamp, purged_at; "
        "then the browser calls made for it: calls (how many), calls_answered, call_seconds (talk time), and the "
        "last call's last_call_at, last_call_by (Slack user id of the rep who called), last_call_result "
        "(in_progress, completed, missed, rejected or failed), last_call_seconds, last_call_error (Pilot Status's "
        "code when it failed). With --calls: one record per browser call started between --since and --until "
        "instead. Reads ASKCALL_DATABASE_URL or ASKCALL_DB_PATH.",
    )
    export.add_argument("--since", required=True, metavar="YYYY-MM-DD", help="first day (UTC)")
    export.add_argument("--until", metavar="YYYY-MM-DD", help="last day (UTC); default: today")
    export.add_argument("--format", required=True, choices=["csv", "jsonl"], dest="fmt", help="output format")
    export.add_argument("--full-phones", action="store_true", help="full phone numbers instead of masked ones")
    export.add_argument(
        "--calls",
        action="store_true",
        help="one record per browser call started in the period instead (call_id, request_id, called_by, "
        "requested_by, channel, number, phone, started_at, connected_at, ended_at, result, seconds, error)",
    )
    export.add_argument("--output", metavar="FILE", help="write to FILE (created private) instead of the screen")
    export.set_defaults(handler=_export)

    purge = commands.add_parser(
        "purge",
        help="erase phone numbers and reasons of closed requests older than an age",
        description="Erase the customer's phone number and the reason of every closed request created more than "
        "AGE ago, and the customer data of the webhook events (call events included) and sent messages that "
        "belong to them; their calls lose the Pilot Status call id (who called, when, how long and how it ended "
        "stay), and their call links and call page sessions are deleted. Call links already used or expired, "
        "and expired call page sessions, are deleted too, whatever their age. The requests stay (with empty "
        "phone and reason), so counts do not change. Safe to run again. "
        "AskCall also does this by itself every hour for ASKCALL_RETENTION_DAYS (default 180). "
        "Reads ASKCALL_DATABASE_URL or ASKCALL_DB_PATH.",
    )
    purge.add_argument("--older-than", required=True, metavar="AGE", help="180d (days) or 12h (hours)")
    purge.add_argument("--dry-run", action="store_true", help="only say how many requests would be purged")
    purge.add_argument("--batch-size", type=int, default=500, help=argparse.SUPPRESS)
    purge.set_defaults(handler=_purge)
    add_db_commands(commands)


def add_db_commands(commands: Any) -> None:
    db = commands.add_parser(
        "db",
        help="show, migrate or copy AskCall's database (SQLite or PostgreSQL)",
        description="Operate AskCall's database. status and migrate use the database askcall serve would use "
        "(ASKCALL_DATABASE_URL, else ASKCALL_DB_PATH); copy takes both databases as arguments.",
    )
    actions = db.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    status = actions.add_parser(
        "status",
        help="backend, server version, schema version, pending migrations and open leases",
        description="Show the database's backend and server version, its schema version against the one this "
        "AskCall knows (pending migrations, or a database NEWER than this AskCall), and the work leases "
        "replicas hold (owner, table, how many, live or expired). Changes nothing. Exit status 0 when the "
        "schema is up to date, 1 when it is not (or the database cannot be read).",
    )
    status.set_defaults(handler=_db_status)
    migrate = actions.add_parser(
        "migrate",
        help="bring the database's schema up to this AskCall's version (after a backup)",
        description="Apply the pending schema migrations and print the version before and after (askcall serve "
        "also does this at start-up). Safe to run again, and while replicas run: migrations take a lock. "
        "Refuses a database that a newer AskCall migrated. A missing SQLite file is created. An older AskCall "
        "refuses the migrated database, so rolling back means restoring the backup taken first: a SQLite "
        "database is backed up next to itself (asked first on a terminal); for PostgreSQL the pg_dump command "
        "is printed (and, on a terminal, AskCall asks before going on).",
    )
    backup = migrate.add_mutually_exclusive_group()
    backup.add_argument("--backup", metavar="FILE", help="SQLite: back the database up into FILE (a new file) first")
    backup.add_argument("--no-backup", action="store_true", help="migrate without a backup, without asking")
    migrate.set_defaults(handler=_db_migrate)
    copy = actions.add_parser(
        "copy",
        help="copy all of AskCall's data from one database to another (SQLite ⇄ PostgreSQL)",
        description="Copy every AskCall row from SRC to DST, ids included, so answers to requests made before the "
        "move still reach their threads. SRC and DST are each sqlite:///absolute/path or "
        "postgresql://user@host:port/database (put the password in PGPASSWORD or ~/.pgpass rather than on the "
        "command line). Stop every AskCall that uses SRC first. SRC is opened read-only and never migrated; its "
        "schema must be this AskCall's. DST must exist (a PostgreSQL database is not created; a SQLite file is), is "
        "migrated first and must hold no AskCall rows, unless --force. "
        "Progress goes to stderr; at the end the row counts of every table are compared (exit status 1 if they "
        "differ).",
    )
    copy.add_argument("--from", required=True, dest="source", metavar="SRC", help="the database to copy from")
    copy.add_argument("--to", required=True, dest="target", metavar="DST", help="the database to copy into")
    copy.add_argument(
        "--force",
        action="store_true",
        help="if DST already holds AskCall data, delete every row of its AskCall tables first (nothing else)",
    )
    copy.add_argument("--batch-size", type=int, default=1000, help="rows read and written at a time (default 1000)")
    copy.set_defaults(handler=_db_copy)


def run_admin_command(args: argparse.Namespace, env: Env) -> int:
    from bot.admin.database import SchemaMismatch

    handler: Handler = args.handler
    try:
        return handler(args, env)
    except ConfigError as error:
        return _fail(str(error), 2)
    except SchemaMismatch as error:
        return _fail(str(error))
    except StoreError as error:
        return _fail(f"the database could not be read or written ({error})")


def _fail(message: str, status: int = 1) -> int:
    print(f"askcall: {message}", file=sys.stderr)
    return status


# --- check ---------------------------------------------------------------------------------------
def _check(args: argparse.Namespace, env: Env) -> int:
    from bot.admin.check import run_checks

    checks = asyncio.run(run_checks(env))
    for check in checks:
        print(check.line)
    failures = sum(1 for check in checks if not check.ok)
    print("All checks passed." if not failures else f"{failures} check(s) failed.")
    return 0 if not failures else 1


# --- webhook -------------------------------------------------------------------------------------
def _webhook_register(args: argparse.Namespace, env: Env) -> int:
    from bot.admin.webhooks import admin_from_env, registration_report, validate_url
    from bot.pilot_status.admin import register

    try:
        url = validate_url(args.url, allow_http=args.allow_http)
    except ValueError as error:
        return _fail(f"{error}", 2)
    path = webhook_path(args.number)
    if not url.rstrip("/").endswith(path):
        print(f"Warning: AskCall receives this number's events at {path}; this URL ends differently.", file=sys.stderr)

    async def run() -> list[str]:
        async with admin_from_env(env, args.number) as admin:
            return registration_report(await register(admin, url, args.name))

    return _print_or_explain(run)


def _webhook_list(args: argparse.Namespace, env: Env) -> int:
    from bot.admin.webhooks import admin_from_env, describe, register_hint

    async def run() -> list[str]:
        async with admin_from_env(env, args.number) as admin:
            webhooks = await admin.list_webhooks()
        if not webhooks:
            hint = register_hint(None, args.number)
            return ["This WhatsApp number has no Pilot Status webhook. To create one, " + hint]
        return [describe(webhook) for webhook in webhooks]

    return _print_or_explain(run)


def _print_or_explain(run: Callable[[], Any]) -> int:
    from bot.admin.webhooks import explain_error
    from bot.pilot_status.errors import PilotStatusError

    try:
        lines = asyncio.run(run())
    except PilotStatusError as error:
        return _fail(explain_error(error))
    for line in lines:
        print(line)
    return 0


# --- export and purge ----------------------------------------------------------------------------
def existing_database(env: Env) -> DatabaseConfig:
    """The database `askcall serve` would open (ASKCALL_DATABASE_URL, else ASKCALL_DB_PATH). A SQLite
    file must exist already: an admin command never creates an empty database by mistake."""
    database = DatabaseConfig.from_env(env)
    path = database.sqlite_path
    if path is not None and not os.path.isfile(path):
        raise ConfigError(
            f"no AskCall database at {os.path.abspath(path)}: set ASKCALL_DB_PATH (or ASKCALL_DATABASE_URL) to it"
        )
    return database


def _export(args: argparse.Namespace, env: Env) -> int:
    from bot.admin.database import open_existing
    from bot.admin.export import day_bounds, export, parse_date

    try:
        since = parse_date(args.since)
        until = parse_date(args.until) if args.until else None
    except ValueError as error:
        return _fail(str(error), 2)
    if until is not None and until < since:
        return _fail("--until is before --since", 2)
    start, end = day_bounds(since, until)
    database = existing_database(env)

    async def run(out: TextIO) -> int:
        store = await open_existing(database)
        try:
            return await export(
                store, out, since=start, until=end, fmt=args.fmt, full_phones=args.full_phones, calls=args.calls
            )
        finally:
            await store.close()

    with _output(args.output) as out:
        count = asyncio.run(run(out))
    phones = "full phone numbers" if args.full_phones else "phone numbers masked"
    where = f" to {args.output}" if args.output else ""
    kind = "call record(s)" if args.calls else "record(s)"
    print(f"Exported {count} {kind} from {since} to {until or 'today'} ({phones}){where}.", file=sys.stderr)
    return 0


def _output(path: str | None) -> AbstractContextManager[TextIO]:
    return _private_file(path) if path else nullcontext(sys.stdout)


@contextmanager
def _private_file(path: str) -> Iterator[TextIO]:
    """The file holds customers' data: readable by its owner only, whatever file was there before. Written as a
    new file (mode 0600) beside it, then renamed over it once complete; on failure the old file stays as it was."""
    folder, name = os.path.split(os.path.abspath(path))
    descriptor, partial = tempfile.mkstemp(prefix=f".{name}.", suffix=".partial", dir=folder)  # mode 0600
    try:
        with open(descriptor, "w", encoding="utf-8", newline="") as out:
            yield out
        os.replace(partial, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(partial)
        raise


def _purge(args: argparse.Namespace, env: Env) -> int:
    from bot.services.retention import parse_age

    try:
        age = parse_age(args.older_than)
    except ValueError as error:
        return _fail(str(error), 2)
    if args.batch_size < 1:
        return _fail("--batch-size must be at least 1", 2)
    database = existing_database(env)
    cutoff = datetime.now(UTC).timestamp() - age
    return asyncio.run(_run_purge(database, cutoff, args.dry_run, args.batch_size))


async def _run_purge(database: DatabaseConfig, cutoff: float, dry_run: bool, batch_size: int) -> int:
    from bot.admin.database import open_existing
    from bot.services.retention import delete_spent_call_credentials, purge

    when = datetime.fromtimestamp(cutoff, UTC).strftime("%Y-%m-%d %H:%M UTC")
    store = await open_existing(database, writable=not dry_run)
    try:
        if dry_run:
            count = await store.count_purgeable_requests(cutoff)
            print(f"Would erase the phone numbers and reasons of {count} closed request(s) created before {when}.")
            return 0
        counts = await purge(store, cutoff, batch_size, progress=_progress_printer(batch_size, sys.stderr))
        spent = await delete_spent_call_credentials(store, datetime.now(UTC).timestamp(), batch_size)
    finally:
        await store.close()
    print(
        f"Erased the phone numbers and reasons of {counts.requests} closed request(s) created before {when}, "
        f"and the customer data of {counts.events} webhook event(s), {counts.deliveries} sent message(s) and "
        f"{counts.calls} call(s). The requests and calls themselves are kept, so counts do not change."
    )
    print(f"Deleted {counts.call_credentials + spent} call link(s) and call page session(s) no longer usable.")
    return 0


def _progress_printer(batch_size: int, stream: TextIO) -> Callable[[int, int], None]:
    def show(done: int, total: int) -> None:
        if total > batch_size:  # only long runs need a progress line
            print(f"purged {done}/{total} requests…", file=stream, flush=True)

    return show


# --- db ------------------------------------------------------------------------------------------
def _db_status(args: argparse.Namespace, env: Env) -> int:
    from bot.admin.database import database_status

    status = asyncio.run(database_status(existing_database(env)))
    for line in status.lines:
        print(line)
    return 0 if status.up_to_date else 1


def _db_migrate(args: argparse.Namespace, env: Env) -> int:
    from bot.admin.database import migrate_database, schema_versions

    database = DatabaseConfig.from_env(env)
    missing = database.sqlite_path is not None and not os.path.isfile(database.sqlite_path)
    if not missing and not args.no_backup:
        before, known = asyncio.run(schema_versions(database))
        if 0 < before < known and not _backed_up_or_confirmed(database, before, args.backup):
            return _fail("nothing migrated")
    elif args.backup and missing:
        return _fail(f"--backup: there is no database at {database.sqlite_path} yet", 2)
    try:
        done = asyncio.run(migrate_database(database))
    except SchemaTooNew as error:
        return _fail(f"nothing migrated: {error}")
    if done.before == done.after:
        print(f"{database.redacted()}: schema already at version {done.after}, nothing to migrate.")
    else:
        print(f"{database.redacted()}: migrated from schema version {done.before} to {done.after}.")
    return 0


def _backed_up_or_confirmed(database: DatabaseConfig, version: int, target: str | None) -> bool:
    """Before migrating a database at `version`: back a SQLite one up (asking first on a terminal), or print the
    pg_dump command for PostgreSQL (asking whether to go on, on a terminal). False: don't migrate."""
    import sqlite3
    import time

    from bot.admin.database import backup_path, backup_sqlite, pg_dump_command

    interactive = sys.stdin is not None and sys.stdin.isatty()
    if database.sqlite_path is None:
        if target:
            print(
                f"askcall: --backup is for SQLite; back PostgreSQL up with: {pg_dump_command(database, version)}",
                file=sys.stderr,
            )
            return False
        command = pg_dump_command(database, version)
        if not interactive:  # a script or a job: it said what it wanted (--no-backup silences this)
            print(
                "Note: AskCall doesn't back PostgreSQL up itself, and an older AskCall refuses the migrated database; "
                f"to be able to roll back, back it up before migrating: {command}"
            )
            return True
        print(f"Back the database up first (an older AskCall refuses the migrated database): {command}")
        return yes_to("Migrate now? [y/N] ", default=False)
    path = target or backup_path(database, version, time.time())
    if not target and interactive and not yes_to(f"Back the database up to {path} first? [Y/n] ", default=True):
        return True
    try:
        backup_sqlite(database, path)
    except (OSError, sqlite3.Error) as error:
        print(f"askcall: could not back the database up to {path} ({error})", file=sys.stderr)
        return False
    print(f"Backed up {database.redacted()} (schema version {version}) to {path}: to roll back, restore it.")
    return True


def yes_to(question: str, *, default: bool) -> bool:
    try:
        answer = input(question).strip().lower()
    except EOFError:
        return default
    return default if not answer else answer in ("y", "yes", "s", "sim")


def _db_copy(args: argparse.Namespace, env: Env) -> int:
    from bot.admin.dbcopy import CopyFailed, CopyRefused, copy_database

    if args.batch_size < 1:
        return _fail("--batch-size must be at least 1", 2)
    source = DatabaseConfig.from_url(args.source, variable="--from")
    target = DatabaseConfig.from_url(args.target, variable="--to")
    print(f"Copying {source.redacted()} → {target.redacted()}", file=sys.stderr)

    def show(table: str, done: int, total: int) -> None:
        print(f"  {table}: {done}/{total} rows", file=sys.stderr, flush=True)

    try:
        counts = asyncio.run(copy_database(source, target, force=args.force, batch_size=args.batch_size, progress=show))
    except CopyRefused as error:
        return _fail(f"nothing copied: {error}")
    except CopyFailed as error:
        return _fail(f"the copy failed: {error}. The source is unchanged.")
    except StoreError as error:
        return _fail(
            f"the copy did not finish ({error}). The source is unchanged; once the problem is fixed, run the copy "
            "again (with --force if the target got some rows already)."
        )
    wrong = [count for count in counts if not count.matches]
    for count in wrong:
        print(f"  {count.table}: {count.source} rows in the source, {count.target} in the target", file=sys.stderr)
    if wrong:
        return _fail(
            "the copy is incomplete: row counts differ (above). Make sure no AskCall uses either database, then "
            "copy again with --force."
        )
    total = sum(count.target for count in counts)
    print(f"Copied {total} rows; the row counts of all {len(counts)} tables match. Point AskCall at the new database:")
    print(f"  ASKCALL_DATABASE_URL={target.redacted()}")
    return 0
