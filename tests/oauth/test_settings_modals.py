"""App Home's Settings beyond "connect", over HTTP with block actions and view submissions signed as Slack sends
them, on both backends: two workspaces installed through Add to Slack; an admin of one picks which channels use
which number, who may use AskCall, the default language, the per-rep budget and retention. Bad input is answered
under its field (nothing saved); a non-admin's forged submission changes nothing; each change shows in App Home
and changes behaviour in that workspace only. Connecting acks inside Slack's 3 s even when Pilot Status is slow.
In single-workspace mode the section shows the environment's values and nothing can be changed."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import pytest

from bot.domain import BudgetSpent, TenantId
from bot.fakes import FakePilotStatus, FakeSlack
from bot.fakes.slack import interaction_body, slack_signed_headers, view_submission_payload
from bot.fakes.slack_oauth import app_event_body
from bot.i18n import Translator
from bot.services.access import AccessPolicy
from bot.services.connect import Connected
from bot.services.retention import DAY, purge_each_workspace, retention_loop
from bot.slack.settings import (
    BUDGET_BLOCK,
    CHANNELS_BLOCK,
    CONNECT_ACTION,
    CONNECT_VIEW,
    CONTACT_BLOCK,
    GROUPS_BLOCK,
    KEY_BLOCK,
    KEY_INPUT,
    LANGUAGE_BLOCK,
    NAME_BLOCK,
    NAME_INPUT,
    NUMBER_BLOCK_PREFIX,
    NUMBER_INPUT,
    NUMBERS_ACTION,
    NUMBERS_VIEW,
    RETENTION_BLOCK,
    SECRET_VIEW,
    USERS_BLOCK,
    VALUE,
    WORKSPACE_ACTION,
    WORKSPACE_VIEW,
)
from bot.store import NewDelivery, NewRequest, Store
from bot.store.workspace_settings import WorkspaceSettings
from tests.conftest import SIGNING_SECRET, Server
from tests.oauth.install_helpers import MultiServer, browser, install

T2, T3 = TenantId("T2"), TenantId("T3")
ADMIN, REP = "UINSTALLER", "U5"
# Reps of each workspace whose Slack locale is neither language: they get their workspace's default.
SPANISH_T2, SPANISH_T3 = "U7", "U8"
SLOW_PILOT_STATUS = 3.5  # longer than the 3 s Slack waits for a view submission's answer


@pytest.fixture
def askcall(two_installed: MultiServer, slack: FakeSlack) -> MultiServer:
    slack.user_locales.update({SPANISH_T2: "es-ES", SPANISH_T3: "es-ES"})
    return two_installed


async def post(url: str, body: str, content_type: str) -> tuple[int, str]:
    headers = {**slack_signed_headers(body, SIGNING_SECRET), "Content-Type": content_type}
    async with (
        aiohttp.ClientSession() as http,
        http.post(url + "/slack/events", data=body.encode(), headers=headers) as answer,
    ):
        return answer.status, await answer.text()


async def interact(url: str, payload: dict[str, Any]) -> tuple[int, str]:
    return await post(url, interaction_body(payload), "application/x-www-form-urlencoded")


async def open_home(url: str, slack: FakeSlack, user: str, team: str = "T2") -> dict[str, Any]:
    slack.home_views.pop(user, None)
    event = {"type": "app_home_opened", "user": user, "channel": "D1", "tab": "home", "event_ts": "1.2"}
    status, _ = await post(url, app_event_body(team, event), "application/json")
    assert status == 200
    await slack.wait_for(lambda: user in slack.home_views)
    return slack.home_views[user]


def click(user: str, action_id: str, trigger_id: str, team: str = "T2", value: str = "x") -> dict[str, Any]:
    """A click on App Home (no channel, no response_url), as Slack sends it."""
    return {
        "type": "block_actions",
        "team": {"id": team, "domain": "acme"},
        "user": {"id": user, "username": user.lower(), "team_id": team},
        "api_app_id": "A1",
        "token": "legacy",
        "trigger_id": trigger_id,
        "container": {"type": "view", "view_id": "VHOME"},
        "view": {"id": "VHOME", "type": "home", "team_id": team, "blocks": [], "private_metadata": ""},
        "actions": [{"type": "button", "action_id": action_id, "value": value, "action_ts": "1.1"}],
    }


async def open_modal(url: str, slack: FakeSlack, user: str, action_id: str, team: str = "T2") -> dict[str, Any]:
    """Click the button; the modal Slack was asked to open."""
    before = len(slack.views)
    status, _ = await interact(url, click(user, action_id, slack.trigger_id(), team))
    assert status == 200
    await slack.wait_for(lambda: len(slack.views) > before)
    return slack.views[-1]


def workspace_values(
    *,
    language: str = "en",
    budget: str = "1",
    retention: str = "7",
    channels: tuple[str, ...] = ("C1",),
    users: tuple[str, ...] = (SPANISH_T2,),
    groups: str = "S0GROUP1, S0GROUP2",
    contact: str = "<#C9>",
) -> dict[str, Any]:
    """The workspace modal's state, as Slack submits it."""
    option = {"text": {"type": "plain_text", "text": language}, "value": language}
    return {
        LANGUAGE_BLOCK: {VALUE: {"type": "static_select", "selected_option": option}},
        BUDGET_BLOCK: {VALUE: {"type": "number_input", "value": budget}},
        RETENTION_BLOCK: {VALUE: {"type": "number_input", "value": retention}},
        CHANNELS_BLOCK: {VALUE: {"type": "multi_conversations_select", "selected_conversations": list(channels)}},
        USERS_BLOCK: {VALUE: {"type": "multi_users_select", "selected_users": list(users)}},
        GROUPS_BLOCK: {VALUE: {"type": "plain_text_input", "value": groups or None}},
        CONTACT_BLOCK: {VALUE: {"type": "plain_text_input", "value": contact or None}},
    }


