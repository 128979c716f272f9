"""The loopback fakes (bot.fakes) in their own processes, each with a small control API for the bench.

    python -m bench.fakes slack   # FakeSlack; control: GET /calls, GET /count
    python -m bench.fakes pilot   # FakePilotStatus; control: POST /delay, GET /stats

Each prints one JSON line (its URLs) once it listens, and runs until SIGTERM. The control API is
served on its own port so that it never shows up in the fakes' own request logs.

The fakes were written for tests, where a linear scan of what they stored is free. Under load it is
not: tens of thousands of messages and permission requests would make the fakes, not AskCall, the
bottleneck (they share the machine's cores). The subclasses below index those lookups, skip the fake
Slack's Block Kit validation, and otherwise behave exactly like `bot.fakes`.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from aiohttp import web

from bench.common import (
    PILOT_API_KEY,
    SLACK_TOKEN,
    WEBHOOK_SECRET,
    WORKSPACES,
    Served,
    steady_clock_servers,
    workspace_team,
    workspace_token,
)
from bot.fakes.pilot_status import FakePilotStatus, PermissionRequestRecord, PilotAccount
from bot.fakes.slack import FakeSlack, SlackCall

PERMISSION_REQUEST = "/v1/calls/permissions/request"
FOREVER = 10**9


class MessageLog(list[dict[str, Any]]):
    """FakeSlack.messages, also indexed by (channel, ts)."""

    def __init__(self) -> None:
        super().__init__()
        self.by_key: dict[tuple[str, str], dict[str, Any]] = {}

    def append(self, message: dict[str, Any]) -> None:
        super().append(message)
        self.by_key.setdefault((message["channel"], message["ts"]), message)


class IndexedFakeSlack(FakeSlack):
    def __init__(self, **kwargs: Any) -> None:
        # Block Kit validation (about 0.6 ms of CPU a message) would take cores from AskCall under load;
        # the test-suite validates every payload AskCall produces, so the bench needs not. Slack's posting rate
        # and response_url limits are off too: the bench measures AskCall (the tests hold it to those limits).
        super().__init__(validate_blocks=False, limits=False, **kwargs)
        self.messages: MessageLog = MessageLog()

    def find_message(self, channel: str, ts: str) -> dict[str, Any] | None:
        return self.messages.by_key.get((channel, ts))


class PermissionLog(list[PermissionRequestRecord]):
    """FakePilotStatus.permission_requests, also grouped by number."""

    def __init__(self) -> None:
        super().__init__()
        self.by_number: defaultdict[str, list[PermissionRequestRecord]] = defaultdict(list)

    def append(self, record: PermissionRequestRecord) -> None:
        super().append(record)
        self.by_number[record.to].append(record)


class IndexedAccount(PilotAccount):
    """A fake Pilot Status account whose permission requests are grouped by number, so the fake's limit checks
    read one customer's requests instead of scanning them all."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.permission_requests: PermissionLog = PermissionLog()

    def request_times(self, e164: str) -> list[float]:
        number = "+" + e164.strip().removeprefix("+")
        return sorted(r.at for r in self.permission_requests.by_number.get(number, []))


class IndexedFakePilotStatus(FakePilotStatus):
    account_type = IndexedAccount


def _matching(slack: FakeSlack, request: web.Request) -> Iterator[SlackCall]:
    """Calls from index `since`, filtered by `method`, `prefix` (channel) and `threaded` (0/1)."""
    since = int(request.query.get("since", "0"))
    method = request.query.get("method")
    prefix = request.query.get("prefix", "")
    threaded = request.query.get("threaded")
    for call in slack.calls[since:]:
        if method and call.method != method:
            continue
        channel = str(call.args.get("channel") or "")
        if not channel.startswith(prefix):
            continue
        if threaded is not None and bool(call.args.get("thread_ts")) != (threaded == "1"):
            continue
        yield call


def slack_control(slack: FakeSlack) -> web.Application:
    async def calls(request: web.Request) -> web.Response:
        rows = [
            {
                "method": c.method,
                "channel": c.args.get("channel"),
                "thread_ts": c.args.get("thread_ts"),
                "wall": c.wall,
                "outcome": c.outcome,
                "text": str(c.args.get("text") or "")[:300],
            }
            for c in _matching(slack, request)
        ]
        return web.json_response({"total": len(slack.calls), "calls": rows})

    async def count(request: web.Request) -> web.Response:
        ok_only = request.query.get("ok") == "1"
        n = sum(1 for c in _matching(slack, request) if not ok_only or c.outcome == "ok")
        return web.json_response({"total": len(slack.calls), "count": n})

    app = web.Application()
    app.router.add_get("/calls", calls)
    app.router.add_get("/count", count)
    return app


def pilot_control(pilot: FakePilotStatus) -> web.Application:
    async def delay(request: web.Request) -> web.Response:
        seconds = float(request.query.get("seconds", "0"))
        pilot.clear_scripts()
        if seconds > 0:
            pilot.script("POST", PERMISSION_REQUEST, delay=seconds, times=FOREVER)
        return web.json_response({"delay": seconds})

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(
            {"requests": len(pilot.requests), "permission_requests": len(pilot.permission_requests)}
        )

    app = web.Application()
    app.router.add_post("/delay", delay)
    app.router.add_get("/stats", stats)
    return app


async def run_slack(teams: int) -> None:
    slack = IndexedFakeSlack(token=SLACK_TOKEN)
    for index in range(teams):  # the workspaces of figure 1's multi-workspace variant, each with its own token
        team = workspace_team(index)
        slack.oauth.add_team(team)
        slack.oauth.grant(team, workspace_token(team))
    served = Served()
    slack.port = await served.serve(slack.app)  # the fake's URLs are built from `port`
    control = await served.serve(slack_control(slack))
    await served.run_until_terminated(
        {
            "api_url": slack.api_url,
            "response_url": slack.response_url("bench"),
            "control": f"http://127.0.0.1:{control}",
        }
    )


async def run_pilot() -> None:
    # The bench measures AskCall, not Meta's rules: every customer may be asked, as often as the load needs.
    pilot = IndexedFakePilotStatus(api_key=PILOT_API_KEY, webhook_secret=WEBHOOK_SECRET, limits=False, window=False)
    served = Served()
    pilot.port = await served.serve(pilot.app)
    control = await served.serve(pilot_control(pilot))
    await served.run_until_terminated({"base_url": pilot.base_url, "control": f"http://127.0.0.1:{control}"})


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fakes")
    parser.add_argument("which", choices=["slack", "pilot"])
    parser.add_argument("--teams", type=int, default=WORKSPACES, help="workspaces the fake Slack knows (slack)")
    args = parser.parse_args()
    steady_clock_servers()
    asyncio.run(run_slack(args.teams) if args.which == "slack" else run_pilot())


if __name__ == "__main__":
    main()
