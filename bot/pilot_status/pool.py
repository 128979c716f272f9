"""One Pilot Status client per WhatsApp number (each number has its own number-scoped key)."""

from __future__ import annotations

from bot.config import Settings
from bot.pilot_status.client import PilotStatusClient


class PilotStatusPool:
    def __init__(self, settings: Settings) -> None:
        self._clients = {
            number.name: PilotStatusClient(
                base_url=settings.pilot_status_base_url,
                api_key=number.api_key,
                retry=settings.pilot_status_retry,
                timeout=settings.pilot_status_timeout,
            )
            for number in settings.numbers
        }

    def get(self, number_name: str) -> PilotStatusClient:
        return self._clients[number_name]

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
