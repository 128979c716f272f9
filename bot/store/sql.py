"""SQL that both backends run as it is, written once with named parameters.

Each statement is compiled at import (`bot.store.statement`) into SQLite's and PostgreSQL's
placeholders: a backend runs `X.sqlite` or `X.postgres` with the arguments in the order their names
first appear in the text. Fixed sets of states are written into the text (from the domain's enums),
so no backend needs an array or a list of placeholders for them.

Invariant: nothing here is specific to one database. Every statement on a workspace's rows filters by its tenant
(`tenant_id = :tenant`), except those that claim work or sweep across tenants and hand back rows carrying it.
What only one backend can run stays in its package, with the transaction flow and the DDL: PostgreSQL's row locks
(`FOR UPDATE SKIP LOCKED`), advisory locks and NOTIFY; SQLite's `INSERT OR IGNORE`, `MAX()` of two values and
single-trip transactions; and whatever takes a list of ids (an IN list there, an array here).
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.domain import (
    CANCELLED,
    CORRELATABLE_STATES,
    FINISHED_DELIVERIES,
    LIVE_CALL_STATES,
    OPEN_STATES,
    UNSENT_STATES,
    CallState,
    DeliveryState,
    EventResult,
    ReminderState,
    RequestState,
)
from bot.store.statement import statement
from bot.store.types import DATA_TABLES, LeasedTable


def _values(values: Iterable[str]) -> str:
    """`('a', 'b')`: a fixed set of the domain's values, written into the statement."""
    quoted = []
    for value in values:
        if "'" in value:
            raise ValueError(f"{value!r} can't be written into SQL")
        quoted.append(f"'{value}'")
    return f"({', '.join(quoted)})"


_OPEN_DELIVERIES = _values([DeliveryState.PENDING, DeliveryState.INFLIGHT])


def working(alias: str = "") -> str:
    """The row's tenant is not stopped (uninstalled, revoked or disabled): work claimed across tenants skips it."""
    column = f"{alias}.tenant_id" if alias else "tenant_id"
    return (
        f"{column} NOT IN (SELECT w.tenant_id FROM workspaces w"
        " WHERE w.uninstalled_at IS NOT NULL OR w.disabled_at IS NOT NULL)"
    )


# --- requests -------------------------------------------------------------------------------------
REQUEST = statement("SELECT * FROM requests WHERE tenant_id = :tenant AND id = :id")
REQUEST_BY_SOURCE_KEY = statement("SELECT id FROM requests WHERE tenant_id = :tenant AND source_key = :source_key")
INSERT_REQUEST = statement(
    """INSERT INTO requests (tenant_id, source_key, team_id, channel_id, user_id, phone_e164, phone_key, reason, lang,
           response_url, state, created_at, updated_at, thread_ts, number_name, phone_display)
       VALUES (:tenant, :source_key, :team_id, :channel_id, :user_id, :phone_e164, :phone_key, :reason, :lang,
           :response_url, :state, :now, :now, :thread_ts, :number_name, :phone_display)
       ON CONFLICT (tenant_id, source_key) DO NOTHING RETURNING id"""
)
# The rep's newest requests since the budget window opened: at most `budget` rows, however busy the rep.
BUDGET_SPENT = statement(
    """SELECT created_at FROM requests WHERE tenant_id = :tenant AND user_id = :user_id AND created_at > :since
       ORDER BY created_at DESC LIMIT :budget"""
)
OPEN_REQUEST_FOR_CUSTOMER = statement(
    f"""SELECT * FROM requests
        WHERE tenant_id = :tenant AND number_name = :number_name AND phone_key = :phone_key
          AND state IN {_values(OPEN_STATES)}
          AND created_at >= :since
        ORDER BY created_at DESC, id DESC LIMIT 1"""
)
CLAIM_REQUEST = statement(
    """UPDATE requests SET lease_owner = :owner, lease_until = :until
       WHERE tenant_id = :tenant AND id = :id AND state = :state
         AND (lease_owner IS NULL OR lease_owner = :owner OR lease_until < :now)
       RETURNING *"""
)
# READY or SENDING without a live lease, and NEW ones whose first delivery (the parent message) is done.
ABANDONED_REQUESTS = statement(
    f"""SELECT * FROM requests r
        WHERE {working("r")} AND (
            (r.state IN {_values([RequestState.READY, RequestState.SENDING])}
             AND (r.lease_owner IS NULL OR r.lease_until < :now))
            OR (r.state = '{RequestState.NEW}' AND EXISTS (
                SELECT 1 FROM deliveries d WHERE d.request_id = r.id AND d.state = '{DeliveryState.DONE}'
                  AND d.id = (SELECT MIN(f.id) FROM deliveries f WHERE f.request_id = r.id))))
        ORDER BY r.id LIMIT 200"""
)
REQUESTS_BY_USER = statement(
    """SELECT * FROM requests WHERE tenant_id = :tenant AND user_id = :user_id AND created_at >= :since
       ORDER BY created_at DESC, id DESC"""
)

