"""Settings from the environment (bot/config.py)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bot.config import ConfigError, DatabaseConfig, RetryPolicy, Settings

REQUIRED = {
    "SLACK_BOT_TOKEN": "xoxb-1",
    "SLACK_SIGNING_SECRET": "signing",
    "PILOT_STATUS_API_KEY": "ps_key",
    "PILOT_STATUS_WEBHOOK_SECRET": "whsec",
}
ALL_FOUR = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "PILOT_STATUS_API_KEY", "PILOT_STATUS_WEBHOOK_SECRET")


def env(**overrides: str) -> dict[str, str]:
    return {**REQUIRED, **overrides}


def test_missing_everything_names_all_four_variables() -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({})

    for name in ALL_FOUR:
        assert name in str(info.value)


@pytest.mark.parametrize("missing", ALL_FOUR)
def test_each_missing_variable_is_named(missing: str) -> None:
    values = dict(REQUIRED)
    del values[missing]

    with pytest.raises(ConfigError) as info:
        Settings.from_env(values)

    message = str(info.value)
    assert missing in message
    for present in set(ALL_FOUR) - {missing}:
        assert present not in message.split(":", 1)[1].split("(")[0]


def test_blank_value_counts_as_missing() -> None:
    with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN"):
        Settings.from_env(env(SLACK_BOT_TOKEN="   "))


@pytest.mark.parametrize("flag", ["1", "true", "yes", "on", "TRUE"])
def test_insecure_dev_allows_missing_signing_secrets(flag: str) -> None:
    settings = Settings.from_env(
        {"SLACK_BOT_TOKEN": "xoxb-1", "PILOT_STATUS_API_KEY": "ps_key", "ASKCALL_INSECURE_DEV": flag}
    )

    assert settings.insecure_dev is True
    assert settings.slack_signing_secret is None
    assert settings.pilot_status_webhook_secret is None


def test_insecure_dev_still_requires_token_and_key() -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"ASKCALL_INSECURE_DEV": "1"})

    message = str(info.value)
    assert "SLACK_BOT_TOKEN" in message
    assert "PILOT_STATUS_API_KEY" in message
    listed = message.split(":", 1)[1].split("(")[0]
    assert "SLACK_SIGNING_SECRET" not in listed
    assert "PILOT_STATUS_WEBHOOK_SECRET" not in listed


@pytest.mark.parametrize("flag", ["0", "false", "no", ""])
def test_insecure_dev_off_requires_secrets(flag: str) -> None:
    with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET"):
        Settings.from_env({"SLACK_BOT_TOKEN": "xoxb-x", "PILOT_STATUS_API_KEY": "y", "ASKCALL_INSECURE_DEV": flag})


@pytest.mark.parametrize("port", ["abc", "70000", "65536", "-1", "3000.5", "80 80"])
def test_bad_port_is_rejected(port: str) -> None:
    with pytest.raises(ConfigError, match="PORT"):
        Settings.from_env(env(PORT=port))


@pytest.mark.parametrize("region", ["XX", "BRA", "12", "ZZ"])
def test_bad_region_is_rejected(region: str) -> None:
    with pytest.raises(ConfigError, match="ASKCALL_DEFAULT_REGION"):
        Settings.from_env(env(ASKCALL_DEFAULT_REGION=region))


@pytest.mark.parametrize("language", ["fr", "es-ES", "klingon"])
def test_bad_language_is_rejected(language: str) -> None:
    with pytest.raises(ConfigError, match="ASKCALL_LANGUAGE"):
        Settings.from_env(env(ASKCALL_LANGUAGE=language))


def test_defaults() -> None:
    settings = Settings.from_env(REQUIRED)

    assert settings.port == 3000
    assert settings.host == "0.0.0.0"
    assert settings.pilot_status_base_url == "https://pilotstatus.com.br"
    assert settings.default_region == "BR"
    assert settings.language == "pt-BR"
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.slack_api_url.endswith("/")
    assert settings.insecure_dev is False
    assert settings.db_path == "./askcall.db"
    assert settings.log_level == "INFO"
    assert settings.slack_bot_token == "xoxb-1"
    assert settings.slack_signing_secret == "signing"
    assert settings.pilot_status_api_key == "ps_key"
    assert settings.pilot_status_webhook_secret == "whsec"


def test_overrides_are_read_and_normalised() -> None:
    settings = Settings.from_env(
        env(
            PORT=" 8080 ",
            HOST="127.0.0.1",
            PILOT_STATUS_BASE_URL="http://127.0.0.1:9000/",
            SLACK_API_URL="http://127.0.0.1:9001/api",
            ASKCALL_DEFAULT_REGION="pt",
            ASKCALL_LANGUAGE="en_US",
            ASKCALL_DB_PATH="/data/askcall.db",
            ASKCALL_LOG_LEVEL="debug",
        )
    )

    assert settings.port == 8080
    assert settings.host == "127.0.0.1"
    assert settings.pilot_status_base_url == "http://127.0.0.1:9000"
    assert settings.slack_api_url == "http://127.0.0.1:9001/api/"
    assert settings.default_region == "PT"
    assert settings.language == "en"
    assert settings.db_path == "/data/askcall.db"
    assert settings.log_level == "DEBUG"


@pytest.mark.parametrize("language", ["pt_BR", "pt", "PT-br"])
def test_portuguese_spellings_are_accepted(language: str) -> None:
    assert Settings.from_env(env(ASKCALL_LANGUAGE=language)).language == "pt-BR"


def test_slack_api_url_already_ending_with_slash_is_kept() -> None:
    assert Settings.from_env(env(SLACK_API_URL="http://x/api/")).slack_api_url == "http://x/api/"


def test_retry_policy_backoff_is_exponential_and_capped() -> None:
    policy = RetryPolicy(attempts=5, base_delay=1.0, max_delay=5.0)

    assert [policy.delay(n) for n in range(1, 6)] == [1.0, 2.0, 4.0, 5.0, 5.0]


# --- the database: ASKCALL_DATABASE_URL, ASKCALL_DB_PATH, ASKCALL_DB_POOL_SIZE ----------------------------------
def test_database_defaults_to_sqlite_at_the_db_path() -> None:
    settings = Settings.from_env(REQUIRED)

    assert settings.database == DatabaseConfig("sqlite", sqlite_path="./askcall.db", pool_size=10)
    assert settings.database_url is None


def test_db_path_stays_the_sqlite_shortcut() -> None:
    settings = Settings.from_env(env(ASKCALL_DB_PATH="data/askcall.db"))

    assert settings.database.scheme == "sqlite"
    assert settings.database.sqlite_path == settings.db_path == "data/askcall.db"


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///var/lib/askcall/askcall.db", "/var/lib/askcall/askcall.db"),
        ("  SQLITE:///data/askcall.db  ", "/data/askcall.db"),
        ("sqlite:////data/askcall.db", "/data/askcall.db"),
        ("sqlite:///data/my%20files/askcall.db", "/data/my files/askcall.db"),
    ],
)
def test_sqlite_url_wins_over_db_path(url: str, path: str) -> None:
    settings = Settings.from_env(env(ASKCALL_DATABASE_URL=url, ASKCALL_DB_PATH="/elsewhere/other.db"))

    assert settings.database.scheme == "sqlite"
    assert settings.database.sqlite_path == path
    # Callers that still read db_path open the same file.
    assert settings.db_path == path
    assert settings.database.url == "sqlite://" + path


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://askcall:s3cret@db.internal:5432/askcall?sslmode=require",
        "postgres://askcall@db.internal/askcall",
        "postgresql://askcall@[::1]:5433/askcall",
        "postgresql://askcall@db1:5432,db2:5432/askcall?target_session_attrs=read-write",
        "postgresql:///askcall?host=/run/postgresql",
    ],
)
def test_postgresql_url_wins_and_reaches_asyncpg_unchanged(url: str) -> None:
    settings = Settings.from_env(env(ASKCALL_DATABASE_URL=url, ASKCALL_DB_PATH="/data/askcall.db"))

    assert settings.database.scheme == "postgresql"
    assert settings.database.dsn == url
    assert settings.database.sqlite_path is None
    assert settings.database.pool_size == 10


def test_pool_size_is_read() -> None:
    settings = Settings.from_env(env(ASKCALL_DATABASE_URL="postgresql://u@h/db", ASKCALL_DB_POOL_SIZE=" 25 "))

    assert settings.database.pool_size == settings.db_pool_size == 25


@pytest.mark.parametrize("size", ["0", "-1", "ten", "2.5"])
def test_bad_pool_size_is_rejected(size: str) -> None:
    with pytest.raises(ConfigError, match=r"ASKCALL_DB_POOL_SIZE=.*at least 1"):
        Settings.from_env(env(ASKCALL_DB_POOL_SIZE=size))


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://u:p@h/db", "unknown scheme 'mysql'"),
        ("postgresql+asyncpg://u@h/db", "drop the driver suffix"),
        ("/data/askcall.db", "is not a URL.*ASKCALL_DB_PATH"),
        ("sqlite://askcall.db", "needs an absolute path after sqlite:/// \\(three slashes\\)"),
        ("sqlite:askcall.db", "needs an absolute path"),
        ("sqlite://./data/askcall.db", "needs an absolute path"),
        ("sqlite:///", "names a folder"),
        ("sqlite:///data/", "names a folder"),
        ("sqlite:///:memory:", "in-memory"),
        ("sqlite:///data/askcall.db?mode=ro", "takes no options"),
        ("postgresql:///askcall", "names no host"),
        ("postgresql://u:p@/askcall", "names no host"),
        ("postgresql://u:p@db.internal", "names no database"),
        ("postgresql://u:p@db.internal:5432/", "names no database"),
        ("postgresql://u:p@db.internal:99999/db", "port from 1 to 65535"),
        ("postgresql://u:p@db.internal:54x2/db", "port from 1 to 65535"),
        ("postgresql://u:p@db.internal/db?sslmode=requre", "sslmode='requre' is not one of"),
        ("postgresql://u:p@[::1/db", "not a valid URL"),
    ],
)
def test_bad_database_url_gets_a_clear_error(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match="ASKCALL_DATABASE_URL") as info:
        Settings.from_env(env(ASKCALL_DATABASE_URL=url))

    assert info.match(message)


@pytest.mark.parametrize(
    "url",
    ["postgresql://askcall:hunter2@db.internal/db?sslmode=requre", "postgresql://askcall:hunter2@db.internal:0/db"],
)
def test_errors_never_show_the_password(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env(ASKCALL_DATABASE_URL=url))

    assert "hunter2" not in str(info.value)
    assert "askcall:***@db.internal" in str(info.value)


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        (
            "postgresql://askcall:hunter2@db.internal:5432/askcall?sslmode=require",
            "postgresql://askcall:***@db.internal:5432/askcall?sslmode=require",
        ),
        ("postgresql://askcall:p%40ss@word@db.internal/askcall", "postgresql://askcall:***@db.internal/askcall"),
        (
            "postgresql://askcall@db.internal/askcall?password=hunter2&sslmode=disable",
            "postgresql://askcall@db.internal/askcall?password=***&sslmode=disable",
        ),
        ("postgres://db.internal/askcall", "postgres://db.internal/askcall"),
    ],
)
def test_redacted_hides_the_password(url: str, redacted: str) -> None:
    database = Settings.from_env(env(ASKCALL_DATABASE_URL=url)).database

    assert database.redacted() == redacted
    assert "hunter2" not in repr(database)
    assert database.dsn == url  # asyncpg still gets the real password


def test_settings_repr_never_shows_the_database_password() -> None:
    settings = Settings.from_env(env(ASKCALL_DATABASE_URL="postgresql://askcall:hunter2@db.internal/askcall"))

    assert "hunter2" not in repr(settings)


def test_sqlite_redacted_form_is_its_absolute_url() -> None:
    database = DatabaseConfig.sqlite("/data/askcall.db")

    assert database.redacted() == database.url == "sqlite:///data/askcall.db"


def test_replacing_db_path_moves_the_sqlite_database() -> None:
    """Tests build settings with dataclasses.replace: db_path and database must move together."""
    settings = Settings.from_env(env(ASKCALL_DATABASE_URL="sqlite:///data/askcall.db"))

    moved = replace(settings, db_path="/tmp/other.db")

    assert moved.database.sqlite_path == moved.db_path == "/tmp/other.db"


def test_settings_built_directly_check_their_database_url() -> None:
    with pytest.raises(ConfigError, match="names no database"):
        Settings("xoxb-1", None, "ps_key", None, database_url="postgresql://u@db.internal")
    settings = Settings("xoxb-1", None, "ps_key", None, database_url="sqlite:///data/a.db", db_path="/data/b.db")
    assert settings.db_path == "/data/a.db"  # the URL wins, as in the environment


def test_redacted_keeps_a_socket_url_readable() -> None:
    url = "postgresql://askcall:hunter2@/askcall?host=/run/postgresql"

    assert DatabaseConfig.from_url(url).redacted() == "postgresql://askcall:***@/askcall?host=/run/postgresql"


# --- metrics token, start-up warnings (issue 10) ------------------------------------------------------


def test_metrics_token_is_read() -> None:
    token = "0123456789abcdef-token"
    assert Settings.from_env(env(ASKCALL_METRICS_TOKEN=token)).metrics_token == token
    assert Settings.from_env(env()).metrics_token is None


@pytest.mark.parametrize("token", ["short", "x" * 15, "tokén-with-accents-1234", "tab\tin-the-middle-123"])
def test_a_weak_or_unprintable_metrics_token_is_refused(token: str) -> None:
    with pytest.raises(ConfigError, match="ASKCALL_METRICS_TOKEN"):
        Settings.from_env(env(ASKCALL_METRICS_TOKEN=token))


def test_insecure_dev_with_both_secrets_says_everything_is_still_verified() -> None:
    (warning,) = Settings.from_env(env(ASKCALL_INSECURE_DEV="1")).startup_warnings()
    assert "every request is still verified" in warning
    assert "NOT checked" not in warning


def test_insecure_dev_names_exactly_the_checks_it_skips() -> None:
    no_slack = env(ASKCALL_INSECURE_DEV="1", SLACK_SIGNING_SECRET="")
    (warning,) = Settings.from_env(no_slack).startup_warnings()
    assert "NOT checked for Slack requests" in warning and "Pilot Status" not in warning

    no_webhook = env(ASKCALL_INSECURE_DEV="1", PILOT_STATUS_WEBHOOK_SECRET="")
    (warning,) = Settings.from_env(no_webhook).startup_warnings()
    assert "Pilot Status webhooks to /webhooks/pilot-status" in warning and "Slack requests" not in warning

    neither = env(ASKCALL_INSECURE_DEV="1", SLACK_SIGNING_SECRET="", PILOT_STATUS_WEBHOOK_SECRET="")
    (warning,) = Settings.from_env(neither).startup_warnings()
    assert "Slack requests" in warning and "Pilot Status webhooks" in warning


def test_socket_mode_without_signing_secret_is_not_called_unverified() -> None:
    settings = Settings.from_env(env(ASKCALL_INSECURE_DEV="1", SLACK_SIGNING_SECRET="", SLACK_APP_TOKEN="xapp-1"))
    (warning,) = settings.startup_warnings()
    assert "Slack requests" not in warning  # Socket Mode traffic is authenticated by the app token


def test_no_warnings_for_a_normal_configuration() -> None:
    assert Settings.from_env(env()).startup_warnings() == []


@pytest.mark.parametrize("contact", ["#sales-ops", "@maria", "#vendas.sp"])
def test_a_bare_channel_or_mention_as_access_contact_is_warned_about(contact: str) -> None:
    (warning,) = Settings.from_env(env(ASKCALL_ACCESS_CONTACT=contact)).startup_warnings()
    assert contact in warning and "<#C0123456789>" in warning


@pytest.mark.parametrize("contact", ["<#C0123456789>", "<@U0123456789>", "<!subteam^S0123>", "Maria in sales ops"])
def test_a_linked_or_plain_access_contact_is_fine(contact: str) -> None:
    assert Settings.from_env(env(ASKCALL_ACCESS_CONTACT=contact)).startup_warnings() == []


def test_metrics_port_is_read_and_checked() -> None:
    assert Settings.from_env(env(ASKCALL_METRICS_PORT="9100")).metrics_port == 9100
    assert Settings.from_env(env()).metrics_port is None
    for bad in ("metrics", "0", "70000", "3000"):  # 3000 is PORT's default
        with pytest.raises(ConfigError, match="ASKCALL_METRICS_PORT"):
            Settings.from_env(env(ASKCALL_METRICS_PORT=bad))


# --- every variable: a bad value is refused with its name and an example (issue 18) ---------------------------
# (variable, a value a person might well write, what the message must say besides the name and an example)
BAD_VALUES = [
    ("ASKCALL_UNINSTALL_GRACE_DAYS", "forever", "whole number of days"),
    ("SLACK_AUTHORIZE_URL", "slack.com/oauth/v2/authorize", "must start with"),
    ("ASKCALL_ENCRYPTION_KEY", "not-a-fernet-key", "is not a Fernet key"),
    ("ASKCALL_PRIVACY_POLICY_URL", "example.com/privacy", "must start with"),
    ("ASKCALL_SUPPORT_URL", "example.com/support", "must start with"),
    ("ASKCALL_LOG_LEVEL", "verbose", "DEBUG, INFO, WARNING, ERROR"),
    ("ASKCALL_LOG_FORMAT", "xml", "text, json"),
    ("ASKCALL_ALLOWED_CHANNELS", "#sales", "channel name, not its id"),
    ("ASKCALL_ALLOWED_CHANNELS", "C0123456789,vendas", "channel name, not its id"),
    ("ASKCALL_ALLOWED_USERS", "@maria", "user name, not its id"),
    ("ASKCALL_ALLOWED_USERS", "C0123456789", "not a Slack user id"),
    ("ASKCALL_ALLOWED_USERGROUPS", "sales-team", "usergroup name, not its id"),
    ("ASKCALL_INSECURE_DEV", "maybe", "neither on"),
    ("HOST", "not a host!", "IP address or host name"),
    ("PORT", "3000/tcp", "port number"),
    ("ASKCALL_METRICS_PORT", "9100x", "port number"),
    ("SLACK_API_URL", "slack.com/api", "https://"),
    ("PILOT_STATUS_BASE_URL", "ftp://pilotstatus.com.br", "https://"),
    ("ASKCALL_PUBLIC_URL", "askcall.example.com", "https://"),
    ("ASKCALL_PUBLIC_URL", "https://askcall.example.com/?x=1", "query"),
    ("ASKCALL_RETENTION_DAYS", "six months", "whole number of days"),
    ("ASKCALL_SHUTDOWN_GRACE", "20s", "seconds from 1 to 600"),
    ("ASKCALL_LEASE_SECONDS", "0", "seconds from 1 to 600"),
    ("ASKCALL_CALLS_SWEEP_SECONDS", "soon", "seconds from 1 to 600"),
    ("ASKCALL_PILOT_STATUS_MAX_IN_FLIGHT", "0", "whole number of requests in flight from 1 to 10000"),
    ("ASKCALL_RETENTION_INTERVAL_SECONDS", "0.5", "seconds from 1 to 604800"),
    ("ASKCALL_MAX_REQUESTS_PER_REP_PER_HOUR", "-1", "whole number"),
    ("ASKCALL_PHONE_DISPLAY", "partial", "masked, full"),
    ("ASKCALL_DEFAULT_REGION", "Brazil", "region code"),
    ("ASKCALL_LANGUAGE", "fr", "pt-BR, en"),
    ("ASKCALL_DB_POOL_SIZE", "zero", "at least 1"),
    ("ASKCALL_DATABASE_URL", "mysql://db/askcall", "unknown scheme"),
    ("ASKCALL_METRICS_TOKEN", "short", "16 printable ASCII characters"),
    ("SLACK_BOT_TOKEN", "xoxp-1-user-token", "Bot User OAuth Token"),
    ("SLACK_APP_TOKEN", "xoxb-1-bot-token", "App-Level Token"),
]
# Free text, paths and secrets Slack or Pilot Status check, which AskCall can't judge by their look.
FREE_FORM = {
    "SLACK_SIGNING_SECRET",
    "PILOT_STATUS_API_KEY",
    "PILOT_STATUS_WEBHOOK_SECRET",
    "ASKCALL_DB_PATH",
    "ASKCALL_CONFIG",  # a file that can't be read, or a bad entry in it, is refused (tests/e2e/test_operations.py)
    "ASKCALL_ACCESS_CONTACT",  # any text; a bare #channel is warned about at start-up
    # Any text; half the pair, or the pair with SLACK_BOT_TOKEN, is refused (tests/oauth/test_settings_and_secrets.py)
    "SLACK_CLIENT_ID",
    "SLACK_CLIENT_SECRET",
}
SECRET_VALUES = {"SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "ASKCALL_METRICS_TOKEN", "ASKCALL_ENCRYPTION_KEY"}


@pytest.mark.parametrize(("name", "value", "says"), BAD_VALUES, ids=[f"{n}={v}" for n, v, _ in BAD_VALUES])
def test_a_bad_value_is_refused_with_the_variable_and_an_example(name: str, value: str, says: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env(**{name: value}))

    message = str(info.value)
    assert message.startswith(name), message
    assert says in message
    assert "e.g." in message and f"{name}=" in message.split("e.g.", 1)[1], message
    if name in SECRET_VALUES:
        assert value not in message  # a secret is never quoted back


def test_every_variable_settings_read_is_checked_or_free_form() -> None:
    """A new variable must come with a bad value above (or be free-form): nothing is accepted unchecked."""
    import re
    from pathlib import Path

    import bot.config

    source = Path(bot.config.__file__).read_text(encoding="utf-8")
    read = set(re.findall(r'get\("([A-Z][A-Z_]+)"', source)) | set(re.findall(r'env\.get\("([A-Z][A-Z_]+)"', source))
    assert len(read) >= 30, sorted(read)  # the pattern still finds them
    checked = {name for name, _, _ in BAD_VALUES}
    assert read - checked - FREE_FORM == set()


@pytest.mark.parametrize("channel", ["#rio", "rio"])
def test_a_channel_name_in_the_numbers_file_is_refused(channel: str, tmp_path) -> None:
    config = tmp_path / "numbers.toml"
    config.write_text(
        f'[[numbers]]\nname = "rio"\napi_key_env = "RIO_KEY"\nwebhook_secret_env = "RIO_SECRET"\n'
        f'channels = ["C0RIO", "{channel}"]\n'
    )
    values = env(ASKCALL_CONFIG=str(config), RIO_KEY="ps_rio", RIO_SECRET="whsec_rio")

    with pytest.raises(ConfigError, match=r"numbers #1 \(rio\): channels: .* is a channel name, not its id"):
        Settings.from_env(values)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("ASKCALL_LOG_LEVEL", "debug", "DEBUG"),
        ("ASKCALL_LOG_LEVEL", "warn", "WARNING"),
        ("ASKCALL_ALLOWED_CHANNELS", " C0123456789 , G0123456789 ", frozenset({"C0123456789", "G0123456789"})),
        ("ASKCALL_ALLOWED_USERS", "U0123456789,W0123456789", frozenset({"U0123456789", "W0123456789"})),
        ("HOST", "::", "::"),
        ("HOST", "askcall.internal", "askcall.internal"),
        ("ASKCALL_INSECURE_DEV", "off", False),
    ],
)
def test_right_values_are_read(name: str, value: str, expected: object) -> None:
    field = {
        "ASKCALL_LOG_LEVEL": "log_level",
        "ASKCALL_ALLOWED_CHANNELS": "allowed_channels",
        "ASKCALL_ALLOWED_USERS": "allowed_users",
        "HOST": "host",
        "ASKCALL_INSECURE_DEV": "insecure_dev",
    }[name]
    assert getattr(Settings.from_env(env(**{name: value})), field) == expected


def test_loop_intervals_are_read() -> None:
    settings = Settings.from_env(env(ASKCALL_CALLS_SWEEP_SECONDS="30", ASKCALL_RETENTION_INTERVAL_SECONDS="600"))
    assert (settings.calls_sweep_seconds, settings.retention_interval_seconds) == (30.0, 600.0)
    defaults = Settings.from_env(env())
    assert (defaults.calls_sweep_seconds, defaults.retention_interval_seconds) == (15.0, 3600.0)


def test_the_pilot_status_cap_is_read() -> None:
    assert Settings.from_env(env(ASKCALL_PILOT_STATUS_MAX_IN_FLIGHT="128")).pilot_status_max_in_flight == 128
    assert Settings.from_env(env()).pilot_status_max_in_flight == 64


@pytest.mark.parametrize(
    ("name", "said"),
    [
        (
            "ASKCALL_LANGAUGE",
            "ASKCALL_LANGAUGE is set but is not a setting AskCall reads (did you mean ASKCALL_LANGUAGE?)",
        ),
        ("ASKCALL_RETENTION", "ASKCALL_RETENTION is set but is not a setting AskCall reads (did you mean"),
        ("ASKCALL_COLOUR", "ASKCALL_COLOUR is set but is not a setting AskCall reads (docs/configuration.md lists"),
        (
            "SLACK_SIGNNG_SECRET",
            "SLACK_SIGNNG_SECRET is set but is not a setting AskCall reads (did you mean SLACK_SIGNING_SECRET?)",
        ),
        ("PILOT_STATUS_APIKEY", "(did you mean PILOT_STATUS_API_KEY?)"),
    ],
)
def test_a_mistyped_setting_is_warned_about_with_the_name_it_probably_means(name: str, said: str) -> None:
    (warning,) = Settings.from_env({**env(), name: "x"}).startup_warnings()
    assert said in warning and warning.endswith("it has no effect")
    assert "'x'" not in warning  # the value may be a secret: never repeated


def test_other_tools_variables_and_askcall_s_own_tooling_are_not_warned_about() -> None:
    others = {"SLACK_WEBHOOK_URL": "https://hooks.slack.com/x", "PILOT_STATUS_REGION": "br"}
    tooling = {"ASKCALL_TEST_DATABASE_URL": "x", "ASKCALL_REQUIRE_POSTGRES": "1", "ASKCALL_BENCH_POSTGRES_URL": "x"}
    assert Settings.from_env({**env(), **others, **tooling}).startup_warnings() == []


def test_the_variables_a_numbers_file_names_are_settings_not_typos(tmp_path: Path) -> None:
    config = tmp_path / "numbers.toml"
    config.write_text(
        '[[numbers]]\nname = "sp"\napi_key_env = "ASKCALL_SP_KEY"\nwebhook_secret_env = "ASKCALL_SP_SECRET"\n'
        'channels = ["C0123456789"]\n'
    )
    settings = Settings.from_env(
        {**env(), "ASKCALL_CONFIG": str(config), "ASKCALL_SP_KEY": "ps_sp", "ASKCALL_SP_SECRET": "whsec_sp"}
    )
    assert settings.startup_warnings() == []
