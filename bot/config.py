"""Settings read from the environment, validated once at start-up.

Every layer reads settings, so this module sits near the bottom (pyproject.toml): it imports only the
catalogue's language names (bot.i18n).
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import SplitResult, parse_qs, unquote, urlsplit

import phonenumbers

from bot import setting_values as values
from bot.i18n import LANGUAGES, normalize_language
from bot.secrets import BadEncryptionKey, Secrets
from bot.setting_values import ConfigError

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_PILOT_STATUS_BASE_URL = "https://pilotstatus.com.br"
DEFAULT_DB_PATH = "./askcall.db"
DEFAULT_DB_POOL_SIZE = 10
DEFAULT_PILOT_STATUS_MAX_IN_FLIGHT = 64
DEFAULT_SLACK_AUTHORIZE_URL = "https://slack.com/oauth/v2/authorize"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


# "#sales-ops" or "@maria": Slack shows these as plain text; links need ids (<#C…>, <@U…>).
BARE_MENTION = re.compile(r"^[#@][\w.-]+$")
NUMBER_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
DEFAULT_NUMBER = "default"


@dataclass(frozen=True)
class WhatsAppNumber:
    """A WhatsApp business number AskCall sends from, with its own key, webhook and channels."""

    name: str
    api_key: str
    webhook_secret: str | None
    # Channels this number serves; empty for the default number, which serves every other channel.
    channels: frozenset[str] = frozenset()
    # The variables the numbers file names for its key and secret (they are settings too, not typos).
    variables: frozenset[str] = field(default=frozenset(), compare=False)

    @property
    def webhook_path(self) -> str:
        return webhook_path(self.name)


def webhook_path(number: str) -> str:
    """Where AskCall receives the Pilot Status webhooks of the number called `number`."""
    return "/webhooks/pilot-status" if number == DEFAULT_NUMBER else f"/webhooks/pilot-status/{number}"


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with exponential backoff; `Retry-After` wins when the server sends one."""

    attempts: int = 4
    base_delay: float = 1.0
    max_delay: float = 30.0
    # A Retry-After longer than this is not worth holding the request for: give up and say so.
    max_retry_after: float = 60.0

    def delay(self, attempt: int) -> float:
        """Delay before retry number `attempt` (1-based)."""
        return min(self.base_delay * (2 ** (attempt - 1)), self.max_delay)


POSTGRES_SCHEMES = ("postgresql", "postgres")
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
DATABASE_URL_FORMS = (
    "e.g. {variable}=postgresql://user:password@host:5432/askcall or sqlite:///absolute/path/askcall.db"
)
# One entry of a PostgreSQL URL's host list: a name, an IPv4 or a bracketed IPv6 address, and an optional port.
_POSTGRES_HOST = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[^:\[\]/]+)(?::(\d*))?$")