# --- webhook events -------------------------------------------------------------------------------
EVENT_COLUMNS = """id, event, status, from_phone, to_phone, phone_key, event_ts, received_at,
                   processed_at, request_id, result, number_name, tenant_id"""
WEBHOOK_EVENT = statement(f"SELECT {EVENT_COLUMNS} FROM webhook_events WHERE tenant_id = :tenant AND id = :id")
UNPROCESSED_EVENTS = statement(
    f"""SELECT id, tenant_id, COALESCE(phone_key, '') FROM webhook_events WHERE processed_at IS NULL AND {working()}
        ORDER BY id"""
)
ABANDONED_EVENTS = statement(
    f"""SELECT id, tenant_id, COALESCE(phone_key, '') FROM webhook_events
       WHERE processed_at IS NULL AND (lease_owner IS NULL OR lease_until < :now) AND {working()}
       ORDER BY id LIMIT 500"""
)
NEXT_UNPROCESSED = statement(
    """SELECT id FROM webhook_events
       WHERE tenant_id = :tenant AND processed_at IS NULL AND number_name = :number_name AND phone_key = :phone_key
         AND id > :id
       ORDER BY id LIMIT 1"""
)
# The request an answer belongs to (the customer's most recent one it can reach), and its rep's DM wish.
ANSWER_TARGET = statement(
    f"""SELECT r.*, COALESCE(p.dm_answers, 0) AS dm_answers FROM requests r
        LEFT JOIN user_prefs p ON p.tenant_id = r.tenant_id AND p.user_id = r.user_id
        WHERE r.tenant_id = :tenant AND r.number_name = :number_name AND r.phone_key = :phone_key
          AND r.state IN {_values(CORRELATABLE_STATES)} AND r.created_at BETWEEN :earliest AND :latest
        ORDER BY r.created_at DESC, r.id DESC LIMIT 1"""
)
# Open an answer for this process: lease the event, in one statement, when it is unprocessed, not leased to another
# live process, the customer's oldest unprocessed one (answers apply in order) and its workspace is not stopped (left
# or disabled: the answer stays stored, acting on nothing). No row back: none of that holds.
OPEN_EVENT = statement(
    f"""UPDATE webhook_events SET lease_owner = :owner, lease_until = :until
        WHERE tenant_id = :tenant AND id = :id AND processed_at IS NULL
          AND (lease_owner IS NULL OR lease_owner = :owner OR COALESCE(lease_until, 0) < :now)
          AND NOT (COALESCE(phone_key, '') <> '' AND EXISTS (
              SELECT 1 FROM webhook_events e
              WHERE e.tenant_id = webhook_events.tenant_id AND e.processed_at IS NULL
                AND e.number_name = webhook_events.number_name AND e.phone_key = webhook_events.phone_key
                AND e.id < webhook_events.id))
          AND {working()}
        RETURNING {EVENT_COLUMNS}"""
)
SETTLE_UNMATCHED = statement(
    f"""UPDATE webhook_events SET processed_at = :now, result = '{EventResult.UNMATCHED}',
            lease_owner = NULL, lease_until = NULL
        WHERE id = :id AND processed_at IS NULL"""
)
SETTLE_EVENT = statement(
    """UPDATE webhook_events SET processed_at = :now, result = :result, request_id = :request_id,
           lease_owner = NULL, lease_until = NULL
       WHERE tenant_id = :tenant AND id = :id AND processed_at IS NULL
         AND (CAST(:request_id AS BIGINT) IS NULL OR EXISTS (SELECT 1 FROM requests r WHERE r.id = :request_id
                                             AND r.tenant_id = webhook_events.tenant_id))"""
)

