"""The deployment-wide cap (bot.pilot_status.fair): waiting workspaces are served in turn, not in arrival order; a
workspace takes a slot only while more stay free than it holds; a caller cancelled while waiting takes none."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable

from bot.pilot_status.fair import FairLimiter


async def hold(limiter: FairLimiter, party: Hashable, granted: list[Hashable], release: asyncio.Event) -> None:
    async with limiter.slot(party):
        granted.append(party)
        await release.wait()


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_waiting_workspaces_are_served_in_turn_however_many_one_of_them_queued() -> None:
    limiter, granted = FairLimiter(4), []
    releases = {name: asyncio.Event() for name in ("P1", "P2", "P3", "P4", "A", "B", "C")}
    holders = [asyncio.create_task(hold(limiter, p, granted, releases[p])) for p in ("P1", "P2", "P3", "P4")]
    await settle()
    assert granted == ["P1", "P2", "P3", "P4"] and limiter.in_flight == 4
    flood = [asyncio.create_task(hold(limiter, "A", granted, releases["A"])) for _ in range(3)]
    await settle()
    others = [asyncio.create_task(hold(limiter, p, granted, releases[p])) for p in ("B", "C")]
    await settle()

    for party in ("P1", "P2", "P3"):
        releases[party].set()
        await settle()

    # A queued three before B and C came, yet each got one slot in turn.
    assert granted[4:] == ["A", "B", "C"]
    releases["P4"].set()
    await settle()
    assert granted[7:] == []  # A holds one and only one stays free: A may not take it
    releases["B"].set()
    await settle()
    assert granted[7:] == ["A"]  # two free now: A takes one more, leaving as many as it holds
    for event in releases.values():
        event.set()
    await asyncio.gather(*holders, *flood, *others)
    assert granted.count("A") == 3 and limiter.in_flight == 0


async def test_a_workspace_whose_requests_end_at_once_still_waits_its_turn() -> None:
    limiter, granted, release = FairLimiter(1), [], asyncio.Event()

    async def quick(party: str) -> None:
        async with limiter.slot(party):
            granted.append(party)
            await asyncio.sleep(0)

    holder = asyncio.create_task(hold(limiter, "P", granted, release))
    await settle()
    waiting = [asyncio.create_task(quick(party)) for party in ("A", "A", "A", "B")]
    await settle()
    release.set()
    await asyncio.gather(holder, *waiting)

    # Each time A's slot came back A had none, yet B, waiting, came next: not behind A's whole queue.
    assert granted == ["P", "A", "B", "A", "A"]


async def test_a_lone_workspace_takes_half_and_a_cancelled_waiter_takes_nothing() -> None:
    limiter, granted, release = FairLimiter(4), [], asyncio.Event()
    mine = [asyncio.create_task(hold(limiter, "A", granted, release)) for _ in range(4)]
    await settle()
    assert granted == ["A", "A"] and limiter.in_flight == 2  # two of four: as many stay free as it holds

    mine[2].cancel()
    await asyncio.gather(mine[2], return_exceptions=True)
    other = asyncio.create_task(hold(limiter, "B", granted, release))
    await settle()
    assert granted == ["A", "A", "B"] and limiter.in_flight == 3

    release.set()
    await asyncio.gather(*mine[:2], mine[3], other)
    assert granted.count("A") == 3 and limiter.in_flight == 0  # the cancelled one never held a slot
