"""What listeners need from the rest of the app, passed in explicitly (no globals)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.i18n import Translator
from bot.services.requests import RequestService
from bot.services.validation import Problem
from bot.slack.messages import escape_mrkdwn
from bot.tasks import Tasks

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ListenerContext:
    settings: Settings
    requests: RequestService
    tasks: Tasks
    client: AsyncWebClient

    def translator(self) -> Translator:
        return Translator(self.settings.language)


def problem_text(tr: Translator, problem: Problem) -> str:
    values = {k: escape_mrkdwn(str(v)) for k, v in problem.values.items()}
    return tr.t(problem.message_key, **values)