# --- deliveries -----------------------------------------------------------------------------------
DELIVERY = statement("SELECT * FROM deliveries WHERE tenant_id = :tenant AND id = :id")
DELIVERY_FOR = statement(
    """SELECT * FROM deliveries WHERE tenant_id = :tenant AND request_id = :request_id AND kind = :kind
       ORDER BY id LIMIT 1"""
)
INFLIGHT_DELIVERIES = statement(f"SELECT * FROM deliveries WHERE state = '{DeliveryState.INFLIGHT}' ORDER BY id")
MARK_DELIVERY = statement(
    """UPDATE deliveries SET state = :state, updated_at = :now, lease_owner = NULL, lease_until = NULL,
           result_ts = COALESCE(:result_ts, result_ts),
           last_error = COALESCE(:last_error, last_error),
           next_attempt_at = COALESCE(:next_attempt_at, next_attempt_at),
           attempts = attempts + :attempts
       WHERE id = :id AND tenant_id = :tenant"""
)
REQUEST_HAS_PENDING = statement(
    f"SELECT 1 FROM deliveries WHERE request_id = :request_id AND state = '{DeliveryState.PENDING}' LIMIT 1"
)
# A delivery of no request (the installer's welcome DM): queued only for a recorded workspace that is not stopped,
# once per key.
ADD_WORKSPACE_DELIVERY = statement(
    """INSERT INTO deliveries
           (tenant_id, dedup_key, request_id, kind, payload, state, next_attempt_at, created_at, updated_at)
       SELECT tenant_id, :dedup_key, NULL, :kind, :payload, :state, :now, :now, :now FROM workspaces
       WHERE tenant_id = :tenant AND uninstalled_at IS NULL AND disabled_at IS NULL
       ON CONFLICT (tenant_id, dedup_key) DO NOTHING"""
)
OPEN_DELIVERY_COUNT = statement(f"SELECT COUNT(*) FROM deliveries WHERE state IN {_OPEN_DELIVERIES}")
POSTED_TS = statement("SELECT result_ts FROM deliveries WHERE tenant_id = :tenant AND dedup_key = :dedup_key")
POSTED_FOR = statement(
    "SELECT 1 FROM deliveries WHERE tenant_id = :tenant AND request_id = :request_id AND result_ts = :ts LIMIT 1"
)
# The /metrics counts, in this order (see `MetricsSnapshot.from_rows`).
METRICS_QUERIES = (
    statement("SELECT state, outcome, COUNT(*) FROM requests GROUP BY state, outcome"),
    statement("SELECT result, COUNT(*) FROM webhook_events GROUP BY result"),
    statement(
        f"""SELECT kind, SUM(attempts),
                   SUM(attempts) - SUM(CASE WHEN state = '{DeliveryState.DONE}' THEN 1 ELSE 0 END)
            FROM deliveries GROUP BY kind"""
    ),
    statement(f"SELECT COUNT(*), 0 FROM deliveries WHERE state = '{DeliveryState.DEAD}'"),
    statement(f"SELECT COUNT(*), MIN(created_at) FROM deliveries WHERE state IN {_OPEN_DELIVERIES}"),
    statement(
        """SELECT state, COALESCE(end_reason, ''), COUNT(*), COUNT(connected_at), COALESCE(SUM(duration), 0)
           FROM calls GROUP BY state, end_reason"""
    ),
)

# --- reminders ------------------------------------------------------------------------------------
REMINDER_COLUMNS = "id, request_id, kind, due_at, state, fired_at, tenant_id"
DUE_REMINDERS = statement(
    f"""SELECT {REMINDER_COLUMNS} FROM reminders
        WHERE state = '{ReminderState.PENDING}' AND due_at <= :now AND {working()}
        ORDER BY due_at, id LIMIT :limit"""
)
REMINDERS_FOR = statement(
    f"SELECT {REMINDER_COLUMNS} FROM reminders WHERE tenant_id = :tenant AND request_id = :request_id ORDER BY id"
)
COMPLETE_REMINDER = statement(
    f"""UPDATE reminders SET state = :state, fired_at = :now, lease_owner = NULL, lease_until = NULL
        WHERE id = :id AND tenant_id = :tenant AND request_id = :request_id AND state = '{ReminderState.PENDING}'"""
)