async def submit(
    url: str, callback_id: str, values: dict[str, Any], user: str, team: str = "T2", view_id: str | None = None
) -> dict[str, Any]:
    payload = view_submission_payload(callback_id, values, "", user_id=user, team_id=team, view_id=view_id)
    status, text = await interact(url, payload)
    assert status == 200
    return json.loads(text) if text.strip() else {}


async def test_an_admin_saves_the_workspace_settings_for_that_workspace_only(
    askcall: MultiServer, slack: FakeSlack
) -> None:
    store, url = askcall.askcall.store, askcall.url
    home = json.dumps(await open_home(url, slack, ADMIN))
    assert WORKSPACE_ACTION in home and "30" in home  # the defaults (ASKCALL_MAX_REQUESTS_PER_REP_PER_HOUR)
    modal = await open_modal(url, slack, ADMIN, WORKSPACE_ACTION)
    assert modal["callback_id"] == WORKSPACE_VIEW
    budget = next(b for b in modal["blocks"] if b["block_id"] == BUDGET_BLOCK)
    assert budget["element"]["initial_value"] == str(askcall.askcall.settings.max_requests_per_rep_per_hour)

    # Every bad value is answered under its own field, and nothing is saved.
    bad = workspace_values(language="es", budget="-1", retention="99999999", groups="#vendas", contact="@joao")
    answer = await submit(url, WORKSPACE_VIEW, bad, ADMIN)
    assert answer["response_action"] == "errors"
    assert set(answer["errors"]) == {LANGUAGE_BLOCK, BUDGET_BLOCK, RETENTION_BLOCK, GROUPS_BLOCK, CONTACT_BLOCK}
    assert "#vendas" in answer["errors"][GROUPS_BLOCK]
    assert await store.workspace_settings(T2) is None

    # A rep's forged submission (valid values) changes nothing.
    answer = await submit(url, WORKSPACE_VIEW, workspace_values(), REP)
    assert answer["response_action"] == "errors"
    assert await store.workspace_settings(T2) is None

    # The admin's is saved whole, and App Home shows it.
    slack.home_views.pop(ADMIN, None)
    assert await submit(url, WORKSPACE_VIEW, workspace_values(), ADMIN) == {}
    saved = await store.workspace_settings(T2)
    assert saved is not None
    assert (saved.language, saved.hourly_budget, saved.retention_days) == ("en", 1, 7)
    assert (saved.allowed_channels, saved.allowed_users) == (("C1",), (SPANISH_T2,))
    assert (saved.allowed_usergroups, saved.access_contact) == (("S0GROUP1", "S0GROUP2"), "<#C9>")
    await slack.wait_for(lambda: ADMIN in slack.home_views)
    refreshed = json.dumps(slack.home_views[ADMIN])
    for shown in ("<#C1>", f"<@{SPANISH_T2}>", "<!subteam^S0GROUP1>", "7 dias"):
        assert shown in refreshed
    # The other workspace saved nothing and keeps the defaults.
    assert await store.workspace_settings(T3) is None
    other = await askcall.askcall.configs.config_of(T3)
    assert other.max_per_rep_per_hour == askcall.askcall.settings.max_requests_per_rep_per_hour
    assert other.allowed_channels == frozenset() and other.language == "pt-BR"


