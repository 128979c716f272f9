"""Settings from the environment (bot/config.py)."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, RetryPolicy, Settings

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
        Settings.from_env({"SLACK_BOT_TOKEN": "x", "PILOT_STATUS_API_KEY": "y", "ASKCALL_INSECURE_DEV": flag})


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
