"""Helpers shared by the store tests: a request with its parent delivery, a reply delivery."""

from __future__ import annotations

from typing import Any

from bot.domain import RequestState
from bot.store import NewDelivery, Store

CUSTOMER = "+5531988887777"
ANSWER_AT = 1_800_000_000.0
FAR_FUTURE = 4_000_000_000.0


_counter = iter(range(1, 1_000_000))


async def new_request(
    store: Store,
    *,
    phone: str = CUSTOMER,
    source_key: str | None = None,
    state: RequestState | None = None,
    created_at: float | None = None,
    **kwargs: Any,
) -> int:
    n = next(_counter)
    request_id, created = await store.create_request(
        source_key=source_key if source_key is not None else f"src-{n}",
        team_id="T1",
        channel_id="C1",
        user_id="U1",
        phone_e164=phone,
        reason="Podemos te ligar?",
        lang="pt-BR",
        response_url=None,
        parent=NewDelivery(f"parent-{n}", "parent", {"channel": "C1", "text": f"request {n}"}),
        **kwargs,
    )
    assert created
    if state is not None:
        await store.update_request(request_id, state=state)
    if created_at is not None:
        await store.update_request(request_id, created_at=created_at)
    return request_id


def reply(key: str) -> NewDelivery:
    return NewDelivery(key, "reply", {"channel": "C1", "thread_ts": "1.0", "text": key})