# --- preferences and status checks ----------------------------------------------------------------
USER_PREFS = statement(
    "SELECT dm_answers, locale, locale_fetched_at FROM user_prefs WHERE tenant_id = :tenant AND user_id = :user_id"
)
SET_DM_ANSWERS = statement(
    """INSERT INTO user_prefs (tenant_id, user_id, dm_answers, updated_at)
       VALUES (:tenant, :user_id, :dm_answers, :now)
       ON CONFLICT (tenant_id, user_id) DO UPDATE SET dm_answers = excluded.dm_answers,
           updated_at = excluded.updated_at"""
)
SET_LOCALE = statement(
    """INSERT INTO user_prefs (tenant_id, user_id, locale, locale_fetched_at, updated_at)
       VALUES (:tenant, :user_id, :locale, :fetched_at, :fetched_at)
       ON CONFLICT (tenant_id, user_id) DO UPDATE SET locale = excluded.locale,
           locale_fetched_at = excluded.locale_fetched_at, updated_at = excluded.updated_at"""
)
RECORD_STATUS_CHECK = statement(
    "UPDATE status_checks SET result = :result WHERE tenant_id = :tenant AND request_id = :request_id"
)


# --- records and retention ------------------------------------------------------------------------
# Rules that backend-specific statements share too (those that take a list of ids): each caller writes its own
# placeholder into them.
def purgeable_requests(cutoff: str, tenant: str) -> str:
    """Closed requests (past Pilot Status) created before `cutoff` whose customer's data is still stored, of the
    tenant `tenant` (every tenant's when it is NULL)."""
    return (
        f"FROM requests WHERE created_at < {cutoff} AND purged_at IS NULL AND state NOT IN {_values(UNSENT_STATES)}"
        f" AND {of_tenant(tenant)}"
    )


def of_tenant(tenant: str, column: str = "tenant_id") -> str:
    """The row is the tenant's, or `tenant` is NULL (every tenant's)."""
    return f"(CAST({tenant} AS TEXT) IS NULL OR {column} = {tenant})"


def erasable_calls(cutoff: str) -> str:
    """Pilot Status can map its call ids back to the customer's number, and the customer key is the number. A live
    call keeps them (its webhooks find the call by them) unless it started before `cutoff`: no call lasts that long."""
    return (
        "(pilot_call_id IS NOT NULL OR external_call_id IS NOT NULL OR phone_key IS NOT NULL)"
        f" AND (state NOT IN {_values(LIVE_CALL_STATES)} OR started_at < {cutoff})"
    )


def erase_call_ids(now: str) -> str:
    return f"UPDATE calls SET pilot_call_id = NULL, external_call_id = NULL, phone_key = NULL, updated_at = {now}"


# The dedup key is a hash of the customer's number (and the event's timestamp), so it goes too.
ERASE_EVENTS = """UPDATE webhook_events
    SET body = '', from_phone = NULL, to_phone = NULL, phone_key = NULL, dedup_key = 'purged:' || id"""
PURGEABLE_REQUEST_COUNT = statement(f"SELECT COUNT(*) {purgeable_requests(':cutoff', ':tenant')}")
LEFTOVER_EVENTS = statement(
    f"""{ERASE_EVENTS} WHERE id IN (
            SELECT e.id FROM webhook_events e
            WHERE e.received_at < :cutoff AND e.processed_at IS NOT NULL
              AND NOT e.dedup_key LIKE 'purged:%'
              AND (e.request_id IS NULL OR e.request_id IN (SELECT id FROM requests WHERE purged_at IS NOT NULL))
              AND {of_tenant(":tenant", "e.tenant_id")}
            LIMIT :limit)"""
)
LEFTOVER_DELIVERIES = statement(
    f"""UPDATE deliveries SET payload = :payload, updated_at = :now WHERE id IN (
            SELECT d.id FROM deliveries d JOIN requests r ON r.id = d.request_id
            WHERE r.purged_at IS NOT NULL AND d.payload != :payload AND d.state IN {_values(FINISHED_DELIVERIES)}
              AND {of_tenant(":tenant", "d.tenant_id")}
            LIMIT :limit)"""
)
LEFTOVER_CALLS = statement(
    f"""{erase_call_ids(":now")} WHERE id IN (
            SELECT id FROM calls
            WHERE {erasable_calls(":cutoff")}
              AND request_id IN (SELECT id FROM requests WHERE purged_at IS NOT NULL)
              AND {of_tenant(":tenant")}
            LIMIT :limit)"""
)

