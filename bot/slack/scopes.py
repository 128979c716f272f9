"""The Slack bot scopes AskCall needs: the ones manifest.yml asks for (a test keeps them equal)."""

from __future__ import annotations

REQUIRED_BOT_SCOPES: tuple[str, ...] = (
    "commands",
    "chat:write",
    "chat:write.public",
    "channels:history",
    "groups:history",
    "im:history",
    "channels:join",
    "im:write",
    "users:read",
    "usergroups:read",
)


def missing_scopes(granted_header: str | None) -> list[str]:
    """The required scopes absent from an `x-oauth-scopes` header value (comma separated)."""
    granted = {scope.strip() for scope in (granted_header or "").split(",") if scope.strip()}
    return [scope for scope in REQUIRED_BOT_SCOPES if scope not in granted]
