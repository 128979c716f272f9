"""Multi-workspace settings (bot/config.py) and secrets at rest (bot/secrets.py)."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, Settings
from bot.secrets import BadEncryptionKey, Secrets, Undecryptable, new_key

KEY = new_key()
MULTI = {
    "SLACK_CLIENT_ID": "1.2",
    "SLACK_CLIENT_SECRET": "client-secret",
    "SLACK_SIGNING_SECRET": "signing",
    "ASKCALL_PUBLIC_URL": "https://askcall.example.com",
    "ASKCALL_ENCRYPTION_KEY": KEY,
    "PILOT_STATUS_API_KEY": "ps_key",
    "PILOT_STATUS_WEBHOOK_SECRET": "whsec",
}


def test_client_id_and_secret_turn_on_multi_workspace_mode_without_a_bot_token() -> None:
    settings = Settings.from_env(MULTI)

    assert settings.multi_workspace
    assert settings.slack_bot_token == ""
    assert settings.uninstall_grace_days == 30
    assert "client-secret" not in repr(settings) and KEY not in repr(settings)


@pytest.mark.parametrize("missing", ["SLACK_SIGNING_SECRET", "ASKCALL_PUBLIC_URL", "ASKCALL_ENCRYPTION_KEY"])
def test_multi_workspace_mode_names_what_it_misses(missing: str) -> None:
    env = {k: v for k, v in MULTI.items() if k != missing}

    with pytest.raises(ConfigError, match=missing):
        Settings.from_env({**env, "ASKCALL_INSECURE_DEV": "1"} if missing == "SLACK_SIGNING_SECRET" else env)


def test_a_bot_token_with_client_credentials_is_ambiguous() -> None:
    with pytest.raises(ConfigError, match="ambiguous"):
        Settings.from_env({**MULTI, "SLACK_BOT_TOKEN": "xoxb-1"})


def test_half_the_client_credentials_is_refused() -> None:
    with pytest.raises(ConfigError, match="SLACK_CLIENT_SECRET is not"):
        Settings.from_env({k: v for k, v in MULTI.items() if k != "SLACK_CLIENT_SECRET"})


def test_the_public_url_is_https_or_loopback() -> None:
    with pytest.raises(ConfigError, match="must be https"):
        Settings.from_env({**MULTI, "ASKCALL_PUBLIC_URL": "http://askcall.example.com"})

    assert Settings.from_env({**MULTI, "ASKCALL_PUBLIC_URL": "http://127.0.0.1:3000"}).multi_workspace


def test_a_malformed_key_is_refused_without_showing_it() -> None:
    with pytest.raises(ConfigError, match="ASKCALL_ENCRYPTION_KEY: key 2 of ASKCALL_ENCRYPTION_KEY") as info:
        Settings.from_env({**MULTI, "ASKCALL_ENCRYPTION_KEY": f"{KEY},not-a-key"})

    assert KEY not in str(info.value) and "not-a-key" not in str(info.value)


def test_grace_days_and_marketplace_links_are_read() -> None:
    settings = Settings.from_env(
        {
            **MULTI,
            "ASKCALL_UNINSTALL_GRACE_DAYS": "60",
            "ASKCALL_PRIVACY_POLICY_URL": "https://askcall.example.com/privacy",
            "ASKCALL_SUPPORT_URL": "https://askcall.example.com/support",
        }
    )

    assert settings.uninstall_grace_days == 60
    assert settings.privacy_policy_url == "https://askcall.example.com/privacy"
    assert settings.support_url == "https://askcall.example.com/support"
    with pytest.raises(ConfigError, match="ASKCALL_UNINSTALL_GRACE_DAYS"):
        Settings.from_env({**MULTI, "ASKCALL_UNINSTALL_GRACE_DAYS": "-1"})


def test_the_first_key_encrypts_and_every_key_decrypts() -> None:
    old, new = new_key(), new_key()
    under_old = Secrets(old).encrypt("xoxb-secret")

    both = Secrets(f"{new},{old}")

    assert both.decrypt(under_old, what="T1") == "xoxb-secret"
    assert not both.is_current(under_old)
    rotated = both.rotate(under_old, what="T1")
    assert both.is_current(rotated)
    assert Secrets(new).decrypt(rotated, what="T1") == "xoxb-secret"
    assert "xoxb-secret" not in under_old and "xoxb-secret" not in rotated


def test_a_derived_token_is_the_same_every_time_and_only_the_first_key_makes_it() -> None:
    first, second = new_key(), new_key()
    secrets = Secrets(f"{first},{second}")
    token = secrets.derive("webhook-token", "T2", "default")

    assert token == Secrets(first).derive("webhook-token", "T2", "default")  # only the first key counts
    assert len(token) == 43 and token.replace("-", "").replace("_", "").isalnum()
    assert first not in token and "T2" not in token
    assert token != secrets.derive("webhook-token", "T3", "default")
    assert token != secrets.derive("webhook-token", "T2", "vendas")
    assert secrets.derive("webhook-token", "T2", "default") != secrets.derive("webhook-token", "T2default", "")
    assert token != Secrets(second).derive("webhook-token", "T2", "default")


def test_a_secret_no_key_decrypts_names_its_owner() -> None:
    stored = Secrets(new_key()).encrypt("xoxb-secret")

    with pytest.raises(Undecryptable, match="installation T1") as info:
        Secrets(new_key()).decrypt(stored, what="installation T1")

    assert "xoxb-secret" not in str(info.value)


def test_no_key_is_refused() -> None:
    with pytest.raises(BadEncryptionKey):
        Secrets(" , ")
    assert repr(Secrets(f"{KEY},{new_key()}")) == "Secrets(2 keys)"


def test_multi_workspace_mode_needs_no_pilot_status_key_or_webhook_secret() -> None:
    """Each workspace connects its own Pilot Status account from App Home; single-workspace mode still needs both."""
    env = {k: v for k, v in MULTI.items() if not k.startswith("PILOT_STATUS_")}

    settings = Settings.from_env(env)

    assert settings.multi_workspace and settings.pilot_status_api_key in ("", None)
    single = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "signing"}
    with pytest.raises(ConfigError, match="PILOT_STATUS_API_KEY"):
        Settings.from_env(single)
    with pytest.raises(ConfigError, match="PILOT_STATUS_WEBHOOK_SECRET"):
        Settings.from_env({**single, "PILOT_STATUS_API_KEY": "ps_key"})
