"""The settings the admin commands add: ASKCALL_RETENTION_DAYS and ASKCALL_PUBLIC_URL."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, Settings

REQUIRED = {
    "SLACK_BOT_TOKEN": "xoxb-1",
    "SLACK_SIGNING_SECRET": "signing",
    "PILOT_STATUS_API_KEY": "ps_key",
    "PILOT_STATUS_WEBHOOK_SECRET": "whsec",
}


def test_defaults() -> None:
    settings = Settings.from_env(REQUIRED)

    assert settings.retention_days == 180
    assert settings.public_url is None


def test_values() -> None:
    settings = Settings.from_env(
        {**REQUIRED, "ASKCALL_RETENTION_DAYS": "0", "ASKCALL_PUBLIC_URL": "https://askcall.example.com/"}
    )

    assert settings.retention_days == 0
    assert settings.public_url == "https://askcall.example.com"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ASKCALL_RETENTION_DAYS", "six months"),
        ("ASKCALL_RETENTION_DAYS", "-1"),
        ("ASKCALL_PUBLIC_URL", "askcall.example.com"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({**REQUIRED, name: value})

    assert name in str(info.value)
