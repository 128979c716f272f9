"""`/askcall` over HTTP in fewer steps than Bolt's dispatch, with the same outcome (issue 19).

Invariant: only a slash command `/askcall` that authorize finds an installation for takes this path, and it runs
what Bolt runs for it, in the same order: Bolt's request context (`AsyncApp._init_context`), authorize (the app's
own, `InstalledAuthorize`: tenant, token and client set as Bolt sets them), the access check (bot.listeners.access),
the listener (bot.listeners.commands); a failure answers 500 as Bolt's listener runner does. Anything else — another
payload, a workspace authorize doesn't find, authorize failing — goes to Bolt unchanged. What it leaves out is
only Bolt's machinery around those steps: matching the request against every listener and building every
middleware's and listener's keyword arguments, about a tenth of a command's CPU. Like the rest of the HTTP path, it
sees only requests `bot.listeners.inbound` verified and checked; Socket Mode goes through Bolt.
"""

from __future__ import annotations

import logging

from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization.async_authorize import AsyncAuthorize
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot.listeners.access import refusal_response
from bot.listeners.commands import COMMAND, handle_askcall
from bot.listeners.context import ListenerContext

log = logging.getLogger(__name__)


class DirectCommand:
    def __init__(self, app: AsyncApp, authorize: AsyncAuthorize, ctx: ListenerContext) -> None:
        self._app = app
        self._authorize = authorize
        self._ctx = ctx

    async def dispatch(self, req: AsyncBoltRequest) -> BoltResponse:
        """The response to a verified Slack request: `/askcall` here, everything else from Bolt."""
        if req.body.get("command") != COMMAND:
            return await self._app.async_dispatch(req)
        self._app._init_context(req)  # logger, a client per request (Bolt's own step)
        context = req.context
        try:
            result = await self._authorize(
                context=context,
                enterprise_id=context.enterprise_id,
                team_id=context.team_id,
                user_id=context.user_id,
            )
        except Exception:  # Bolt's to answer (and log), as it would
            result = None
        if result is None:  # not installed there: Bolt's own answer (authorize asks the installations' cache again)
            return await self._app.async_dispatch(req)
        # What Bolt's authorization middleware does with the result.
        context.set_authorize_result(result)
        token = result.bot_token or result.user_token
        context["token"] = token
        context.client.token = token
        ack = context.ack
        try:
            refused = await refusal_response(req.body, ack, context.respond, context, self._ctx)
            if refused is not None:
                return refused
            await handle_askcall(ack, req.body, context.respond, self._ctx, context)  # type: ignore[arg-type]
        except Exception:
            # Bolt's listener runner: the error logged, the response a 500 whatever was acked before.
            log.exception("the /askcall command failed")
            return BoltResponse(status=500, body="")
        if ack.response is None:  # every path of the listener acks: never, unless it changes
            log.warning("the /askcall command was not acknowledged")
            return BoltResponse(status=404, body={"error": "unhandled request"})
        return ack.response
