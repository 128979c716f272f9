"""Settings read from the environment, validated once at start-up."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import phonenumbers

from bot.i18n import LANGUAGES, normalize_language

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_PILOT_STATUS_BASE_URL = "https://pilotstatus.com.br"
TRUTHY = {"1", "true", "yes", "on"}


class ConfigError(Exception):
    """A setting is missing or wrong; the message names the variable and how to fix it."""


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


@dataclass(frozen=True)
class Settings:
    slack_bot_token: str
    slack_signing_secret: str | None
    pilot_status_api_key: str
    pilot_status_webhook_secret: str | None
    slack_api_url: str = DEFAULT_SLACK_API_URL
    pilot_status_base_url: str = DEFAULT_PILOT_STATUS_BASE_URL
    db_path: str = "./askcall.db"
    default_region: str = "BR"
    language: str = "pt-BR"
    host: str = "0.0.0.0"
    port: int = 3000
    log_level: str = "INFO"
    insecure_dev: bool = False
    pilot_status_timeout: float = 30.0
    pilot_status_retry: RetryPolicy = field(default_factory=RetryPolicy)
    # Slack deliveries retry durably (from the store) with this backoff, capped at 5 minutes.
    slack_retry: RetryPolicy = field(
        default_factory=lambda: RetryPolicy(attempts=12, base_delay=1.0, max_delay=300.0, max_retry_after=3600)
    )
    shutdown_grace: float = 10.0
    # Erase phones and reasons of closed requests older than this many days (0: keep forever).
    retention_days: int = 180
    # Public base URL of this AskCall (e.g. https://askcall.example.com); `askcall check` uses it.
    public_url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        def get(name: str, default: str = "") -> str:
            return (env.get(name) or default).strip()

        insecure = get("ASKCALL_INSECURE_DEV").lower() in TRUTHY
        required = ["SLACK_BOT_TOKEN", "PILOT_STATUS_API_KEY"]
        if not insecure:
            required += ["SLACK_SIGNING_SECRET", "PILOT_STATUS_WEBHOOK_SECRET"]
        missing = [name for name in required if not get(name)]
        if missing:
            hint = (
                " (set them, e.g. in .env; see .env.example. For local development only, "
                "ASKCALL_INSECURE_DEV=1 starts without the two signing secrets and skips verification)"
            )
            raise ConfigError("Missing required environment variable(s): " + ", ".join(missing) + hint)

        region = get("ASKCALL_DEFAULT_REGION", "BR").upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ConfigError(f"ASKCALL_DEFAULT_REGION={region!r} is not a region code like BR or PT")
        raw_language = get("ASKCALL_LANGUAGE", "pt-BR")
        language = normalize_language(raw_language, fallback="")
        if language not in LANGUAGES:
            raise ConfigError(f"ASKCALL_LANGUAGE={raw_language!r} is not supported; use pt-BR or en")
        port_text = get("PORT", "3000")
        if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
            raise ConfigError(f"PORT={port_text!r} is not a port number")
        slack_api_url = get("SLACK_API_URL", DEFAULT_SLACK_API_URL)
        retention_text = get("ASKCALL_RETENTION_DAYS", "180")
        if not retention_text.isdigit():
            raise ConfigError(
                f"ASKCALL_RETENTION_DAYS={retention_text!r} is not a number of days (0 keeps data forever)"
            )
        public_url = get("ASKCALL_PUBLIC_URL").rstrip("/")
        if public_url and not public_url.startswith(("https://", "http://")):
            raise ConfigError(f"ASKCALL_PUBLIC_URL={public_url!r} must start with https://")
        return cls(
            slack_bot_token=get("SLACK_BOT_TOKEN"),
            slack_signing_secret=get("SLACK_SIGNING_SECRET") or None,
            pilot_status_api_key=get("PILOT_STATUS_API_KEY"),
            pilot_status_webhook_secret=get("PILOT_STATUS_WEBHOOK_SECRET") or None,
            slack_api_url=slack_api_url if slack_api_url.endswith("/") else slack_api_url + "/",
            pilot_status_base_url=get("PILOT_STATUS_BASE_URL", DEFAULT_PILOT_STATUS_BASE_URL).rstrip("/"),
            db_path=get("ASKCALL_DB_PATH", "./askcall.db"),
            default_region=region,
            language=language,
            host=get("HOST", "0.0.0.0"),
            port=int(port_text),
            log_level=get("ASKCALL_LOG_LEVEL", "INFO").upper(),
            insecure_dev=insecure,
            retention_days=int(retention_text),
            public_url=public_url or None,
        )
