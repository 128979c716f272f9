"""The PostgreSQL backend (asyncpg): for several AskCall replicas sharing one database.

Queries are grouped by what they manage, one module each; `PostgresStore` puts them together.
Nothing outside this package sees asyncpg types.
"""

from __future__ import annotations

from bot.store.postgres.admin import AdminQueries
from bot.store.postgres.calls import CallQueries
from bot.store.postgres.deliveries import DeliveryQueries
from bot.store.postgres.events import EventQueries
from bot.store.postgres.installations import InstallationQueries
from bot.store.postgres.leases import LeaseQueries
from bot.store.postgres.preferences import PreferenceQueries
from bot.store.postgres.records import RecordQueries
from bot.store.postgres.reminders import ReminderQueries
from bot.store.postgres.requests import RequestQueries
from bot.store.postgres.workspace_settings import WorkspaceSettingsQueries
from bot.store.postgres.workspaces import WorkspaceQueries


class PostgresStore(
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
    """AskCall's store in a PostgreSQL database, shared by any number of replicas."""


__all__ = ["PostgresStore"]
