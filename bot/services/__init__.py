"""What AskCall does: the layer between the inbound adapters that call the services (bot.web, bot.listeners)
and the outbound adapters (bot.slack, bot.pilot_status) and the store they use. A service never imports
anything above it, nor Bolt, nor an HTTP server (the contracts in pyproject.toml)."""
