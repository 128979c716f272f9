"""The tenants tests use: `TENANT` is the fake Slack's workspace (team T1, what `auth.test` answers and every
signed payload names), so what the app stores for a test's requests is read back under it; `OTHER` is a second
workspace, for the tests that try to cross from one to the other."""

from __future__ import annotations

from bot.domain import TenantId

TENANT = TenantId("T1")
OTHER = TenantId("T2")
