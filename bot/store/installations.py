"""Slack installations (multi-workspace mode) and the OAuth flow's states, one concern of the store.

Invariant: there is one row per tenant (`tenant_key`: the enterprise id of an org-wide install, the team id
otherwise), found only by that exact tenant; its tokens arrive here already encrypted (bot.secrets) and are
never decrypted by the store. An uninstall or a revocation clears the tokens and stamps `uninstalled_at` in one
write; a reinstall replaces the row whole (tokens back, `uninstalled_at` cleared, `installed_at` kept from the
first install). An OAuth state is consumed at most once, by whichever replica asks first, and only before it
expires (`DELETE … RETURNING`: two racing consumers can't both win).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from bot.domain import TenantId
from bot.store.connection import StoreConnection

# An OAuth state is good for this long after /slack/install issued it.
OAUTH_STATE_SECONDS = 10 * 60


@dataclass(frozen=True)
class SlackInstallation:
    """One workspace's (or organisation's) installation as stored: tokens encrypted, times in epoch seconds."""

    tenant_id: str
    enterprise_id: str | None
    enterprise_name: str | None
    enterprise_url: str | None
    team_id: str | None
    team_name: str | None
    is_enterprise_install: bool
    app_id: str | None
    bot_token: str | None  # encrypted; None once uninstalled or revoked
    bot_id: str | None
    bot_user_id: str | None
    bot_scopes: str
    bot_refresh_token: str | None  # encrypted (token rotation)
    bot_token_expires_at: float | None
    installer_user_id: str | None
    token_type: str | None
    installed_at: float
    updated_at: float
    uninstalled_at: float | None = None

    def __repr__(self) -> str:  # never the (even encrypted) tokens
        return (
            f"SlackInstallation(tenant_id={self.tenant_id!r}, team_id={self.team_id!r}, "
            f"enterprise_id={self.enterprise_id!r}, uninstalled_at={self.uninstalled_at!r})"
        )

    @property
    def live(self) -> bool:
        return self.bot_token is not None and self.uninstalled_at is None


# The columns of `slack_installations`, in the order of `SlackInstallation`'s fields.
INSTALLATION_COLUMNS: tuple[str, ...] = tuple(SlackInstallation.__dataclass_fields__)


class InstallationStore(StoreConnection):
    @abstractmethod
    async def save_slack_installation(self, installation: SlackInstallation) -> None:
        """Insert or replace the tenant's row (a reinstall brings it back to life; the first `installed_at`
        stays)."""

    @abstractmethod
    async def slack_installation(self, tenant: TenantId) -> SlackInstallation | None:
        """The tenant's row, live or uninstalled; None when AskCall was never installed there."""

    @abstractmethod
    async def served_slack_installation(self, tenant: TenantId) -> SlackInstallation | None:
        """The tenant's row when AskCall serves that tenant: live, and its workspace not disabled; None otherwise
        (never installed, uninstalled, revoked or disabled). One round trip: Bolt's authorize step reads it on a
        cache miss."""

    @abstractmethod
    async def slack_installations(self) -> list[SlackInstallation]:
        """Every installation, live or not, by tenant id (the operator's list)."""

    @abstractmethod
    async def uninstall_slack(self, tenant: TenantId, now: float) -> bool:
        """Clear the tenant's tokens and mark it uninstalled at `now`; False when it had no live installation."""

    @abstractmethod
    async def rotate_slack_secrets(self, rotate: Callable[[str, str], str]) -> int:
        """Re-encrypt every stored token in one transaction: `rotate(ciphertext, tenant_id)` gives the new
        ciphertext. Returns how many values changed. `rotate` is pure CPU work (no I/O)."""

    @abstractmethod
    async def listen_installations(self, changed: Callable[[str | None], None]) -> None:
        """Call `changed(tenant_id)` whenever another process saves or uninstalls an installation, and
        `changed(None)` (forget everything) whenever what was missed can't be known (a reconnection). Runs until
        cancelled. On SQLite (one server process) the other writers are the operator's commands: a change is noticed
        within a second or so, and everything is forgotten."""

    @abstractmethod
    async def issue_oauth_state(self, state: str, expires_at: float) -> None: ...

    @abstractmethod
    async def consume_oauth_state(self, state: str, now: float) -> bool:
        """True exactly once for a state issued and not yet expired at `now`; expired states are deleted too."""