# --- leases and administration (table names from LeasedTable and DATA_TABLES only) ---------------
RELEASE_LEASES = {
    table: statement(f"UPDATE {table} SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = :owner")
    for table in LeasedTable
}
OPEN_LEASES = {
    table: statement(
        f"""SELECT lease_owner, COUNT(*), COALESCE(lease_until, 0) < :now AS expired FROM {table}
            WHERE lease_owner IS NOT NULL GROUP BY lease_owner, expired"""
    )
    for table in LeasedTable
}
ROW_COUNT = {table: statement(f"SELECT COUNT(*) FROM {table}") for table, _ in DATA_TABLES}
EXPORT_FIRST = {table: statement(f"SELECT * FROM {table} ORDER BY {key} LIMIT :limit") for table, key in DATA_TABLES}
EXPORT_AFTER = {
    table: statement(f"SELECT * FROM {table} WHERE {key} > :after ORDER BY {key} LIMIT :limit")
    for table, key in DATA_TABLES
}
PROBE_WRITE = statement(
    """INSERT INTO health (owner, probed_at) VALUES (:owner, :probed_at)
       ON CONFLICT (owner) DO UPDATE SET probed_at = excluded.probed_at"""
)

# --- calls from the browser -----------------------------------------------------------------------
INSERT_CALL_LINK = statement(
    """INSERT INTO call_links (tenant_id, token_hash, request_id, user_id, created_at, expires_at)
       SELECT :tenant, :token_hash, id, :user_id, :created_at, :expires_at FROM requests
       WHERE tenant_id = :tenant AND id = :request_id"""
)
REDEEM_CALL_LINK = statement(
    """UPDATE call_links SET used_at = :now
       WHERE token_hash = :token_hash AND used_at IS NULL AND expires_at > :now
       RETURNING request_id, user_id, tenant_id"""
)
INSERT_CALL_SESSION = statement(
    """INSERT INTO call_sessions (tenant_id, session_hash, request_id, user_id, created_at, expires_at)
       VALUES (:tenant, :session_hash, :request_id, :user_id, :now, :expires_at) RETURNING id"""
)
CALL_SESSION = statement(
    """SELECT request_id, user_id, expires_at, id, tenant_id FROM call_sessions
       WHERE session_hash = :session_hash AND expires_at > :now"""
)
DELETE_SPENT_CALL_LINKS = statement(
    """DELETE FROM call_links WHERE id IN (
           SELECT id FROM call_links WHERE used_at IS NOT NULL OR expires_at <= :now LIMIT :limit)"""
)
DELETE_EXPIRED_CALL_SESSIONS = statement(
    "DELETE FROM call_sessions WHERE id IN (SELECT id FROM call_sessions WHERE expires_at <= :now LIMIT :limit)"
)
# The request's number and customer go on the call: the unique index on live calls per customer holds them.
INSERT_CALL = statement(
    f"""INSERT INTO calls (tenant_id, request_id, user_id, state, started_at, delivery_key, updated_at, number_name,
                           phone_key, session_id)
        SELECT CAST(:tenant AS TEXT), id, CAST(:user_id AS TEXT), '{CallState.STARTED}',
               CAST(:started_at AS DOUBLE PRECISION), '',
               CAST(:started_at AS DOUBLE PRECISION), number_name, NULLIF(phone_key, ''), CAST(:session_id AS BIGINT)
        FROM requests WHERE tenant_id = :tenant AND id = :request_id RETURNING id"""
)
LIVE_CALL_TO = statement(
    f"""SELECT * FROM calls WHERE tenant_id = :tenant AND number_name = :number_name AND phone_key = :phone_key
        AND state IN {_values(LIVE_CALL_STATES)} ORDER BY id DESC LIMIT 1"""
)
SESSION_CALL = statement(
    "SELECT * FROM calls WHERE tenant_id = :tenant AND session_id = :session_id ORDER BY id DESC LIMIT 1"
)
CALL_BY_EXTERNAL_ID = statement(
    "SELECT * FROM calls WHERE tenant_id = :tenant AND external_call_id = :external_call_id ORDER BY id DESC LIMIT 1"
)
DATABASE_ID = statement("SELECT id FROM askcall_database")