@dataclass(frozen=True, repr=False)
class DatabaseConfig:
    """Where AskCall keeps its data: SQLite (`sqlite_path`) or PostgreSQL (`dsn`, the URL exactly as given,
    for asyncpg). Exactly one of the two is set, matching `scheme`. Neither `repr()` nor `redacted()`
    ever shows a password."""

    scheme: Literal["sqlite", "postgresql"]
    sqlite_path: str | None = None
    dsn: str | None = None
    # Connections in the PostgreSQL pool (ASKCALL_DB_POOL_SIZE); SQLite ignores it.
    pool_size: int = DEFAULT_DB_POOL_SIZE

    def __post_init__(self) -> None:
        sqlite = self.scheme == "sqlite" and bool(self.sqlite_path) and self.dsn is None
        postgresql = self.scheme == "postgresql" and bool(self.dsn) and self.sqlite_path is None
        if not (sqlite or postgresql):
            raise ConfigError("a database is either a SQLite path or a PostgreSQL DSN, matching its scheme")
        if self.pool_size < 1:
            raise ConfigError(f"the database pool size must be at least 1, not {self.pool_size}")

    @classmethod
    def sqlite(cls, path: str, pool_size: int = DEFAULT_DB_POOL_SIZE) -> DatabaseConfig:
        return cls("sqlite", sqlite_path=path, pool_size=pool_size)

    @classmethod
    def from_url(
        cls, url: str, pool_size: int = DEFAULT_DB_POOL_SIZE, *, variable: str = "ASKCALL_DATABASE_URL"
    ) -> DatabaseConfig:
        """Parse and check a `postgresql://`, `postgres://` or `sqlite:///` URL; errors name `variable`."""
        shown = f"{variable}={redact_url(url)!r}"
        forms = DATABASE_URL_FORMS.format(variable=variable)
        try:
            parts = urlsplit(url.strip())
        except ValueError as error:
            raise ConfigError(f"{shown} is not a valid URL ({error}); use {forms}") from error
        if parts.scheme == "sqlite":
            return cls.sqlite(_sqlite_path(parts, shown), pool_size)
        if parts.scheme in POSTGRES_SCHEMES:
            _check_postgres_url(parts, shown)
            return cls("postgresql", dsn=url.strip(), pool_size=pool_size)
        if not parts.scheme:
            raise ConfigError(f"{shown} is not a URL: use {forms} (a plain file path goes in ASKCALL_DB_PATH)")
        hint = " (drop the driver suffix after +)" if parts.scheme.startswith(POSTGRES_SCHEMES) else ""
        raise ConfigError(f"{shown} has an unknown scheme {parts.scheme!r}{hint}: use {forms}")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> DatabaseConfig:
        """ASKCALL_DATABASE_URL when set, else SQLite at ASKCALL_DB_PATH; pool size from ASKCALL_DB_POOL_SIZE."""
        pool_text = (env.get("ASKCALL_DB_POOL_SIZE") or "").strip() or str(DEFAULT_DB_POOL_SIZE)
        if not pool_text.isdigit() or int(pool_text) < 1:
            raise ConfigError(
                f"ASKCALL_DB_POOL_SIZE={pool_text!r} must be a whole number of connections, at least 1, "
                "e.g. ASKCALL_DB_POOL_SIZE=10"
            )
        url = (env.get("ASKCALL_DATABASE_URL") or "").strip()
        if url:
            return cls.from_url(url, int(pool_text))
        return cls.sqlite((env.get("ASKCALL_DB_PATH") or "").strip() or DEFAULT_DB_PATH, int(pool_text))

    @property
    def url(self) -> str:
        """The database as a URL. It holds the password, if any: log `redacted()` instead."""
        if self.dsn is not None:
            return self.dsn
        return "sqlite://" + os.path.abspath(str(self.sqlite_path))

    def redacted(self) -> str:
        """The URL with any password replaced by ***, for logs and `askcall check`."""
        return redact_url(self.url)

    def __repr__(self) -> str:
        return f"DatabaseConfig({self.redacted()!r}, pool_size={self.pool_size})"


