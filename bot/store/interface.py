"""The store's interface: what AskCall asks of its database, one concern per module, put together.

`Store` is the composition of the per-concern interfaces (`bot.store.requests`, `.events`,
`.deliveries`, `.reminders`, `.preferences`, `.records`, `.leases`, `.admin`, `.calls`,
`.workspaces`, `.installations`, `.workspace_settings`, on top of `.connection`), the same split as each
backend's package; the values that cross it are in `bot.store.types`.
"""

from __future__ import annotations

from bot.store.admin import AdminStore
from bot.store.calls import CallStore
from bot.store.deliveries import DeliveryStore
from bot.store.events import EventStore
from bot.store.installations import InstallationStore
from bot.store.leases import LeaseStore
from bot.store.preferences import PreferenceStore
from bot.store.records import RecordStore
from bot.store.reminders import ReminderStore
from bot.store.requests import RequestStore
from bot.store.workspace_settings import WorkspaceSettingsStore
from bot.store.workspaces import WorkspaceStore


class Store(
    RequestStore,
    EventStore,
    DeliveryStore,
    ReminderStore,
    PreferenceStore,
    RecordStore,
    LeaseStore,
    AdminStore,
    CallStore,
    WorkspaceStore,
    InstallationStore,
    WorkspaceSettingsStore,
):
    """What AskCall asks of its database.

    The store is the source of truth. Requests, webhook events and outgoing Slack messages
    ("deliveries") are written here before anything is acknowledged or sent, and every worker reads
    its work back from here, so a crash at any point leaves a state that start-up resumes.

    Every backend (one package each: `bot.store.sqlite`, `bot.store.postgres`) gives the same
    guarantees, proven by one contract test suite run against each:
    - each method is one transaction: it happens whole or not at all;
    - guarded steps (`transition`, `settle_webhook_event`, `complete_reminder`, `claim_action`) act
      once, however many callers race them, in this process or another;
    - no network call ever happens inside a transaction.
    Nothing outside a backend's package sees its driver's types (rows, connections, errors).

    Work is claimed with leases. A store instance belongs to one process, its `owner`: claiming a
    job (a delivery, a request's send, a reminder, a webhook event) writes the owner and a time
    `lease_seconds` ahead. The owner renews its leases while it lives (`renew_leases`) and gives
    them up when it stops (`release_leases`); work whose lease ran out belongs to a dead process and
    is taken over by whoever sweeps first (`claim_abandoned_*`). A live process's work is never
    touched, so replicas never share a job and a restart never redoes a live one.

    Every row of a workspace's data belongs to its tenant (`tenant_id`). A method that reads or writes such rows
    takes the tenant first (or a value that carries it: `NewRequest`, `IncomingEvent`, `Delivery`, `WebhookEvent`,
    `Workspace`) and its SQL filters by it, so a caller can't reach another workspace's rows even by guessing an
    id; every record handed back carries its tenant. The methods that work across tenants by nature (claiming due
    work, sweeps, leases, retention, the operator's commands) are listed, with why, in
    tests/store/test_tenancy_contract.py, which walks this interface.
    """
