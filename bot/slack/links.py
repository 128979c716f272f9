"""Links to Slack messages, and the workspace URL they are built on."""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)


class Workspace:
    """The workspace's base URL (`https://acme.slack.com/`), learnt once from `auth.test`."""

    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client
        self.url: str | None = None

    async def load(self) -> None:
        try:
            response = await self._client.auth_test()
        except (SlackApiError, OSError) as error:
            log.warning("auth.test failed (%s); thread links will use Slack's redirect", type(error).__name__)
            return
        url = str(response.get("url") or "")
        self.url = url if url.endswith("/") else url + "/" if url else None

    def permalink(self, channel: str, ts: str | None, thread_ts: str | None = None) -> str:
        if not ts:
            return f"https://slack.com/app_redirect?channel={channel}"
        base = self.url or "https://slack.com/"
        link = f"{base}archives/{channel}/p{ts.replace('.', '')}"
        if thread_ts and thread_ts != ts:
            link += f"?thread_ts={thread_ts}&cid={channel}"
        return link