def redact_url(url: str) -> str:
    """`url` with the password (in the user part or a `password=` option) replaced by ***."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return "<unreadable URL>"
    userinfo, at, hosts = parts.netloc.rpartition("@")
    if at and ":" in userinfo:
        userinfo = userinfo.split(":", 1)[0] + ":***"
    netloc = f"{userinfo}@{hosts}" if at else hosts
    query = re.sub(r"(?i)(^|&)(password=)[^&]*", r"\1\2***", parts.query)
    if (netloc, query) == (parts.netloc, parts.query):
        return url.strip()
    # By hand rather than urlunsplit, which would drop the // of a URL with no host (?host=/socket).
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "")


def _sqlite_path(parts: SplitResult, shown: str) -> str:
    example = "e.g. sqlite:///var/lib/askcall/askcall.db"
    if parts.netloc or not parts.path.startswith("/"):
        raise ConfigError(
            f"{shown} needs an absolute path after sqlite:/// (three slashes), {example}; "
            "for a path relative to the current folder, set ASKCALL_DB_PATH instead"
        )
    if parts.query or parts.fragment:
        raise ConfigError(f"{shown}: a sqlite:/// URL takes no options (nothing after ? or #)")
    path = "/" + unquote(parts.path).lstrip("/")
    if path.endswith("/") or path == "/":
        raise ConfigError(f"{shown} names a folder, not a database file: {example}")
    if path.rsplit("/", 1)[-1] == ":memory:":
        raise ConfigError(f"{shown}: an in-memory database loses everything at each restart; name a file, {example}")
    return path


def _check_postgres_url(parts: SplitResult, shown: str) -> None:
    options = parse_qs(parts.query, keep_blank_values=True)
    hosts = parts.netloc.rpartition("@")[2]
    example = "e.g. postgresql://askcall:password@db.internal:5432/askcall"
    if not hosts and not any(options.get("host", [])):
        raise ConfigError(f"{shown} names no host: {example} (for a Unix socket, add ?host=/run/postgresql)")
    for host in hosts.split(",") if hosts else ():
        match = _POSTGRES_HOST.match(host)
        port = match.group(1) if match else None
        if match is None or (port is not None and not (port.isdigit() and 1 <= int(port) <= 65535)):
            raise ConfigError(f"{shown}: {host!r} is not a host[:port] with a port from 1 to 65535")
    if not unquote(parts.path.lstrip("/")) and not any(options.get("dbname", [])):
        raise ConfigError(f"{shown} names no database: add its name after the host, {example}")
    for mode in options.get("sslmode", []):
        if mode not in SSL_MODES:
            raise ConfigError(f"{shown}: sslmode={mode!r} is not one of {', '.join(SSL_MODES)}")


# Every variable `Settings.from_env` reads (tests/test_docs.py keeps this, the code and docs/configuration.md equal).
VARIABLES = frozenset(
    {
        "ASKCALL_ACCESS_CONTACT",
        "ASKCALL_ALLOWED_CHANNELS",
        "ASKCALL_ALLOWED_USERGROUPS",
        "ASKCALL_ALLOWED_USERS",
        "ASKCALL_CALLS_SWEEP_SECONDS",
        "ASKCALL_CONFIG",
        "ASKCALL_DATABASE_URL",
        "ASKCALL_DB_PATH",
        "ASKCALL_DB_POOL_SIZE",
        "ASKCALL_DEFAULT_REGION",
        "ASKCALL_ENCRYPTION_KEY",
        "ASKCALL_INSECURE_DEV",
        "ASKCALL_LANGUAGE",
        "ASKCALL_LEASE_SECONDS",
        "ASKCALL_LOG_FORMAT",
        "ASKCALL_LOG_LEVEL",
        "ASKCALL_MAX_REQUESTS_PER_REP_PER_HOUR",
        "ASKCALL_METRICS_PORT",
        "ASKCALL_METRICS_TOKEN",
        "ASKCALL_PHONE_DISPLAY",
        "ASKCALL_PILOT_STATUS_MAX_IN_FLIGHT",
        "ASKCALL_PRIVACY_POLICY_URL",
        "ASKCALL_PUBLIC_URL",
        "ASKCALL_RETENTION_DAYS",
        "ASKCALL_RETENTION_INTERVAL_SECONDS",
        "ASKCALL_SHUTDOWN_GRACE",
        "ASKCALL_SUPPORT_URL",
        "ASKCALL_UNINSTALL_GRACE_DAYS",
        "HOST",
        "PILOT_STATUS_API_KEY",
        "PILOT_STATUS_BASE_URL",
        "PILOT_STATUS_WEBHOOK_SECRET",
        "PORT",
        "SLACK_API_URL",
        "SLACK_APP_TOKEN",
        "SLACK_AUTHORIZE_URL",
        "SLACK_BOT_TOKEN",
        "SLACK_CLIENT_ID",
        "SLACK_CLIENT_SECRET",
        "SLACK_SIGNING_SECRET",
    }
)
# Variables of AskCall's own tooling (tests, CI, bench), not of the server: never reported as unknown.
TOOLING_PREFIXES = ("ASKCALL_TEST_", "ASKCALL_REQUIRE_", "ASKCALL_BENCH_", "ASKCALL_CHROMIUM")


def unknown_variables(env: Mapping[str, str], also_read: frozenset[str] = frozenset()) -> list[str]:
    """Set variables that look like AskCall's but that it doesn't read (a typo is otherwise silent), each with
    the setting it probably means: every unknown `ASKCALL_*` name, and `SLACK_*` / `PILOT_STATUS_*` names close to
    a known one (other tools may use those prefixes). `also_read`: the variables a numbers file names."""
    known = VARIABLES | also_read
    found = []
    for name in sorted(env):
        if name in known or name.startswith(TOOLING_PREFIXES):
            continue
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.8)
        if name.startswith("ASKCALL_") or (close and name.startswith(("SLACK_", "PILOT_STATUS_"))):
            hint = f" (did you mean {close[0]}?)" if close else " (docs/configuration.md lists every setting)"
            found.append(f"{name} is set but is not a setting AskCall reads{hint}: it has no effect")
    return found


@dataclass(frozen=True)
class Settings:
    slack_bot_token: str
    slack_signing_secret: str | None
    pilot_status_api_key: str
    pilot_status_webhook_secret: str | None
    slack_api_url: str = DEFAULT_SLACK_API_URL
    pilot_status_base_url: str = DEFAULT_PILOT_STATUS_BASE_URL
    # The SQLite file: ASKCALL_DB_PATH, or the path of a sqlite:/// ASKCALL_DATABASE_URL. Unused on PostgreSQL.
    db_path: str = DEFAULT_DB_PATH
    # A postgresql:// URL (ASKCALL_DATABASE_URL), or None for SQLite at db_path. A sqlite:/// URL given here is
    # folded into db_path, so the two never disagree. Out of repr: it may hold a password.
    database_url: str | None = field(default=None, repr=False)
    db_pool_size: int = DEFAULT_DB_POOL_SIZE
    # The backend to open, derived from the three fields above.
    database: DatabaseConfig = field(init=False, compare=False)
    default_region: str = "BR"
    language: str = "pt-BR"
    host: str = "0.0.0.0"
    port: int = 3000
    log_level: str = "INFO"
    insecure_dev: bool = False
    pilot_status_timeout: float = 30.0
    pilot_status_retry: RetryPolicy = field(default_factory=RetryPolicy)
    # Pilot Status requests one process has in flight at most, every workspace's together; a workspace takes a slot
    # only while more stay free than it holds (bot.pilot_status.fair), so a hanging one never holds them all.
    pilot_status_max_in_flight: int = DEFAULT_PILOT_STATUS_MAX_IN_FLIGHT
    # Slack deliveries retry durably (from the store) with this backoff, capped at 5 minutes: about
    # a day of trying before a transient failure counts as final (metrics show dead deliveries).
    slack_retry: RetryPolicy = field(
        default_factory=lambda: RetryPolicy(attempts=300, base_delay=1.0, max_delay=300.0, max_retry_after=3600)
    )
    # The whole graceful stop (open connections, then background work, then clients) fits in this,
    # well under a container's default 10 s between SIGTERM and SIGKILL.
    # SIGTERM: seconds for in-flight work to finish (ASKCALL_SHUTDOWN_GRACE). Stalled clients never
    # hold the stop this long: open HTTP connections get at most a few seconds of it (bot.app).
    shutdown_grace: float = 20.0
    # A client must send its whole request body within this many seconds (else 408).
    body_timeout: float = 10.0
    # /metrics: a bearer token that must come with each scrape (None: open), and how old the
    # counts read from the database may be (they are refreshed off the request path).
    metrics_token: str | None = None
    metrics_max_age: float = 10.0
    # Serve /metrics on this port only (e.g. one only the Prometheus network reaches); None: on PORT.
    metrics_port: int | None = None
    # Erase phones and reasons of closed requests older than this many days (0: keep forever).
    retention_days: int = 180
    # Public base URL of this AskCall (e.g. https://askcall.example.com); `askcall check` uses it.
    public_url: str | None = None
    # More WhatsApp numbers, one per sales team (ASKCALL_CONFIG); the env's own number is "default".
    extra_numbers: tuple[WhatsAppNumber, ...] = ()
    # Who may use AskCall (Slack ids; empty = everyone) and whom a refused rep should ask.
    allowed_channels: frozenset[str] = frozenset()
    allowed_users: frozenset[str] = frozenset()
    allowed_usergroups: frozenset[str] = frozenset()
    access_contact: str = ""
    # How channel messages show the customer's number: "masked" (+55 11 9••••-4321) or "full".
    phone_display: str = "masked"
    log_format: str = "text"
    # With an app-level token (xapp-…), Slack traffic comes over Socket Mode instead of HTTP.
    slack_app_token: str | None = None
    # How long a claim on a job (a delivery, a send, an answer, a reminder) outlives a silent owner:
    # a dead replica's work is taken over within this plus a third of it.
    lease_seconds: float = 30.0
    # How many requests one rep may make in an hour (0: no limit): a burst of permission requests
    # hurts the WhatsApp number's quality rating.
    max_requests_per_rep_per_hour: int = 30
    # How often the calls sweep settles calls whose webhooks stopped, and how often retention runs.
    calls_sweep_seconds: float = 15.0
    retention_interval_seconds: float = 3600.0
    # Set variables that look like settings but aren't read (typos), as warnings for the start-up log.
    unknown_variables: tuple[str, ...] = ()
    # Multi-workspace mode (Add to Slack): the app's OAuth credentials, the key its tokens are encrypted under
    # (comma-separated Fernet keys, the first encrypts), and where the install's authorize page is (Slack's; the
    # tests point it at the fake). Out of repr: secrets.
    slack_client_id: str | None = None
    slack_client_secret: str | None = field(default=None, repr=False)
    encryption_key: str | None = field(default=None, repr=False)
    slack_authorize_url: str = DEFAULT_SLACK_AUTHORIZE_URL
    # Days a workspace's data is kept after AskCall is uninstalled there, in case it comes back.
    uninstall_grace_days: int = 30
    # The landing page's links (what the Slack Marketplace asks for); unset: not shown.
    privacy_policy_url: str | None = None
    support_url: str | None = None

    @property
    def multi_workspace(self) -> bool:
        """Installed by workspaces through Add to Slack (OAuth), rather than with one SLACK_BOT_TOKEN."""
        return bool(self.slack_client_id and self.slack_client_secret)

    def secrets(self) -> Secrets:
        """What encrypts and decrypts the secrets at rest (multi-workspace mode needs ASKCALL_ENCRYPTION_KEY)."""
        if not self.encryption_key:
            raise ConfigError("ASKCALL_ENCRYPTION_KEY is not set: secrets at rest need it")
        return Secrets(self.encryption_key)

    def __post_init__(self) -> None:
        database = (
            DatabaseConfig.from_url(self.database_url, self.db_pool_size)
            if self.database_url
            else DatabaseConfig.sqlite(self.db_path, self.db_pool_size)
        )
        if database.sqlite_path is not None:
            object.__setattr__(self, "db_path", database.sqlite_path)
            object.__setattr__(self, "database_url", None)
        object.__setattr__(self, "database", database)

    @property
    def numbers(self) -> tuple[WhatsAppNumber, ...]:
        default = (
            (WhatsAppNumber(DEFAULT_NUMBER, self.pilot_status_api_key, self.pilot_status_webhook_secret),)
            if self.pilot_status_api_key
            else ()
        )
        return default + self.extra_numbers

    def number_for_channel(self, channel_id: str | None) -> WhatsAppNumber | None:
        """The number serving a channel: the one listing it, else the default number (if any)."""
        for number in self.extra_numbers:
            if channel_id in number.channels:
                return number
        return next((n for n in self.numbers if n.name == DEFAULT_NUMBER), None)

    def startup_warnings(self) -> list[str]:
        """Settings that work but probably not as intended; logged when the server starts."""
        warnings: list[str] = list(self.unknown_variables)
        if self.insecure_dev:
            skipped = []
            if self.slack_signing_secret is None and not self.slack_app_token:
                skipped.append("Slack requests to /slack/events (SLACK_SIGNING_SECRET is unset)")
            skipped += [
                f"Pilot Status webhooks to {n.webhook_path} (number {n.name!r} has no webhook secret)"
                for n in self.numbers
                if n.webhook_secret is None
            ]
            if skipped:
                warnings.append(
                    "ASKCALL_INSECURE_DEV is on: signatures are NOT checked for "
                    + "; ".join(skipped)
                    + ". Anyone who can reach this server can forge them. Never use this in production."
                )
            else:
                warnings.append(
                    "ASKCALL_INSECURE_DEV is on, but every signing secret is set: every request is still "
                    "verified. Remove ASKCALL_INSECURE_DEV."
                )
        if BARE_MENTION.match(self.access_contact):
            warnings.append(
                f"ASKCALL_ACCESS_CONTACT={self.access_contact} shows as plain text in Slack, not as a link: write "
                "a channel as <#C0123456789>, a person as <@U0123456789> or a user group as <!subteam^S0123456789> "
                "(ids from their Slack profile or channel details)"
            )
        return warnings

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        def get(name: str, default: str = "") -> str:
            return (env.get(name) or default).strip()

        insecure = values.boolean("ASKCALL_INSECURE_DEV", get("ASKCALL_INSECURE_DEV"))
        extra_numbers = _numbers_from_file(get("ASKCALL_CONFIG"), env, insecure)
        multi = _multi_workspace(get)
        # In multi-workspace mode each workspace connects its own Pilot Status account from App Home: the
        # environment's key and webhook secret are neither needed nor used.
        required = [] if multi else ["SLACK_BOT_TOKEN"] + ([] if extra_numbers else ["PILOT_STATUS_API_KEY"])
        if multi:
            # Installs come over HTTP (the OAuth redirect) and every request is signed, whatever else is set.
            required += ["SLACK_SIGNING_SECRET", "ASKCALL_PUBLIC_URL", "ASKCALL_ENCRYPTION_KEY"]
        elif not insecure and not get("SLACK_APP_TOKEN"):  # Socket Mode requests are not signed
            required.append("SLACK_SIGNING_SECRET")
        if not insecure and not multi and (get("PILOT_STATUS_API_KEY") or not extra_numbers):
            required.append("PILOT_STATUS_WEBHOOK_SECRET")
        missing = [name for name in required if not get(name)]
        if missing:
            hint = (
                " (set them, e.g. in .env; see .env.example. For local development only, "
                "ASKCALL_INSECURE_DEV=1 starts without the two signing secrets and skips verification)"
            )
            raise ConfigError("Missing required environment variable(s): " + ", ".join(missing) + hint)
        bot_token = values.token("SLACK_BOT_TOKEN", get("SLACK_BOT_TOKEN"), "xoxb-", "the Bot User OAuth Token")
        app_token = values.token("SLACK_APP_TOKEN", get("SLACK_APP_TOKEN"), "xapp-", "an App-Level Token")

        region = get("ASKCALL_DEFAULT_REGION", "BR").upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise values.refused("ASKCALL_DEFAULT_REGION", region, "is not a region code (ISO 3166)", "BR")
        raw_language = get("ASKCALL_LANGUAGE", "pt-BR")
        language = normalize_language(raw_language, fallback="")
        if language not in LANGUAGES:
            raise values.refused("ASKCALL_LANGUAGE", raw_language, f"is not one of {', '.join(LANGUAGES)}", "pt-BR")
        port = values.port("PORT", get("PORT"), default=3000) or 0
        metrics_port = values.port("ASKCALL_METRICS_PORT", get("ASKCALL_METRICS_PORT"), example=9100)
        if metrics_port is not None and metrics_port == port:
            raise values.refused("ASKCALL_METRICS_PORT", str(metrics_port), "must be another port than PORT", "9100")
        slack_api_url = values.url(
            "SLACK_API_URL", get("SLACK_API_URL", DEFAULT_SLACK_API_URL), example=DEFAULT_SLACK_API_URL
        )
        pilot_status_base_url = values.url(
            "PILOT_STATUS_BASE_URL",
            get("PILOT_STATUS_BASE_URL", DEFAULT_PILOT_STATUS_BASE_URL),
            example=DEFAULT_PILOT_STATUS_BASE_URL,
        )
        public_url = get("ASKCALL_PUBLIC_URL").rstrip("/")
        if public_url:
            values.url("ASKCALL_PUBLIC_URL", public_url, example="https://askcall.example.com")
        if multi:
            _check_public_url(public_url)
        if get("ASKCALL_ENCRYPTION_KEY"):
            _check_encryption_key(get("ASKCALL_ENCRYPTION_KEY"))
        metrics_token = get("ASKCALL_METRICS_TOKEN")
        if metrics_token and (
            len(metrics_token) < 16 or not metrics_token.isascii() or not metrics_token.isprintable()
        ):
            raise ConfigError(
                "ASKCALL_METRICS_TOKEN must be at least 16 printable ASCII characters (or unset), "
                "e.g. ASKCALL_METRICS_TOKEN=$(openssl rand -hex 24)"
            )
        database = DatabaseConfig.from_env(env)
        return cls(
            slack_bot_token=bot_token,
            slack_signing_secret=get("SLACK_SIGNING_SECRET") or None,
            pilot_status_api_key=get("PILOT_STATUS_API_KEY"),
            pilot_status_webhook_secret=get("PILOT_STATUS_WEBHOOK_SECRET") or None,
            slack_api_url=slack_api_url if slack_api_url.endswith("/") else slack_api_url + "/",
            pilot_status_base_url=pilot_status_base_url.rstrip("/"),
            db_path=database.sqlite_path or get("ASKCALL_DB_PATH", DEFAULT_DB_PATH),
            database_url=database.dsn,
            db_pool_size=database.pool_size,
            default_region=region,
            language=language,
            host=values.host("HOST", get("HOST"), default="0.0.0.0"),
            port=port,
            log_level=values.log_level("ASKCALL_LOG_LEVEL", get("ASKCALL_LOG_LEVEL")),
            insecure_dev=insecure,
            retention_days=values.whole_number(
                "ASKCALL_RETENTION_DAYS", get("ASKCALL_RETENTION_DAYS"), low=0, high=36500, default=180, unit="days"
            ),
            public_url=public_url or None,
            extra_numbers=extra_numbers,
            allowed_channels=values.slack_ids("ASKCALL_ALLOWED_CHANNELS", get("ASKCALL_ALLOWED_CHANNELS"), "channel"),
            allowed_users=values.slack_ids("ASKCALL_ALLOWED_USERS", get("ASKCALL_ALLOWED_USERS"), "user"),
            allowed_usergroups=values.slack_ids(
                "ASKCALL_ALLOWED_USERGROUPS", get("ASKCALL_ALLOWED_USERGROUPS"), "usergroup"
            ),
            access_contact=get("ASKCALL_ACCESS_CONTACT"),
            phone_display=values.choice(
                "ASKCALL_PHONE_DISPLAY", get("ASKCALL_PHONE_DISPLAY"), ("masked", "full"), default="masked"
            ),
            log_format=values.choice("ASKCALL_LOG_FORMAT", get("ASKCALL_LOG_FORMAT"), ("text", "json"), default="text"),
            slack_app_token=app_token or None,
            lease_seconds=values.seconds(
                "ASKCALL_LEASE_SECONDS", get("ASKCALL_LEASE_SECONDS"), low=1, high=600, default=30
            ),
            shutdown_grace=values.seconds(
                "ASKCALL_SHUTDOWN_GRACE", get("ASKCALL_SHUTDOWN_GRACE"), low=1, high=600, default=20
            ),
            max_requests_per_rep_per_hour=values.whole_number(
                "ASKCALL_MAX_REQUESTS_PER_REP_PER_HOUR",
                get("ASKCALL_MAX_REQUESTS_PER_REP_PER_HOUR"),
                low=0,
                high=100_000,
                default=30,
                unit="requests an hour (0: no limit)",
            ),
            metrics_token=metrics_token or None,
            metrics_port=metrics_port,
            pilot_status_max_in_flight=values.whole_number(
                "ASKCALL_PILOT_STATUS_MAX_IN_FLIGHT",
                get("ASKCALL_PILOT_STATUS_MAX_IN_FLIGHT"),
                low=1,
                high=10_000,
                default=DEFAULT_PILOT_STATUS_MAX_IN_FLIGHT,
                unit="requests in flight",
            ),
            calls_sweep_seconds=values.seconds(
                "ASKCALL_CALLS_SWEEP_SECONDS", get("ASKCALL_CALLS_SWEEP_SECONDS"), low=1, high=600, default=15
            ),
            retention_interval_seconds=values.seconds(
                "ASKCALL_RETENTION_INTERVAL_SECONDS",
                get("ASKCALL_RETENTION_INTERVAL_SECONDS"),
                low=1,
                high=7 * 86400,
                default=3600,
            ),
            slack_client_id=get("SLACK_CLIENT_ID") or None,
            slack_client_secret=get("SLACK_CLIENT_SECRET") or None,
            encryption_key=get("ASKCALL_ENCRYPTION_KEY") or None,
            slack_authorize_url=values.url(
                "SLACK_AUTHORIZE_URL",
                get("SLACK_AUTHORIZE_URL", DEFAULT_SLACK_AUTHORIZE_URL),
                example=DEFAULT_SLACK_AUTHORIZE_URL,
            ),
            uninstall_grace_days=values.whole_number(
                "ASKCALL_UNINSTALL_GRACE_DAYS",
                get("ASKCALL_UNINSTALL_GRACE_DAYS"),
                low=0,
                high=3650,
                default=30,
                unit="days",
            ),
            privacy_policy_url=_optional_url(
                "ASKCALL_PRIVACY_POLICY_URL", get("ASKCALL_PRIVACY_POLICY_URL"), "https://example.com/privacy"
            ),
            support_url=_optional_url("ASKCALL_SUPPORT_URL", get("ASKCALL_SUPPORT_URL"), "https://example.com/support"),
            unknown_variables=tuple(unknown_variables(env, _named_by_numbers(extra_numbers))),
        )


def _named_by_numbers(numbers: tuple[WhatsAppNumber, ...]) -> frozenset[str]:
    return frozenset().union(*(number.variables for number in numbers))


def _multi_workspace(get: Callable[[str], str]) -> bool:
    """Whether the environment asks for multi-workspace mode: both OAuth credentials, and no bot token."""
    client_id, client_secret = get("SLACK_CLIENT_ID"), get("SLACK_CLIENT_SECRET")
    if bool(client_id) != bool(client_secret):
        given, other = ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET")[:: 1 if client_id else -1]
        raise ConfigError(f"{given} is set but {other} is not: multi-workspace mode needs both (or neither)")
    if client_id and get("SLACK_BOT_TOKEN"):
        raise ConfigError(
            "SLACK_BOT_TOKEN and SLACK_CLIENT_ID/SLACK_CLIENT_SECRET are both set: that is ambiguous. Set the bot "
            "token for one workspace, or the client id and secret for installs through Add to Slack, not both"
        )
    if client_id and get("SLACK_APP_TOKEN"):
        raise ConfigError("SLACK_APP_TOKEN (Socket Mode) and multi-workspace mode don't mix: installs come over HTTP")
    return bool(client_id)


def _check_public_url(public_url: str) -> None:
    """The public URL is where Slack redirects installs to: https, or http on loopback (tests)."""
    parts = urlsplit(public_url)
    if parts.scheme != "https" and parts.hostname not in LOOPBACK_HOSTS:
        raise values.refused(
            "ASKCALL_PUBLIC_URL",
            public_url,
            "must be https in multi-workspace mode (Slack redirects installs there)",
            "https://askcall.example.com",
        )


def _check_encryption_key(keys: str) -> None:
    try:
        Secrets(keys)
    except BadEncryptionKey as error:
        raise ConfigError(
            f"ASKCALL_ENCRYPTION_KEY: {error}, e.g. ASKCALL_ENCRYPTION_KEY=<the output of askcall workspaces new-key>"
        ) from error


def _optional_url(name: str, text: str, example: str) -> str | None:
    return values.url(name, text, example=example) if text else None


def numbers_from_config(env: Mapping[str, str], *, need_secrets: bool = True) -> tuple[WhatsAppNumber, ...]:
    """The numbers ASKCALL_CONFIG declares, with their keys; `need_secrets=False` when only the keys matter
    (registering a webhook comes before its signing secret exists)."""
    insecure = not need_secrets or values.boolean("ASKCALL_INSECURE_DEV", env.get("ASKCALL_INSECURE_DEV") or "")
    return _numbers_from_file((env.get("ASKCALL_CONFIG") or "").strip(), env, insecure)


def _numbers_from_file(path: str, env: Mapping[str, str], insecure: bool) -> tuple[WhatsAppNumber, ...]:
    """Numbers declared in the ASKCALL_CONFIG TOML file. Keys and secrets stay in the environment:
    the file names the variables that hold them."""
    if not path:
        return ()
    try:
        with open(path, "rb") as file:
            data = tomllib.load(file)
    except OSError as error:
        raise ConfigError(f"ASKCALL_CONFIG={path!r} cannot be read: {error.strerror}") from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"ASKCALL_CONFIG={path!r} is not valid TOML: {error}") from error
    numbers: list[WhatsAppNumber] = []
    for index, entry in enumerate(data.get("numbers") or [], start=1):
        where = f"{path}: numbers #{index}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} must be a table ([[numbers]])")
        if {"api_key", "webhook_secret", "key", "secret"} & entry.keys():
            raise ConfigError(f"{where}: keys and secrets never go in the file; name their variables instead")
        name = str(entry.get("name", ""))
        if not NUMBER_NAME.match(name) or name == DEFAULT_NUMBER or name in {n.name for n in numbers}:
            raise ConfigError(f"{where}: name {name!r} must be unique, lowercase letters, digits, - or _")
        key_var = str(entry.get("api_key_env", ""))
        secret_var = str(entry.get("webhook_secret_env", ""))
        api_key = (env.get(key_var) or "").strip() if key_var else ""
        secret = (env.get(secret_var) or "").strip() if secret_var else ""
        if not api_key:
            if key_var:
                raise ConfigError(f"{where} ({name}): the variable named by api_key_env ({key_var}) is empty or unset")
            raise ConfigError(f"{where} ({name}): set api_key_env to a variable holding its key, and set that variable")
        if not secret and not insecure:
            raise ConfigError(
                f"{where} ({name}): the variable named by webhook_secret_env ({secret_var or '?'}) is empty"
            )
        channels = entry.get("channels") or []
        if not isinstance(channels, list) or not channels or not all(isinstance(c, str) for c in channels):
            raise ConfigError(f"{where} ({name}): channels must list the Slack channel ids this number serves")
        ids = values.slack_ids(f"{where} ({name}): channels", ",".join(channels), "channel")
        numbers.append(WhatsAppNumber(name, api_key, secret or None, ids, frozenset({key_var, secret_var} - {""})))
    return tuple(numbers)