async def test_the_default_language_budget_and_access_change_in_that_workspace_only(
    askcall: MultiServer, slack: FakeSlack, pilot: FakePilotStatus
) -> None:
    running, url = askcall.askcall, askcall.url
    for tenant in (T2, T3):
        assert running.connect is not None
        assert isinstance(await running.connect.connect(tenant, pilot.api_key), Connected)
    pt_header, en_header = Translator("pt-BR").t("home.header"), Translator("en").t("home.header")
    assert pt_header in json.dumps(await open_home(url, slack, SPANISH_T2), ensure_ascii=False)

    values = workspace_values(channels=("C1",), users=(SPANISH_T2,), groups="", contact="")
    assert await submit(url, WORKSPACE_VIEW, values, ADMIN) == {}

    # Language: the Spanish-speaking rep of T2 now gets English, T3's still gets Portuguese.
    assert en_header in json.dumps(await open_home(url, slack, SPANISH_T2))
    assert pt_header in json.dumps(await open_home(url, slack, SPANISH_T3, "T3"), ensure_ascii=False)

    # Budget: one request an hour in T2; T3 keeps the default.
    async def ask(tenant: TenantId, user: str, n: int) -> None:
        await running.requests.submit(
            tenant,
            source_key=None,
            team_id=tenant,
            channel_id="C1",
            user_id=user,
            phone_e164=f"+55119876540{n:02d}",
            reason="",
            lang="pt-BR",
            response_url=None,
        )

    await ask(T2, SPANISH_T2, 1)
    with pytest.raises(BudgetSpent):
        await ask(T2, SPANISH_T2, 2)
    await ask(T3, SPANISH_T3, 3)
    await ask(T3, SPANISH_T3, 4)

    # Access: T2 allows one rep in one channel; T3 everyone everywhere.
    access = AccessPolicy(running.configs, running.slack_client, running.installations)
    tr = Translator("en")
    assert await access.refusal(T2, SPANISH_T2, "C1", tr) is None
    assert await access.refusal(T2, REP, "C1", tr) is not None
    assert await access.refusal(T2, SPANISH_T2, "C2", tr) is not None
    assert await access.refusal(T3, REP, "C2", tr) is None


async def test_an_admin_picks_which_channels_use_which_number(
    askcall: MultiServer, slack: FakeSlack, pilot: FakePilotStatus
) -> None:
    running, url = askcall.askcall, askcall.url
    assert running.connect is not None
    for name in ("default", "rj"):
        assert isinstance(await running.connect.connect(T2, pilot.api_key, name=name), Connected)
    home = json.dumps(await open_home(url, slack, ADMIN))
    assert NUMBERS_ACTION in home
    modal = await open_modal(url, slack, ADMIN, NUMBERS_ACTION)
    assert modal["callback_id"] == NUMBERS_VIEW
    assert {b.get("block_id") for b in modal["blocks"]} >= {NUMBER_BLOCK_PREFIX + "default", NUMBER_BLOCK_PREFIX + "rj"}

    def picked(default: list[str], rj: list[str]) -> dict[str, Any]:
        return {
            NUMBER_BLOCK_PREFIX + name: {
                NUMBER_INPUT: {"type": "multi_conversations_select", "selected_conversations": chosen}
            }
            for name, chosen in (("default", default), ("rj", rj))
        }

    # One channel on two numbers: refused under the second, nothing saved.
    answer = await submit(url, NUMBERS_VIEW, picked(["C1"], ["C1", "C2"]), ADMIN)
    assert answer["response_action"] == "errors" and set(answer["errors"]) == {NUMBER_BLOCK_PREFIX + "rj"}
    assert all(n.channels == () for n in await running.store.workspace_numbers(T2))
    # A rep's forged one changes nothing either.
    assert (await submit(url, NUMBERS_VIEW, picked([], ["C1"]), REP))["response_action"] == "errors"
    assert all(n.channels == () for n in await running.store.workspace_numbers(T2))

    # T3's admin naming T2's numbers: T3 has none of that name, so nothing anywhere changes.
    assert await submit(url, NUMBERS_VIEW, picked(["C7"], ["C8"]), ADMIN, "T3") == {}
    assert all(n.channels == () for n in await running.store.workspace_numbers(T2))
    assert await running.store.workspace_numbers(T3) == []

    assert await submit(url, NUMBERS_VIEW, picked([], ["C1", "C2"]), ADMIN) == {}
    config = await running.configs.config_of(T2)
    assert [config.number_for_channel(c).name for c in ("C1", "C2", "C5")] == ["rj", "rj", "default"]  # type: ignore[union-attr]
    # Connecting a number with a name that isn't one is refused in the modal, before Pilot Status is asked.
    view = await open_modal(url, slack, ADMIN, CONNECT_ACTION)
    values = {
        KEY_BLOCK: {KEY_INPUT: {"type": "plain_text_input", "value": pilot.api_key}},
        NAME_BLOCK: {NAME_INPUT: {"type": "plain_text_input", "value": "Rio de Janeiro"}},
    }
    answer = await submit(url, CONNECT_VIEW, values, ADMIN, view_id=view["id"])
    assert answer["response_action"] == "errors" and set(answer["errors"]) == {NAME_BLOCK}