# --- workspaces -----------------------------------------------------------------------------------
WORKSPACE_COLUMNS = (
    "tenant_id, team_id, enterprise_id, is_enterprise_install, name, url, installed_at, uninstalled_at, disabled_at"
)
WORKSPACE = statement(f"SELECT {WORKSPACE_COLUMNS} FROM workspaces WHERE tenant_id = :tenant")
WORKSPACES = statement(f"SELECT {WORKSPACE_COLUMNS} FROM workspaces ORDER BY installed_at, tenant_id")
RECORD_WORKSPACE = statement(
    """INSERT INTO workspaces (tenant_id, team_id, enterprise_id, is_enterprise_install, name, url, installed_at)
       VALUES (:tenant, :team_id, :enterprise_id, :is_enterprise_install, :name, :url, :now)
       ON CONFLICT (tenant_id) DO UPDATE SET team_id = excluded.team_id, enterprise_id = excluded.enterprise_id,
           is_enterprise_install = excluded.is_enterprise_install,
           name = COALESCE(excluded.name, workspaces.name), url = COALESCE(excluded.url, workspaces.url),
           uninstalled_at = NULL"""
)
STOP_WORKSPACE = {
    column: statement(
        f"""INSERT INTO workspaces (tenant_id, installed_at, {column}) VALUES (:tenant, :now, :now)
            ON CONFLICT (tenant_id) DO UPDATE SET {column} = COALESCE(workspaces.{column}, excluded.{column})"""
    )
    for column in ("uninstalled_at", "disabled_at")
}
KILL_OPEN_DELIVERIES = statement(
    f"""UPDATE deliveries SET state = '{DeliveryState.DEAD}', last_error = :reason, updated_at = :now,
            lease_owner = NULL, lease_until = NULL
        WHERE tenant_id = :tenant AND state IN {_OPEN_DELIVERIES}"""
)
ENABLE_WORKSPACE = statement(
    "UPDATE workspaces SET disabled_at = NULL WHERE tenant_id = :tenant AND disabled_at IS NOT NULL"
)
WORKSPACES_LEFT_BEFORE = statement(
    "SELECT tenant_id FROM workspaces WHERE uninstalled_at < :before ORDER BY uninstalled_at, tenant_id"
)
# Purging a workspace: its data tables, dependents first, the registry of workspaces last (so a purge cut short
# is found again by `WORKSPACES_LEFT_BEFORE`). OAuth states belong to no workspace.
PURGE_ORDER = (
    "call_sessions",
    "call_links",
    "calls",
    "reminders",
    "deliveries",
    "status_checks",
    "webhook_events",
    "handled_actions",
    "user_prefs",
    "requests",
    "workspace_numbers",
    "workspace_settings",
    "slack_installations",
    "workspaces",
)
PURGE_TENANT_ROWS = {
    table: statement(
        f"""DELETE FROM {table} WHERE tenant_id = :tenant AND {key} IN (
                SELECT {key} FROM {table} WHERE tenant_id = :tenant LIMIT :limit)"""
    )
    for table, key in DATA_TABLES
    if table in PURGE_ORDER
}
OTHER_WORKSPACES = statement("SELECT COUNT(*) FROM workspaces WHERE tenant_id != :tenant")
# The tables whose rows carry a tenant: adopting the legacy tenant moves each one's '' rows.
# The tables of workspace data made before tenancy (tenant ""), adopted by the env workspace; not the registry
# of workspaces, the installations and the per-workspace settings (they came with tenancy) or the OAuth states (no
# workspace yet).
TENANT_TABLES = tuple(
    table
    for table, _ in DATA_TABLES
    if table not in {"workspaces", "slack_installations", "oauth_states", "workspace_settings", "workspace_numbers"}
)
ADOPT_LEGACY_ROWS = {
    table: statement(f"UPDATE {table} SET tenant_id = :tenant WHERE tenant_id = ''") for table in TENANT_TABLES
}
SET_CALL_DELIVERY_KEY = statement("UPDATE calls SET delivery_key = :delivery_key WHERE id = :id RETURNING *")
CALL = statement("SELECT * FROM calls WHERE tenant_id = :tenant AND id = :id")
CALL_BY_PILOT_ID = statement("SELECT * FROM calls WHERE tenant_id = :tenant AND pilot_call_id = :pilot_call_id")
LAST_CALL = statement(
    "SELECT * FROM calls WHERE tenant_id = :tenant AND request_id = :request_id ORDER BY id DESC LIMIT 1"
)
SET_LAST_CALL = statement("UPDATE requests SET last_call = :last_call WHERE id = :id")
# Teammates' requests created since :since on which :user_id called, most recently called first
# (requests_by_created, then calls_by_request: bounded by the window's requests, whatever the size of calls).
CALLED_BY = statement(
    """SELECT r.* FROM requests r
       JOIN (SELECT request_id, MAX(started_at) AS last_started FROM calls
             WHERE tenant_id = :tenant AND user_id = :user_id AND started_at >= :since GROUP BY request_id) c
         ON c.request_id = r.id
       WHERE r.tenant_id = :tenant AND r.created_at >= :since AND r.user_id != :user_id
       ORDER BY c.last_started DESC, r.id DESC
       LIMIT :limit"""
)
UNSETTLED_CALLS = statement(
    f"""SELECT * FROM calls WHERE state IN {_values(LIVE_CALL_STATES)} AND {working()}
        AND ((pilot_call_id IS NULL AND started_at < :started_before)
             OR (pilot_call_id IS NOT NULL AND updated_at < :quiet_before))
        ORDER BY updated_at LIMIT :limit"""
)
# A start whose answer was lost (still started), or one its page gave up on (failed, CANCELLED).
UNCONFIRMED_CALL_TO = statement(
    f"""SELECT calls.* FROM calls JOIN requests ON requests.id = calls.request_id
        WHERE calls.tenant_id = :tenant AND requests.tenant_id = :tenant AND requests.phone_key = :phone_key
          AND calls.started_at >= :since AND calls.pilot_call_id IS NULL
          AND (calls.state = '{CallState.STARTED}'
               OR (calls.state = '{CallState.FAILED}' AND calls.end_reason = '{CANCELLED}'))
        ORDER BY calls.started_at, calls.id LIMIT 1"""
)


