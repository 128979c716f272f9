"""App Home's Settings section and its modals (bot/slack/settings.py): valid Block Kit in every language (checked by
the fake Slack's validator, as strict as Slack), within their block budget, filled in with the current values,
and never a key or a secret."""

from __future__ import annotations

import json

import pytest

from bot.config import DEFAULT_NUMBER, WhatsAppNumber
from bot.fakes import blockkit
from bot.i18n import LANGUAGES, Translator
from bot.slack.settings import (
    BUDGET_BLOCK,
    CONNECT_ACTION,
    MAX_BUDGET,
    MAX_LISTED,
    MAX_SETTINGS_BLOCKS,
    NUMBER_BLOCK_PREFIX,
    NUMBERS_ACTION,
    SECRET_ACTION,
    WORKSPACE_ACTION,
    NumberShown,
    checking_modal,
    connect_modal,
    numbers_modal,
    secret_modal,
    settings_blocks,
    submitted_ids,
    submitted_text,
    workspace_modal,
)
from bot.tenant_config import TenantConfig

NUMBERS = [
    NumberShown(f"n{k}", f"https://askcall.example/webhooks/pilot-status/t/tok{k}", k % 2 == 0, ("C1", f"C2{k}"))
    for k in range(9)
]
DEFAULTS = TenantConfig("pt-BR", 30, 180, frozenset(), frozenset(), frozenset(), "", ())
SET = TenantConfig(
    "en",
    0,
    0,
    frozenset({"C1", "G2"}),
    frozenset({"U1"}),
    frozenset({"S1", "S2"}),
    "<#C9>",
    (WhatsAppNumber(DEFAULT_NUMBER, "ps_key_never_shown", "whsec_never_shown"),),
)


def home(blocks: list[dict[str, object]]) -> dict[str, object]:
    return {"type": "home", "blocks": blocks}


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("numbers", [[], NUMBERS[:1], NUMBERS])
@pytest.mark.parametrize("config", [DEFAULTS, SET])
def test_the_section_is_valid_and_within_its_budget(
    lang: str, numbers: list[NumberShown], config: TenantConfig
) -> None:
    tr = Translator(lang)
    for read_only in (False, True):
        blocks = settings_blocks(tr, numbers, config, read_only=read_only)
        assert blockkit.view_error(home(blocks)) is None
        assert len(blocks) <= MAX_SETTINGS_BLOCKS
    editable = json.dumps(settings_blocks(tr, numbers, config, read_only=False))
    assert CONNECT_ACTION in editable and WORKSPACE_ACTION in editable
    assert (SECRET_ACTION in editable) == bool(numbers) and (NUMBERS_ACTION in editable) == bool(numbers)
    read_only = json.dumps(settings_blocks(tr, numbers, config, read_only=True))
    for action in (CONNECT_ACTION, WORKSPACE_ACTION, NUMBERS_ACTION, SECRET_ACTION):
        assert action not in read_only
    assert "tok" not in editable  # the webhook token is in the secret modal only, for the admin who connects
    for shown in (editable, read_only):
        assert "never_shown" not in shown


def test_the_section_tells_the_workspaces_settings() -> None:
    text = json.dumps(settings_blocks(Translator("en"), NUMBERS[:1], SET, read_only=True))
    for part in ("English", "no limit", "never erase", "<#C1>", "<#G2>", "<@U1>", "<!subteam^S1>", "<#C20>"):
        assert part in text
    text = json.dumps(settings_blocks(Translator("pt-BR"), [], DEFAULTS, read_only=False), ensure_ascii=False)
    assert "30 pedidos por hora" in text and "180 dias" in text and "Português" in text


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_modals_are_valid_and_say_where_the_secret_is(lang: str) -> None:
    tr = Translator(lang)
    assert blockkit.view_error(connect_modal(tr)) is None
    refused = connect_modal(tr, problem=tr.t("connect.unreachable"))
    assert blockkit.view_error(refused) is None and "Pilot Status" in json.dumps(refused)
    assert blockkit.view_error(checking_modal(tr)) is None
    modal = secret_modal(tr, "default", "https://askcall.example/webhooks/pilot-status/t/tok")
    assert blockkit.view_error(modal) is None
    assert "Webhooks" in json.dumps(modal) and json.loads(modal["private_metadata"]) == {"number": "default"}


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("config", [DEFAULTS, SET])
def test_the_settings_modals_are_valid_and_filled_in(lang: str, config: TenantConfig) -> None:
    tr = Translator(lang)
    modal = workspace_modal(tr, config)
    assert blockkit.view_error(modal) is None
    budget = next(b for b in modal["blocks"] if b["block_id"] == BUDGET_BLOCK)
    assert budget["element"]["initial_value"] == str(config.max_per_rep_per_hour)
    assert ("initial_conversations" in json.dumps(modal)) == bool(config.allowed_channels)
    numbers = numbers_modal(tr, NUMBERS)
    assert blockkit.view_error(numbers) is None
    blocks = {b.get("block_id"): b for b in numbers["blocks"]}
    assert blocks[NUMBER_BLOCK_PREFIX + "n3"]["element"]["initial_conversations"] == ["C1", "C23"]


def test_the_fake_refuses_input_elements_slack_refuses() -> None:
    """The validator's own rules (slack_sdk doesn't check them): each breakage of a valid modal is refused."""
    tr = Translator("en")

    def broken(change: str) -> dict[str, object]:
        modal = workspace_modal(tr, SET)
        elements = {b["block_id"]: b["element"] for b in modal["blocks"]}
        budget, language = elements[BUDGET_BLOCK], elements["askcall_settings_language"]
        if change == "out of bounds":
            budget["initial_value"] = str(MAX_BUDGET + 1)
        elif change == "decimal":
            budget["initial_value"] = "1.5"
        elif change == "not a string":
            budget["min_value"] = 0
        elif change == "bounds crossed":
            budget["min_value"] = "10"
            budget["max_value"] = "5"
        elif change == "unknown option":
            language["initial_option"] = {"text": {"type": "plain_text", "text": "Español"}, "value": "es"}
        elif change == "too many":
            elements["askcall_settings_channels"]["initial_conversations"] = [f"C{k}" for k in range(MAX_LISTED + 1)]
        return modal

    assert blockkit.view_error(broken("nothing")) is None
    for change in ("out of bounds", "decimal", "not a string", "bounds crossed", "unknown option", "too many"):
        assert blockkit.view_error(broken(change)) is not None, change


def test_a_submission_not_shaped_as_slack_shapes_it_reads_as_empty() -> None:
    good = {"view": {"state": {"values": {"b": {"a": {"value": "7", "selected_users": ["U1"]}}}}}}
    assert submitted_text(good, "b", "a") == "7" and submitted_ids(good, "b", "selected_users", "a") == ("U1",)
    for forged in ({"view": {"state": []}}, {"view": {"state": {"values": {"b": "x"}}}}, {"view": "x"}, {}):
        assert submitted_text(forged, "b", "a") == "" and submitted_ids(forged, "b", "selected_users", "a") == ()
