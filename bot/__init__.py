"""AskCall: asks customers over WhatsApp (Pilot Status) for permission to call them, from Slack.

`__version__` is the release (semantic versioning: CHANGELOG.md); pyproject.toml reads it from here.
"""

__version__ = "0.2.0"