# --- Slack installations (multi-workspace mode) and OAuth states ------------------------------------
_INSTALLATION_COLUMNS = (
    "tenant_id, enterprise_id, enterprise_name, enterprise_url, team_id, team_name, is_enterprise_install, app_id, "
    "bot_token, bot_id, bot_user_id, bot_scopes, bot_refresh_token, bot_token_expires_at, installer_user_id, "
    "token_type, installed_at, updated_at, uninstalled_at"
)
SAVE_SLACK_INSTALLATION = statement(
    f"""INSERT INTO slack_installations ({_INSTALLATION_COLUMNS})
       VALUES (:tenant_id, :enterprise_id, :enterprise_name, :enterprise_url, :team_id, :team_name,
               :is_enterprise_install, :app_id, :bot_token, :bot_id, :bot_user_id, :bot_scopes, :bot_refresh_token,
               :bot_token_expires_at, :installer_user_id, :token_type, :installed_at, :updated_at, :uninstalled_at)
       ON CONFLICT (tenant_id) DO UPDATE SET
           enterprise_id = excluded.enterprise_id, enterprise_name = excluded.enterprise_name,
           enterprise_url = excluded.enterprise_url, team_id = excluded.team_id, team_name = excluded.team_name,
           is_enterprise_install = excluded.is_enterprise_install, app_id = excluded.app_id,
           bot_token = excluded.bot_token, bot_id = excluded.bot_id, bot_user_id = excluded.bot_user_id,
           bot_scopes = excluded.bot_scopes, bot_refresh_token = excluded.bot_refresh_token,
           bot_token_expires_at = excluded.bot_token_expires_at, installer_user_id = excluded.installer_user_id,
           token_type = excluded.token_type, updated_at = excluded.updated_at,
           uninstalled_at = excluded.uninstalled_at"""
)
SLACK_INSTALLATION = statement(f"SELECT {_INSTALLATION_COLUMNS} FROM slack_installations WHERE tenant_id = :tenant_id")
# The installation AskCall serves the tenant with, in one round trip: live (its tokens there, not uninstalled) and its
# workspace not disabled (`askcall workspaces disable`); no row otherwise.
SERVED_SLACK_INSTALLATION = statement(
    f"""SELECT {_INSTALLATION_COLUMNS} FROM slack_installations
       WHERE tenant_id = :tenant_id AND bot_token IS NOT NULL AND uninstalled_at IS NULL
         AND NOT EXISTS (SELECT 1 FROM workspaces
                         WHERE workspaces.tenant_id = slack_installations.tenant_id
                           AND workspaces.disabled_at IS NOT NULL)"""
)
SLACK_INSTALLATIONS = statement(f"SELECT {_INSTALLATION_COLUMNS} FROM slack_installations ORDER BY tenant_id")
UNINSTALL_SLACK = statement(
    """UPDATE slack_installations SET bot_token = NULL, bot_refresh_token = NULL, bot_token_expires_at = NULL,
           uninstalled_at = :now, updated_at = :now
       WHERE tenant_id = :tenant_id AND bot_token IS NOT NULL"""
)
SLACK_SECRETS = statement("SELECT tenant_id, bot_token, bot_refresh_token FROM slack_installations ORDER BY tenant_id")
SET_SLACK_SECRETS = statement(
    """UPDATE slack_installations SET bot_token = :bot_token, bot_refresh_token = :bot_refresh_token
       WHERE tenant_id = :tenant_id"""
)
ISSUE_OAUTH_STATE = statement("INSERT INTO oauth_states (state, expires_at) VALUES (:state, :expires_at)")
CONSUME_OAUTH_STATE = statement("DELETE FROM oauth_states WHERE state = :state RETURNING expires_at")
FORGET_EXPIRED_OAUTH_STATES = statement("DELETE FROM oauth_states WHERE expires_at <= :now")