async def test_connecting_acks_at_once_while_pilot_status_is_slow(
    askcall: MultiServer, slack: FakeSlack, pilot: FakePilotStatus
) -> None:
    running, url = askcall.askcall, askcall.url
    pilot.script("GET", "/v1/calls/settings", delay=SLOW_PILOT_STATUS)
    view = await open_modal(url, slack, ADMIN, CONNECT_ACTION)
    values = {KEY_BLOCK: {KEY_INPUT: {"type": "plain_text_input", "value": pilot.api_key}}}

    answer = await submit(url, CONNECT_VIEW, values, ADMIN, view_id=view["id"])

    # The answer came while Pilot Status was still thinking: a "checking…" view, nothing registered yet.
    assert answer["response_action"] == "update" and "submit" not in answer["view"]
    assert pilot.webhooks == {} and await running.store.workspace_numbers(T2) == []
    # Then the outcome replaced it: the paste-the-secret step.
    await slack.wait_for(
        lambda: any(
            c.args.get("view_id") == view["id"] and c.args["view"]["callback_id"] == SECRET_VIEW
            for c in slack.calls_to("views.update")
        ),
        timeout=SLOW_PILOT_STATUS * 4,
    )
    assert len(await running.store.workspace_numbers(T2)) == 1 and len(pilot.webhooks) == 1


async def test_when_pilot_status_is_down_the_form_says_so_in_place_and_nothing_is_saved(
    askcall: MultiServer, slack: FakeSlack, pilot: FakePilotStatus
) -> None:
    running, url = askcall.askcall, askcall.url
    pilot.script("GET", "/v1/calls/settings", status=503, times=20)
    view = await open_modal(url, slack, ADMIN, CONNECT_ACTION)
    values = {KEY_BLOCK: {KEY_INPUT: {"type": "plain_text_input", "value": pilot.api_key}}}

    answer = await submit(url, CONNECT_VIEW, values, ADMIN, view_id=view["id"])

    assert answer["response_action"] == "update"
    await slack.wait_for(lambda: any(c.args.get("view_id") == view["id"] for c in slack.calls_to("views.update")))
    (shown,) = [c.args["view"] for c in slack.calls_to("views.update") if c.args.get("view_id") == view["id"]]
    text = json.dumps(shown, ensure_ascii=False)
    assert shown["callback_id"] == CONNECT_VIEW and Translator("pt-BR").t("settings.try_again") in text
    assert Translator("pt-BR").t("connect.error") in text
    assert any(b.get("block_id") == KEY_BLOCK for b in shown["blocks"])  # it can be sent again
    assert await running.store.workspace_numbers(T2) == [] and pilot.webhooks == {}


async def add_closed_request(store: Store, tenant: TenantId, n: int, days_old: float) -> int:
    request_id, _ = await store.create_request(
        NewRequest(tenant, f"C{tenant}", "U1", f"+55119876541{n:02d}", "motivo", "pt-BR"),
        NewDelivery(f"{tenant}-{n}:parent", "parent", {"channel": f"C{tenant}", "text": "x"}),
    )
    assert await store.transition(tenant, request_id, ["new"], "failed", error_code="HTTP 401")
    await store.update_request(tenant, request_id, created_at=time.time() - days_old * DAY)
    return request_id


