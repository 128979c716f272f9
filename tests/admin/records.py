"""Consent records built through the real flow: AskCall in-process, the fakes as Slack and Pilot Status."""

from __future__ import annotations

import time
from dataclasses import dataclass

from bot.config import Settings
from bot.domain import Request, RequestState
from bot.fakes.pilot_status import FakePilotStatus, iso_timestamp
from bot.fakes.slack import FakeSlack
from bot.store import open_store
from tests.conftest import Server, start_server, stop_server
from tests.tenants import TENANT

PERMISSION_REQUEST = "/v1/calls/permissions/request"
DAY = 24 * 3600


@dataclass(frozen=True)
class Customer:
    phone: str  # as the rep types it
    e164: str
    masked: str
    reason: str
    user: str

    @property
    def digits(self) -> str:
        return self.e164.lstrip("+")


GRANTED = Customer("+55 11 98765-4321", "+5511987654321", "+55 11 9••••-4321", "Fechar o pedido 42", "UA")
DENIED = Customer("+55 21 99876-5432", "+5521998765432", "+55 21 9••••-5432", "Renovar contrato", "UB")
FAILED = Customer("+55 31 98888-7777", "+5531988887777", "+55 31 9••••-7777", "Proposta nova", "UC")
WAITING = Customer("+55 11 91234-5678", "+5511912345678", "+55 11 9••••-5678", "=2+3 ligar amanhã", "UD")


async def ask(server: Server, customer: Customer) -> None:
    sent = len(server.pilot.requests_to("POST", PERMISSION_REQUEST))
    response = await server.command(f"{customer.phone} {customer.reason}", user_id=customer.user)
    assert response.status == 200
    await server.slack.wait_for(lambda: len(server.pilot.requests_to("POST", PERMISSION_REQUEST)) > sent)
    await server.wait_idle()


def answer_timestamp() -> str:
    """The Pilot Status timestamp of the answers: a minute ago, read when the records are built (not when this
    module is imported: an answer stamped before its request, beyond the clock skew allowed, matches nothing)."""
    return iso_timestamp(time.time() - 60)


async def answer(server: Server, customer: Customer, status: str, timestamp: str) -> None:
    code, text = await server.answer(customer.digits, status, timestamp=timestamp)
    assert code == 200, text
    await server.wait_idle()


async def build_records(
    settings: Settings, slack: FakeSlack, pilot: FakePilotStatus, answered: str | None = None
) -> dict[str, Request]:
    """Four requests: granted (TEMPORARY), denied, failed at Pilot Status, still waiting, the two answers stamped
    `answered` (default `answer_timestamp()`). AskCall is stopped afterwards; returns the stored requests by name."""
    answered = answered or answer_timestamp()
    server = await start_server(settings, slack, pilot)
    try:
        for customer in (GRANTED, DENIED):
            await ask(server, customer)
        pilot.script(
            "POST",
            PERMISSION_REQUEST,
            status=400,
            body={"error": "Meta limits apply", "code": "META_CALL_PERMISSION_REQUEST_LIMIT"},
        )
        await ask(server, FAILED)
        await ask(server, WAITING)
        await answer(server, GRANTED, "TEMPORARY", answered)
        await answer(server, DENIED, "NO_PERMISSION", answered)
    finally:
        await stop_server(server)
    return await requests_by_name(settings.database.url)


async def requests_by_name(url: str) -> dict[str, Request]:
    names = {GRANTED.user: "granted", DENIED.user: "denied", FAILED.user: "failed", WAITING.user: "waiting"}
    store = await open_store(url)
    try:
        every = await store.requests_in_state(*RequestState)
    finally:
        await store.close()
    return {names.get(r.user_id, r.user_id): r for r in every}


async def backdate(url: str, request_ids: list[int], days: float) -> None:
    store = await open_store(url)
    try:
        for request_id in request_ids:
            then = time.time() - days * DAY
            await store.update_request(TENANT, request_id, created_at=then, sent_at=then)
    finally:
        await store.close()
