"""Loopback fakes of the external services AskCall talks to (Slack Web API, Pilot Status).

Shipped inside the package so the test-suite and ``askcall demo`` can share them.
"""

from bot.fakes.pilot_status import FakePilotStatus, permission_event, send_webhook, sign_pilot_status
from bot.fakes.slack import (
    FakeSlack,
    SlackCall,
    interaction_body,
    slack_signed_headers,
    slash_command_body,
    view_submission_payload,
)

__all__ = [
    "FakePilotStatus",
    "FakeSlack",
    "SlackCall",
    "interaction_body",
    "permission_event",
    "send_webhook",
    "sign_pilot_status",
    "slack_signed_headers",
    "slash_command_body",
    "view_submission_payload",
]
