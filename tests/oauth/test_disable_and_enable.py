"""`askcall workspaces disable | enable` write from another process: a running multi-workspace AskCall acts on it
promptly on both backends (PostgreSQL notifies it; on SQLite it looks for such changes every second), not only once
its installation cache's entry runs out (CACHE_SECONDS, 30 s). A disabled workspace's late Slack messages die
"disabled", not "uninstalled", and reach no Slack."""

from __future__ import annotations

import asyncio
import time

from bot.domain import DeliveryState, TenantId
from bot.fakes import FakeSlack
from bot.slack.stored_installations import CACHE_SECONDS
from bot.store import NewDelivery, NewRequest, create_store
from tests.oauth.install_helpers import MultiServer
from tests.oauth.test_install_flow import command

# How long the test waits for the change to show: far less than a cache entry lives, so only a change noticed
# (not an entry running out) passes. A bound on "never", not a speed measurement.
NOTICED = CACHE_SECONDS / 6


async def served_becomes(server: MultiServer, team: str, expected: bool) -> None:
    """Ask as `team` (a signed `/askcall help`) until it is served (the connect prompt) or refused, as expected."""
    deadline = time.monotonic() + NOTICED
    while ("Pilot Status" in (await command(server, team))[1]) != expected:
        assert time.monotonic() < deadline, f"{team} still {'refused' if expected else 'served'}"
        await asyncio.sleep(0.1)


async def test_disable_and_enable_from_another_process_are_acted_on_promptly(
    two_installed: MultiServer, database_url: str
) -> None:
    await served_becomes(two_installed, "T2", True)  # served, and its installation now cached
    operator = create_store(database_url, owner="askcall-workspaces")  # what the CLI opens, in its own process
    await operator.open()
    try:
        await operator.stop_workspace(TenantId("T2"), time.time(), disabled=True)
        await served_becomes(two_installed, "T2", False)
        await served_becomes(two_installed, "T3", True)  # the other workspace untouched
        assert await operator.enable_workspace(TenantId("T2"))
        await served_becomes(two_installed, "T2", True)
    finally:
        await operator.close()


async def test_a_disabled_workspaces_late_message_dies_disabled(
    two_installed: MultiServer, slack: FakeSlack, database_url: str
) -> None:
    store = two_installed.askcall.store
    await store.stop_workspace(TenantId("T2"), time.time(), disabled=True)
    await served_becomes(two_installed, "T2", False)
    request_id, _ = await store.create_request(  # a message some work still queued for it afterwards
        NewRequest(TenantId("T2"), "C1", "U1", "+5531988887777", "Podemos ligar?", "pt-BR"),
        NewDelivery("parent-late", "parent", {"channel": "C1", "text": "late"}),
    )
    two_installed.askcall.notifier.wake()
    late = await store.delivery_for(TenantId("T2"), request_id, "parent")
    for _ in range(100):  # the notifier picks it up at once; give up after a while rather than hang
        if late is not None and late.state == DeliveryState.DEAD:
            break
        await asyncio.sleep(0.05)
        late = await store.delivery_for(TenantId("T2"), request_id, "parent")
    assert late is not None and (late.state, late.last_error) == (DeliveryState.DEAD, "disabled")
    assert [call for call in slack.calls_to("chat.postMessage", only_ok=False) if call.team == "T2"] == []