# --- Per-workspace settings and WhatsApp numbers (multi-workspace mode) ----------------------------
_SETTINGS_COLUMNS = (
    "tenant_id, language, hourly_budget, retention_days, allowed_channels, allowed_users, allowed_usergroups, "
    "access_contact, updated_at"
)
WORKSPACE_SETTINGS = statement(f"SELECT {_SETTINGS_COLUMNS} FROM workspace_settings WHERE tenant_id = :tenant_id")
SAVE_WORKSPACE_SETTINGS = statement(
    f"""INSERT INTO workspace_settings ({_SETTINGS_COLUMNS})
       VALUES (:tenant_id, :language, :hourly_budget, :retention_days, :allowed_channels, :allowed_users,
               :allowed_usergroups, :access_contact, :updated_at)
       ON CONFLICT (tenant_id) DO UPDATE SET
           language = excluded.language, hourly_budget = excluded.hourly_budget,
           retention_days = excluded.retention_days, allowed_channels = excluded.allowed_channels,
           allowed_users = excluded.allowed_users, allowed_usergroups = excluded.allowed_usergroups,
           access_contact = excluded.access_contact, updated_at = excluded.updated_at"""
)
_NUMBER_COLUMNS = (
    "tenant_id, name, api_key, webhook_token, webhook_secret, webhook_id, phone_e164, channels, created_at, updated_at"
)
WORKSPACE_NUMBERS = statement(
    f"SELECT {_NUMBER_COLUMNS} FROM workspace_numbers WHERE tenant_id = :tenant_id ORDER BY name"
)
NUMBER_BY_WEBHOOK_TOKEN = statement(f"SELECT {_NUMBER_COLUMNS} FROM workspace_numbers WHERE webhook_token = :token")
SAVE_WORKSPACE_NUMBER = statement(
    f"""INSERT INTO workspace_numbers ({_NUMBER_COLUMNS})
       VALUES (:tenant_id, :name, :api_key, :webhook_token, :webhook_secret, :webhook_id, :phone_e164, :channels,
               :created_at, :updated_at)
       ON CONFLICT (tenant_id, name) DO UPDATE SET
           api_key = excluded.api_key, webhook_token = excluded.webhook_token,
           webhook_secret = excluded.webhook_secret, webhook_id = excluded.webhook_id,
           phone_e164 = excluded.phone_e164, channels = excluded.channels, updated_at = excluded.updated_at"""
)
DELETE_WORKSPACE_NUMBER = statement("DELETE FROM workspace_numbers WHERE tenant_id = :tenant_id AND name = :name")
NUMBER_SECRETS = statement(
    "SELECT tenant_id, name, api_key, webhook_secret FROM workspace_numbers ORDER BY tenant_id, name"
)
SET_NUMBER_SECRETS = statement(
    """UPDATE workspace_numbers SET api_key = :api_key, webhook_secret = :webhook_secret
       WHERE tenant_id = :tenant_id AND name = :name"""
)
