"""Fairness end to end over HTTP, on both backends: two workspaces installed through the real OAuth flow, one of them
rate-limited by the fake Slack as a whole (429 with Retry-After). The other's messages arrive in their usual time;
the throttled one's wait for their Retry-After, each without using up an attempt, and then all arrive."""

from __future__ import annotations

import time

import pytest

from bot.domain import TenantId
from bot.fakes import FakeSlack
from bot.store import NewDelivery, NewRequest, Store
from tests.oauth.install_helpers import MultiServer

THROTTLED, OTHER = TenantId("T2"), TenantId("T3")
RETRY_AFTER = 2.0


@pytest.fixture
def askcall(two_installed: MultiServer) -> MultiServer:
    return two_installed


async def requests_of(store: Store, tenant: TenantId, count: int, first: int = 0) -> None:
    for n in range(first, first + count):
        await store.create_request(
            NewRequest(tenant, f"C{tenant}", "U1", f"+55319888877{n:02d}", "Podemos ligar?", "pt-BR"),
            NewDelivery(f"parent-{tenant}-{n}", "parent", {"channel": f"C{tenant}", "text": f"{tenant} #{n}"}),
        )


def ratelimited(slack: FakeSlack) -> list[object]:
    return [c for c in slack.calls_to("chat.postMessage", only_ok=False) if c.outcome == "ratelimited"]


def landed(slack: FakeSlack, team: str) -> list[float]:
    return [c.wall for c in slack.calls_to("chat.postMessage") if c.team == team]


async def test_a_rate_limited_workspace_waits_alone(askcall: MultiServer, slack: FakeSlack) -> None:
    store = askcall.askcall.store
    slack.throttle_team("T2", RETRY_AFTER)
    await requests_of(store, THROTTLED, 5)  # its backlog, queued first
    await requests_of(store, OTHER, 2)
    started = time.time()
    askcall.askcall.notifier.wake()

    await slack.wait_for(lambda: len(landed(slack, "T3")) == 2, timeout=RETRY_AFTER)
    assert max(landed(slack, "T3")) - started < RETRY_AFTER / 2  # the other workspace's, in their usual time
    await requests_of(store, THROTTLED, 2, first=5)  # more of the throttled workspace's, while it is throttled
    askcall.askcall.notifier.wake()
    await slack.wait_for(lambda: len(landed(slack, "T2")) == 7, timeout=RETRY_AFTER * 5)

    assert min(landed(slack, "T2")) - started >= RETRY_AFTER - 0.5  # the throttled one's, after its Retry-After
    assert {c.team for c in ratelimited(slack)} == {"T2"}
