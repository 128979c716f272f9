from __future__ import annotations

from tests.conftest import CHANNEL, Server


async def test_happy_path(server: Server) -> None:
    response = await server.command("+55 (11) 98765-4321 Podemos te ligar para fechar o pedido?")
    assert response.status == 200
    slack, pilot = server.slack, server.pilot
    await slack.wait_for(lambda: len(pilot.permission_requests) == 1)
    assert pilot.permission_requests[0].to == "+5511987654321"
    parent = slack.channel_messages(CHANNEL)[0]
    status, _ = await server.answer("5511987654321", "TEMPORARY")
    assert status == 200
    await slack.wait_for(lambda: len(slack.thread_replies(CHANNEL, parent["ts"])) == 1)
    await server.wait_idle()
    print(slack.summary())
    print(slack.thread_replies(CHANNEL, parent["ts"]))
    print(slack.updates)
