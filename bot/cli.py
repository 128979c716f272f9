"""`askcall` command line.

`askcall serve` freezes the cyclic garbage collector's view of the heap once it listens: what imports and start-up
created lives as long as the process, and a full collection that walks it stalls every request in flight.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import os
import sys
from collections.abc import Sequence

from aiohttp import web
from dotenv import load_dotenv

from bot import __version__
from bot.admin.commands import add_data_commands, add_setup_commands, run_admin_command
from bot.admin.workspaces import add_workspace_commands
from bot.config import ConfigError, Settings
from bot.demo.command import add_demo_command
from bot.observability import JsonFormatter, RequestIdFilter
from bot.store import SchemaTooNew, StoreError

# Third-party loggers that would print URLs, payloads or SQL parameters (phone numbers, tokens)
# at INFO/DEBUG: only their warnings and errors are shown, whatever ASKCALL_LOG_LEVEL says.
_QUIET_LOGGERS = ("httpx", "httpcore", "slack_sdk", "slack_bolt", "aiohttp.access", "aiosqlite")


def _not_quieted(record: logging.LogRecord) -> bool:
    """Drop INFO/DEBUG records of the quiet loggers at the handler: setting their level is not
    enough, because Bolt gives each logger it creates (e.g. slack_bolt.AsyncApp) the root's level."""
    if record.levelno >= logging.WARNING:
        return True
    return not any(record.name == name or record.name.startswith(name + ".") for name in _QUIET_LOGGERS)


# Third-party loggers that log an expected outage (the database unreachable) with a traceback on
# every retry: their warnings are kept, as one line naming the error.
_ONE_LINE_LOGGERS = ("asyncpg.pool",)


def _one_line(record: logging.LogRecord) -> bool:
    """Fold a warning's traceback into its message: `… (ConnectionRefusedError: …)`. Errors stay as they are."""
    if record.levelno < logging.ERROR and record.exc_info and record.exc_info[1] is not None:
        error = record.exc_info[1]
        record.msg = f"{record.getMessage()} ({type(error).__name__}: {error})"
        record.args = None
        record.exc_info = None
        record.exc_text = None
    return True


def configure_logging(level: str, log_format: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_not_quieted)
    handler.addFilter(RequestIdFilter())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"))
    logging.basicConfig(level=getattr(logging, level, logging.INFO), handlers=[handler], force=True)
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in _ONE_LINE_LOGGERS:
        logging.getLogger(name).addFilter(_one_line)
    # Bolt warns that SLACK_BOT_TOKEN (read from the environment) is unused because AskCall hands it
    # a configured client built from that same token; the warning would only confuse operators.
    logging.getLogger("slack_bolt.AsyncApp").addFilter(
        lambda record: not str(record.msg).startswith("As you gave `client` as well")
    )


def _ready(log: logging.Logger, line: str) -> None:
    """AskCall listens: the objects start-up made (modules, the Bolt app, clients, the pool) go to the collector's
    permanent generation, so its full collections walk only what was made since (measured in figure 3 on PostgreSQL:
    gen-2 collections over the whole heap paused the event loop for tens of ms, every answer in flight with them)."""
    gc.collect()
    gc.freeze()
    log.info("%s", line)


def serve(settings: Settings) -> int:
    """Listen, start, serve until SIGTERM. What stops the start (the port, HOST, the database, a token Slack
    refuses) is one line on stderr and a non-zero exit; "ready" is logged only once the port listens."""
    from bot.app import ASKCALL, create_web_app, http_shutdown_timeout
    from bot.slack.app_token import AppTokenRefused
    from bot.slack.env_installations import WorkspaceUnknown
    from bot.web.listener import ListenError, bind

    log = logging.getLogger("bot")
    for warning in settings.startup_warnings():
        log.warning("%s", warning)
    # Bound first: a port in use or a wrong HOST stops here, before the database or Slack is touched.
    listeners = []
    try:
        listeners.append(bind(settings.host, settings.port))
        if settings.metrics_port is not None:
            listeners.append(bind(settings.host, settings.metrics_port, port_variable="ASKCALL_METRICS_PORT"))
    except ListenError as error:
        for listener in listeners:
            listener.close()
        print(f"askcall: {error}", file=sys.stderr)
        return 1
    app = create_web_app(settings, handle_sigterm=True, metrics_socket=listeners[1] if len(listeners) > 1 else None)
    where = f"{settings.host}:{listeners[0].getsockname()[1]}"
    try:
        web.run_app(
            app,
            sock=listeners[0],
            # aiohttp calls this once every site listens: only then is AskCall ready.
            print=lambda _: _ready(log, app[ASKCALL].startup_line(where)),
            # Open connections (requests being handled, bodies still arriving) get this share of
            # the grace; the app's cleanup gets the rest (see bot.app).
            shutdown_timeout=http_shutdown_timeout(settings),
            access_log=None,
        )
    except SchemaTooNew as error:
        print(
            f"askcall: {error}; to roll back instead, restore the backup taken before askcall db migrate",
            file=sys.stderr,
        )
        return 1
    except StoreError as error:
        print(f"askcall: {error}", file=sys.stderr)
        return 1
    except AppTokenRefused as error:
        print(f"askcall: {error}: {error.fix}", file=sys.stderr)
        return 1
    except WorkspaceUnknown as error:
        print(f"askcall: {error}", file=sys.stderr)
        return 1
    return 0


class _Version(argparse.Action):
    """`askcall --version`: the release and the database schema version it migrates to (read only when asked)."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=str(kwargs.get("help")))

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        from bot.store import known_schema_version

        print(f"askcall {__version__} (database schema version {known_schema_version()})")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="askcall",
        description="AskCall: ask customers on WhatsApp (Pilot Status) for permission to call, from Slack.",
    )
    parser.add_argument("--version", action=_Version, help="print the version and the database schema version")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    commands.add_parser(
        "serve",
        help="run the HTTP server (Slack events, Pilot Status webhook, health)",
        description="Serve POST /slack/events, POST /webhooks/pilot-status and GET /healthz on HOST:PORT. "
        "Configuration comes from the environment; see .env.example.",
    )
    add_setup_commands(commands)  # check, webhook
    add_demo_command(commands)
    add_data_commands(commands)  # export, purge, db
    add_workspace_commands(commands)  # workspaces
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # A .env in the working directory fills in what the environment doesn't already set.
    # Started from a folder that no longer exists: there is no .env to read.
    with contextlib.suppress(FileNotFoundError):
        load_dotenv(os.path.join(os.getcwd(), ".env"), override=False)
    if args.command != "serve":
        # Admin commands print plain-English results; only warnings and errors get logged.
        configure_logging("WARNING")
        return run_admin_command(args, os.environ)
    try:
        settings = Settings.from_env(os.environ)
    except ConfigError as error:
        print(f"askcall: {error}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    if args.command == "serve":
        return serve(settings)
    return 1


if __name__ == "__main__":
    sys.exit(main())
