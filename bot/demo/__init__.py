"""`askcall demo`: the whole app on this machine, composed with the loopback fakes of Slack and Pilot Status.

It sits above bot.app (cli → demo → app) and is the only production code that imports bot.fakes; nothing
below it imports it (the import contract in pyproject.toml). `command` is the CLI's part, `loop` plays the
request and the answer, `call` the browser call after it.
"""