async def test_each_workspace_is_purged_after_its_own_retention_period(askcall: MultiServer) -> None:
    running = askcall.askcall
    store = running.store
    await store.save_workspace_settings(WorkspaceSettings(tenant_id=T2, retention_days=7))
    await store.save_workspace_settings(WorkspaceSettings(tenant_id=T3, retention_days=0))  # never
    running.configs.invalidate(None)
    old_t2 = await add_closed_request(store, T2, 1, days_old=10)
    young_t2 = await add_closed_request(store, T2, 2, days_old=3)
    old_t3 = await add_closed_request(store, T3, 3, days_old=400)

    counts = await purge_each_workspace(store, running.configs, time.time())

    assert counts.requests == 1
    phones = {r: (await store.get_request(t, r)).phone_e164 for t, r in ((T2, old_t2), (T2, young_t2), (T3, old_t3))}  # type: ignore[union-attr]
    assert phones == {old_t2: "", young_t2: "+5511987654102", old_t3: "+5511987654103"}

    # A change in Settings applies at the retention loop's next run: T3 now keeps a year.
    await store.save_workspace_settings(WorkspaceSettings(tenant_id=T3, retention_days=365))
    running.configs.invalidate(T3)
    loop = asyncio.create_task(retention_loop(store, 0, interval=0.05, configs=running.configs))
    try:
        for _ in range(200):
            request = await store.get_request(T3, old_t3)
            if request is not None and request.phone_e164 == "":
                break
            await asyncio.sleep(0.02)
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)
    assert (await store.get_request(T3, old_t3)).phone_e164 == ""  # type: ignore[union-attr]
    assert (await store.get_request(T2, young_t2)).phone_e164 == "+5511987654102"  # type: ignore[union-attr]


async def test_single_workspace_mode_shows_the_environment_read_only(server: Server, slack: FakeSlack) -> None:
    slack.admins.add("UADMIN")
    home = await open_home(server.url, slack, "UADMIN", "T1")
    text = json.dumps(home, ensure_ascii=False)
    settings = server.askcall.settings
    assert f"{settings.max_requests_per_rep_per_hour} pedidos por hora" in text
    assert f"{settings.retention_days} dias" in text
    for action in (CONNECT_ACTION, WORKSPACE_ACTION, NUMBERS_ACTION):
        assert action not in text
    # Even an admin's forged click opens nothing, and a forged submission changes nothing.
    before = len(slack.views)
    status, _ = await interact(server.url, click("UADMIN", WORKSPACE_ACTION, slack.trigger_id(), "T1"))
    assert status == 200
    answer = await submit(server.url, WORKSPACE_VIEW, workspace_values(), "UADMIN", "T1")
    assert answer["response_action"] == "errors"
    await asyncio.sleep(0.2)  # nothing to wait for: a modal that opened would be there by now
    assert len(slack.views) == before
    assert await server.askcall.store.workspace_settings(server.askcall.env_tenant) is None  # type: ignore[arg-type]
    config = await server.askcall.configs.config_of(server.askcall.env_tenant)  # type: ignore[arg-type]
    assert config.max_per_rep_per_hour == settings.max_requests_per_rep_per_hour


def admin_checks(slack: FakeSlack, user: str) -> int:
    """The users.info calls that asked whether `user` is an admin (the locale lookups ask with include_locale)."""
    return sum(1 for c in slack.calls_to("users.info") if c.args.get("user") == user and "include_locale" not in c.args)


async def test_slacks_admin_answer_is_cached_per_workspace_and_asked_again_after_a_reinstall(
    askcall: MultiServer, slack: FakeSlack
) -> None:
    url = askcall.url
    for _ in range(3):
        assert WORKSPACE_ACTION not in json.dumps(await open_home(url, slack, REP))
    assert admin_checks(slack, REP) == 1
    # The same user id in the other workspace is another person: asked there too.
    await open_home(url, slack, REP, "T3")
    assert admin_checks(slack, REP) == 2

    # Made an admin: the cached answer stands for its minute, unless AskCall is reinstalled (a new token).
    slack.admins.add(REP)
    assert WORKSPACE_ACTION not in json.dumps(await open_home(url, slack, REP))
    async with browser() as http:
        status, _ = await install(http, url, "T2")
    assert status == 200
    assert WORKSPACE_ACTION in json.dumps(await open_home(url, slack, REP))
    assert admin_checks(slack, REP) == 3
