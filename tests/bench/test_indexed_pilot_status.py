"""The bench's fake Pilot Status (bench/fakes.py) indexes each account's permission requests by customer: its
accounts are the indexed kind, and its answers on Meta's limits are the plain fake's, read from the index."""

from __future__ import annotations

import httpx

from bench.fakes import IndexedAccount, IndexedFakePilotStatus
from bot.fakes.pilot_status import FakePilotStatus

REQUEST, PROBE = "/v1/calls/permissions/request", "/v1/calls/permissions"
CUSTOMERS = ("+5511999999999", "+5511999999998", "+5511999999999")


async def limits_seen(fake: FakePilotStatus) -> list[object]:
    async with httpx.AsyncClient(base_url=fake.base_url, headers={"x-api-key": "ps_bench"}) as client:
        sent = [(await client.post(REQUEST, json={"to": to})).status_code for to in CUSTOMERS]
        probed = [(await client.get(PROBE, params={"to": to})).json()["actions"][0] for to in CUSTOMERS[:2]]
    return [sent, probed]


async def test_the_indexed_fake_answers_as_the_plain_one_from_its_index() -> None:
    async with (
        IndexedFakePilotStatus(api_key="ps_bench", window=False) as indexed,
        FakePilotStatus(api_key="ps_bench", window=False) as plain,
    ):
        other = indexed.add_account("ps_other", "5521000000000", "whsec_other")
        assert isinstance(indexed.default, IndexedAccount) and isinstance(other, IndexedAccount)
        seen = await limits_seen(indexed)
        assert seen == await limits_seen(plain)
        assert seen[0] == [200, 200, 400]  # the second request to the same customer within 24 h is refused
        assert {n: len(r) for n, r in indexed.default.permission_requests.by_number.items()} == {
            CUSTOMERS[0]: 1,
            CUSTOMERS[1]: 1,
        }
