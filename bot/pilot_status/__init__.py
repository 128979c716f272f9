"""Pilot Status API: client, typed errors, webhook verification and parsing."""

from bot.pilot_status.client import CallPermission, PilotStatusClient
from bot.pilot_status.errors import PilotStatusError

__all__ = ["CallPermission", "PilotStatusClient", "PilotStatusError"]
