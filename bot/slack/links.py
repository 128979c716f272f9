"""Links to Slack messages, and the workspace URLs they are built on.

Invariant: a permalink is built on the URL of the workspace the request belongs to (its tenant), never on another
workspace's; a tenant whose URL is unknown gets Slack's own redirect, which works from any workspace.
"""

from __future__ import annotations

from bot.domain import TenantId


class WorkspaceLinks:
    """Each workspace's base URL (`https://acme.slack.com/`), by tenant: from `auth.test` at start-up or an
    install, and from the `workspaces` rows."""

    def __init__(self) -> None:
        self._urls: dict[TenantId, str] = {}

    def remember(self, tenant: TenantId, url: str | None) -> None:
        if url:
            self._urls[tenant] = url if url.endswith("/") else url + "/"

    def url(self, tenant: TenantId) -> str | None:
        return self._urls.get(tenant)

    def permalink(self, tenant: TenantId, channel: str, ts: str | None, thread_ts: str | None = None) -> str:
        if not ts:
            return f"https://slack.com/app_redirect?channel={channel}"
        base = self._urls.get(tenant) or "https://slack.com/"
        link = f"{base}archives/{channel}/p{ts.replace('.', '')}"
        if thread_ts and thread_ts != ts:
            link += f"?thread_ts={thread_ts}&cid={channel}"
        return link
