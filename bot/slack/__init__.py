"""Slack's outbound side, below the services: the Block Kit builders (`messages`, `home`), the durable
delivery outbox (`notifier`, through `gateway`), links into the workspace, per-user language, and the scopes
AskCall needs. Slack's inbound side (Bolt listeners, request checks) is `bot.listeners`."""
