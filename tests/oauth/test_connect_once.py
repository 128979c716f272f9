"""One Pilot Status webhook per (workspace, number), however the connect form is submitted (bot/services/connect.py),
over loopback HTTP against the fake Pilot Status, on both backends (2 replicas behind the balancer on PostgreSQL):
two admins submitting at the same instant, each to another replica, make one webhook and both see the form for its
secret; an attempt that died after Pilot Status created the webhook (a 5xx after the fact, the answer lost with the
connection) leaves it at the URL the retry registers, which adopts it instead of creating a second one; a submission
that can't get its turn in time is told the number is being connected, and nothing is asked of Pilot Status."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from bot.domain import TenantId
from bot.fakes import FakeSlack
from bot.pilot_status.webhooks import HANDLED_EVENTS
from bot.services.connect import Connected, ConnectService, Refused
from bot.slack.settings import CONNECT_VIEW, KEY_BLOCK, KEY_INPUT, SECRET_VIEW
from tests.calls.helpers import wait_until
from tests.oauth.deployment import (
    ADMIN,
    Deployment,
    Workspace,
    install_from_landing,
    open_connect_form,
    text_submission,
    two_workspaces,
)

OTHER_ADMIN = "UADMIN2"


async def submit_key(deployed: Deployment, team: str, user: str, view_id: str, api_key: str) -> None:
    submission = text_submission(team, user, CONNECT_VIEW, KEY_BLOCK, KEY_INPUT, api_key, view_id=view_id)
    status, text = await deployed.interact(submission)
    assert status == 200 and json.loads(text)["response_action"] == "update", text


async def outcome(slack: FakeSlack, view_id: str) -> dict[str, Any]:
    """The view the modal `view_id` shows once the key was checked (its last update after "checking…")."""
    updates = lambda: [c.args["view"] for c in slack.calls_to("views.update") if c.args.get("view_id") == view_id]  # noqa: E731
    await wait_until(lambda: bool(updates()), what="the key checked")
    return updates()[-1]


async def installed(deployed: Deployment) -> Workspace:
    acme, _ = two_workspaces(deployed.slack, deployed.pilot)
    await install_from_landing(deployed, acme.team)
    return acme


async def test_two_admins_submitting_at_once_on_two_replicas_make_one_webhook_and_both_see_the_secret_form(
    deployed: Deployment,
) -> None:
    acme = await installed(deployed)
    deployed.slack.admins.add(OTHER_ADMIN)
    first = await open_connect_form(deployed, acme.team, ADMIN)
    second = await open_connect_form(deployed, acme.team, OTHER_ADMIN)
    # Pilot Status takes a while to answer, so both submissions are in flight together: without taking turns, both
    # would find no webhook in the list, and both would create one.
    acme.account.script("GET", "/v1/calls/settings", delay=0.3, times=2)
    acme.account.script("POST", "/v1/webhooks", delay=0.5, times=2)
    spread_before = len(deployed.balancer.spread)

    await asyncio.gather(
        submit_key(deployed, acme.team, ADMIN, first, acme.account.api_key),
        submit_key(deployed, acme.team, OTHER_ADMIN, second, acme.account.api_key),
    )
    shown = [await outcome(deployed.slack, first), await outcome(deployed.slack, second)]

    assert [view["callback_id"] for view in shown] == [SECRET_VIEW, SECRET_VIEW], shown
    (hook,) = acme.account.webhooks.values()
    assert hook["events"] == list(HANDLED_EVENTS) and hook["active"]
    assert [p.method for p in deployed.pilot.requests if p.path == "/v1/webhooks"].count("POST") == 1
    (stored,) = await deployed.replicas[0].askcall.store.workspace_numbers(acme.tenant)
    assert stored.webhook_id == hook["id"] and hook["url"].endswith("/t/" + stored.webhook_token)
    # Both modals name the same URL for the secret, and each submission was answered by its own replica.
    assert all(stored.webhook_token in json.dumps(view) for view in shown)
    assert len(set(deployed.balancer.spread[spread_before:])) == len(deployed.replicas)


@pytest.mark.parametrize("failure", ["a 5xx after creating", "the answer lost"])
async def test_a_webhook_created_by_an_attempt_that_failed_is_adopted_by_the_retry(
    deployed: Deployment, failure: str
) -> None:
    acme = await installed(deployed)
    if failure == "the answer lost":
        deployed.pilot.lose_answer_next("POST", "/v1/webhooks", key=acme.account.api_key)
    else:
        deployed.pilot.act_then_fail_next("POST", "/v1/webhooks", status=502, key=acme.account.api_key)

    form = await open_connect_form(deployed, acme.team, ADMIN)
    await submit_key(deployed, acme.team, ADMIN, form, acme.account.api_key)
    refused = await outcome(deployed.slack, form)

    assert refused["callback_id"] == CONNECT_VIEW and "webhook" in json.dumps(refused, ensure_ascii=False)
    (orphan,) = acme.account.webhooks.values()  # Pilot Status did create it; AskCall stored nothing
    assert await deployed.replicas[0].askcall.store.workspace_numbers(acme.tenant) == []

    orphan["events"], orphan["active"] = ["call.ringing"], False  # and someone touched it meanwhile
    again = await open_connect_form(deployed, acme.team, ADMIN)
    await submit_key(deployed, acme.team, ADMIN, again, acme.account.api_key)

    assert (await outcome(deployed.slack, again))["callback_id"] == SECRET_VIEW
    assert list(acme.account.webhooks.values()) == [orphan]  # adopted, repaired, not duplicated
    assert orphan["events"] == list(HANDLED_EVENTS) and orphan["active"]
    (stored,) = await deployed.replicas[-1].askcall.store.workspace_numbers(acme.tenant)
    assert stored.webhook_id == orphan["id"] and stored.webhook_secret is None  # its secret must be pasted
    assert orphan["url"] == f"{deployed.url}/webhooks/pilot-status/t/{stored.webhook_token}"


async def test_a_submission_that_cannot_get_its_turn_in_time_is_told_the_number_is_being_connected(
    deployed: Deployment,
) -> None:
    acme = await installed(deployed)
    acme.account.script("GET", "/v1/calls/settings", delay=1.0)  # the first submission holds the turn a while
    replica = deployed.replicas[-1].askcall
    impatient = ConnectService(
        replica.store,
        replica.configs,
        replica.settings.secrets(),
        base_url=replica.settings.pilot_status_base_url,
        public_url=replica.settings.public_url,
        serial_wait=0.2,
    )
    patient = deployed.replicas[0].askcall.connect
    assert patient is not None
    before = len(deployed.pilot.requests)
    slow = asyncio.create_task(patient.connect(acme.tenant, acme.account.api_key))
    await wait_until(lambda: len(deployed.pilot.requests) > before, what="the first submission asking Pilot Status")
    asked = len(deployed.pilot.requests)

    hurried = await impatient.connect(acme.tenant, acme.account.api_key)

    assert hurried == Refused("connect.in_progress")
    assert len(deployed.pilot.requests) == asked  # the hurried one asked nothing
    # Another workspace's number never waits for it.
    assert isinstance(await impatient.connect(TenantId("T3"), "ps_beta"), Connected)
    assert not slow.done()
    assert isinstance(await slow, Connected) and len(acme.account.webhooks) == 1
