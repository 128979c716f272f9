"""Moving an install: requests made on one backend are answered after `askcall db copy` to the other.

The whole path runs for real: AskCall over HTTP with the loopback fakes on the origin database, the
`askcall db copy` command, then AskCall on the copy receiving the customer's answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import RetryPolicy, Settings
from bot.fakes.pilot_status import FakePilotStatus
from bot.fakes.slack import FakeSlack
from tests.conftest import REP
from tests.e2e.helpers import (
    DIGITS,
    ask,
    only_parent,
    only_reply,
    parents,
    posts,
    render,
    replies,
    reply_attempts,
    requests,
    running,
    updates_of,
)
from tests.postgres import empty_database, other_backend

OTHER_CUSTOMER = "+55 21 99876-5432"
OTHER_DIGITS = "5521998765432"


@pytest.fixture
def moved_url(database_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """An empty database on the other backend than `database_url`: the move goes both ways."""
    with empty_database(other_backend(database_url), tmp_path, request, "moved.db") as url:
        yield url


def on(settings: Settings, url: str) -> Settings:
    return replace(settings, database_url=url)


async def copy(source: str, target: str) -> None:
    code = await asyncio.to_thread(main, ["db", "copy", "--from", source, "--to", target])
    assert code == 0


async def test_an_answer_after_the_move_reaches_the_thread_of_a_request_made_before(
    settings: Settings, slack: FakeSlack, pilot: FakePilotStatus, database_url: str, moved_url: str
) -> None:
    async with running(on(settings, database_url), slack, pilot) as before:
        parent = await ask(before)
        other_parent = await ask(before, f"{OTHER_CUSTOMER} Posso ligar?")
        status, _ = await before.answer(OTHER_DIGITS, "NO_PERMISSION")  # answered before the move
        assert status == 200
        await before.wait_idle()
        made = await requests(before)
    assert len(replies(slack, other_parent)) == 1

    await copy(database_url, moved_url)

    async with running(on(settings, moved_url), slack, pilot) as after:
        status, _ = await after.answer(DIGITS, "PERMANENT")
        assert status == 200
        await after.wait_idle()
        # Pilot Status redelivers both answers: neither is applied twice (their events moved too).
        for customer, answer in ((DIGITS, "PERMANENT"), (OTHER_DIGITS, "NO_PERMISSION")):
            assert (await after.answer(customer, answer))[0] == 200
        await after.wait_idle()
        reply = only_reply(slack, parent)
        assert reply["text"].startswith(f"<@{REP}> ♾️")
        assert len(reply_attempts(slack, parent)) == 1
        (update,) = updates_of(slack, parent)
        assert "♾️" in render(update)
        assert len(replies(slack, other_parent)) == 1
        assert len(parents(slack)) == 2  # nothing re-posted
        assert len(posts(pilot)) == 2  # nothing re-sent to the customers
        moved = await requests(after)
        assert [r.id for r in moved] == [r.id for r in made]
        assert [r.state for r in moved] == ["answered", "answered"]

        # A request made after the move gets an id of its own and its own thread.
        await ask(after, f"{OTHER_CUSTOMER} E agora?")
        newest = (await requests(after))[-1]
        assert newest.id == max(r.id for r in made) + 1
        assert len(parents(slack)) == 3


def patient(settings: Settings) -> Settings:
    """Slack retries that never give up during the test."""
    return replace(settings, slack_retry=RetryPolicy(attempts=1000, base_delay=0.05, max_delay=0.1, max_retry_after=5))


async def test_a_reply_still_pending_at_the_move_is_delivered_once_after_it(
    settings: Settings, slack: FakeSlack, pilot: FakePilotStatus, database_url: str, moved_url: str
) -> None:
    settings = patient(settings)
    async with running(on(settings, database_url), slack, pilot) as before:
        parent = await ask(before)
        slack.fail_next("chat.postMessage", status=503, times=100_000)  # Slack is down
        status, _ = await before.answer(DIGITS, "TEMPORARY")
        assert status == 200
        await slack.wait_for(lambda: len(reply_attempts(slack, parent)) >= 2)
    assert replies(slack, parent) == []

    await copy(database_url, moved_url)
    slack.clear_scripts()  # Slack is back

    async with running(on(settings, moved_url), slack, pilot) as after:
        await after.wait_idle()
        reply = only_reply(slack, parent)
        assert reply["text"].startswith(f"<@{REP}> ✅")
        assert only_parent(slack) == parent
        assert len(posts(pilot)) == 1
