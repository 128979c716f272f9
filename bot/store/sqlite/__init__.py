"""The SQLite backend (aiosqlite): the embedded default, for one AskCall process.

Queries are grouped by what they manage, one module each; `SQLiteStore` puts them together.
Nothing outside this package sees sqlite3 or aiosqlite types.
"""

from __future__ import annotations

from bot.store.sqlite.admin import AdminQueries
from bot.store.sqlite.calls import CallQueries
from bot.store.sqlite.deliveries import DeliveryQueries
from bot.store.sqlite.events import EventQueries
from bot.store.sqlite.installations import InstallationQueries
from bot.store.sqlite.leases import LeaseQueries
from bot.store.sqlite.preferences import PreferenceQueries
from bot.store.sqlite.records import RecordQueries
from bot.store.sqlite.reminders import ReminderQueries
from bot.store.sqlite.requests import RequestQueries
from bot.store.sqlite.workspace_settings import WorkspaceSettingsQueries
from bot.store.sqlite.workspaces import WorkspaceQueries


class SQLiteStore(
    RequestQueries,
    EventQueries,
    DeliveryQueries,
    ReminderQueries,
    PreferenceQueries,
    RecordQueries,
    LeaseQueries,
    AdminQueries,
    CallQueries,
    WorkspaceQueries,
    InstallationQueries,
    WorkspaceSettingsQueries,
):
    """AskCall's store in one SQLite file (WAL)."""


__all__ = ["SQLiteStore"]
