"""The SQLite schema, as numbered migrations (`PRAGMA user_version` holds how many ran)."""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: the core loop
    """
    CREATE TABLE requests (
        id INTEGER PRIMARY KEY,
        source_key TEXT UNIQUE,
        team_id TEXT,
        channel_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        phone_e164 TEXT NOT NULL,
        phone_key TEXT NOT NULL,
        reason TEXT NOT NULL,
        lang TEXT NOT NULL,
        response_url TEXT,
        state TEXT NOT NULL,
        outcome TEXT,
        error_code TEXT,
        parent_ts TEXT,
        message_id TEXT,
        answer_event_ts TEXT,
        created_at REAL NOT NULL,
        sent_at REAL,
        answered_at REAL,
        expires_at REAL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX requests_by_customer ON requests (phone_key, created_at);
    CREATE INDEX requests_by_state ON requests (state);

    CREATE TABLE webhook_events (
        id INTEGER PRIMARY KEY,
        dedup_key TEXT NOT NULL UNIQUE,
        event TEXT NOT NULL,
        status TEXT,
        from_phone TEXT,
        to_phone TEXT,
        phone_key TEXT,
        event_ts TEXT,
        body TEXT NOT NULL,
        received_at REAL NOT NULL,
        processed_at REAL,
        request_id INTEGER REFERENCES requests (id),
        result TEXT
    );
    CREATE INDEX webhook_events_unprocessed ON webhook_events (id) WHERE processed_at IS NULL;

    CREATE TABLE deliveries (
        id INTEGER PRIMARY KEY,
        dedup_key TEXT NOT NULL UNIQUE,
        request_id INTEGER NOT NULL REFERENCES requests (id),
        kind TEXT NOT NULL,
        payload TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        last_error TEXT,
        result_ts TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX deliveries_open ON deliveries (state, next_attempt_at);
    CREATE INDEX deliveries_by_request ON deliveries (request_id, state);
    """,
    # 2: rep experience — threads started elsewhere, expiry reminders, per-user preferences
    """
    ALTER TABLE requests ADD COLUMN thread_ts TEXT;
    CREATE INDEX requests_by_user ON requests (user_id, created_at);

    CREATE TABLE reminders (
        id INTEGER PRIMARY KEY,
        request_id INTEGER NOT NULL REFERENCES requests (id),
        kind TEXT NOT NULL,
        due_at REAL NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending',
        fired_at REAL,
        UNIQUE (request_id, kind, due_at)
    );
    CREATE INDEX reminders_due ON reminders (state, due_at);

    CREATE TABLE user_prefs (
        user_id TEXT PRIMARY KEY,
        dm_answers INTEGER NOT NULL DEFAULT 0,
        locale TEXT,
        locale_fetched_at REAL,
        updated_at REAL NOT NULL
    );

    CREATE TABLE handled_actions (
        action_key TEXT PRIMARY KEY,
        created_at REAL NOT NULL
    );
    """,
    # 3: operations — several WhatsApp numbers, retention
    """
    ALTER TABLE requests ADD COLUMN number_name TEXT NOT NULL DEFAULT 'default';
    ALTER TABLE requests ADD COLUMN purged_at REAL;
    ALTER TABLE webhook_events ADD COLUMN number_name TEXT NOT NULL DEFAULT 'default';
    DROP INDEX requests_by_customer;
    CREATE INDEX requests_by_customer ON requests (number_name, phone_key, created_at);
    CREATE INDEX requests_by_created ON requests (created_at);
    """,
    # 4: how channel messages show this request's number (ASKCALL_PHONE_DISPLAY when it was made)
    """
    ALTER TABLE requests ADD COLUMN phone_display TEXT NOT NULL DEFAULT 'masked';
    """,
    # 5: leases — work is claimed by one process (owner) until a time; a dead owner's work is resumed
    """
    ALTER TABLE requests ADD COLUMN lease_owner TEXT;
    ALTER TABLE requests ADD COLUMN lease_until REAL;
    ALTER TABLE deliveries ADD COLUMN lease_owner TEXT;
    ALTER TABLE deliveries ADD COLUMN lease_until REAL;
    ALTER TABLE reminders ADD COLUMN lease_owner TEXT;
    ALTER TABLE reminders ADD COLUMN lease_until REAL;
    ALTER TABLE webhook_events ADD COLUMN lease_owner TEXT;
    ALTER TABLE webhook_events ADD COLUMN lease_until REAL;
    CREATE INDEX webhook_events_by_customer ON webhook_events (number_name, phone_key, id)
        WHERE processed_at IS NULL;
    """,
    # 6: readiness — each process's last successful write probe
    """
    CREATE TABLE health (
        owner TEXT PRIMARY KEY,
        probed_at REAL NOT NULL
    );
    """,
    # 7: "Check status" — the last Pilot Status probe of each status message (one per interval)
    """
    CREATE TABLE status_checks (
        request_id INTEGER PRIMARY KEY REFERENCES requests (id),
        checked_at REAL NOT NULL,
        result TEXT
    );
    """,
    # 8: calls from the browser — single-use links (hashed), page sessions (hashed), and the calls made
    """
    CREATE TABLE call_links (
        id INTEGER PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,
        request_id INTEGER NOT NULL REFERENCES requests (id),
        user_id TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        used_at REAL
    );
    CREATE TABLE call_sessions (
        id INTEGER PRIMARY KEY,
        session_hash TEXT NOT NULL UNIQUE,
        request_id INTEGER NOT NULL REFERENCES requests (id),
        user_id TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL
    );
    CREATE TABLE calls (
        id INTEGER PRIMARY KEY,
        request_id INTEGER NOT NULL REFERENCES requests (id),
        user_id TEXT NOT NULL,
        pilot_call_id TEXT UNIQUE,
        state TEXT NOT NULL,
        started_at REAL NOT NULL,
        connected_at REAL,
        ended_at REAL,
        duration INTEGER,
        end_reason TEXT,
        delivery_key TEXT NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX calls_by_request ON calls (request_id, id);
    ALTER TABLE requests ADD COLUMN last_call TEXT;
    """,
    # 9: calls to settle (a start AskCall could not confirm, a live call whose webhooks stopped coming), and a
    # rep's own calls (App Home)
    """
    CREATE INDEX calls_unsettled ON calls (updated_at) WHERE state IN ('started', 'ringing', 'connected');
    CREATE INDEX calls_by_caller ON calls (user_id, started_at);
    """,
    # 10: at most one live call per customer (its number and customer key on the call, a unique index on the live
    # ones); the page session that made each call; the provider's call id; and this database's own id (what
    # `askcall db copy` tells databases apart by, whatever URL names them)
    """
    ALTER TABLE calls ADD COLUMN number_name TEXT NOT NULL DEFAULT 'default';
    ALTER TABLE calls ADD COLUMN phone_key TEXT;
    ALTER TABLE calls ADD COLUMN session_id INTEGER;
    ALTER TABLE calls ADD COLUMN external_call_id TEXT;
    UPDATE calls SET
        number_name = (SELECT number_name FROM requests WHERE requests.id = calls.request_id),
        phone_key = (SELECT NULLIF(phone_key, '') FROM requests WHERE requests.id = calls.request_id);
    -- Before the index: a customer with several live calls (made before it existed) keeps only the newest live.
    UPDATE calls SET state = 'failed', end_reason = 'SUPERSEDED'
        WHERE state IN ('started', 'ringing', 'connected') AND phone_key IS NOT NULL AND EXISTS (
            SELECT 1 FROM calls newer
            WHERE newer.number_name = calls.number_name AND newer.phone_key = calls.phone_key
              AND newer.state IN ('started', 'ringing', 'connected') AND newer.id > calls.id);
    -- At most one live call per customer, across replicas. (Tenancy: the tenant goes first in this index.)
    CREATE UNIQUE INDEX calls_one_live_per_customer ON calls (number_name, phone_key)
        WHERE state IN ('started', 'ringing', 'connected');
    CREATE INDEX calls_by_session ON calls (session_id, id);
    CREATE INDEX calls_by_external_id ON calls (external_call_id);

    CREATE TABLE askcall_database (
        id TEXT PRIMARY KEY,
        created_at REAL NOT NULL
    );
    INSERT INTO askcall_database (id, created_at)
        VALUES (lower(hex(randomblob(16))), CAST(strftime('%s', 'now') AS REAL));
    """,
    # 11: tenancy — every workspace's rows carry its tenant (`tenant_id`, '' for rows made before: the legacy tenant,
    # adopted at start-up), every unique key and lookup index starts with it, and the workspaces AskCall serves.
    # SQLite can't drop a column's UNIQUE: the tables whose keys change are rebuilt (migrations run with foreign
    # keys off, checked before commit). Surrogate ids and secrets (request ids, token hashes, Pilot Status call
    # ids) stay unique on their own: they identify one row of one tenant whoever looks.
    """
    CREATE TABLE requests_11 (
        id INTEGER PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        source_key TEXT,
        team_id TEXT,
        channel_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        phone_e164 TEXT NOT NULL,
        phone_key TEXT NOT NULL,
        reason TEXT NOT NULL,
        lang TEXT NOT NULL,
        response_url TEXT,
        state TEXT NOT NULL,
        outcome TEXT,
        error_code TEXT,
        parent_ts TEXT,
        message_id TEXT,
        answer_event_ts TEXT,
        created_at REAL NOT NULL,
        sent_at REAL,
        answered_at REAL,
        expires_at REAL,
        updated_at REAL NOT NULL,
        thread_ts TEXT,
        number_name TEXT NOT NULL DEFAULT 'default',
        purged_at REAL,
        phone_display TEXT NOT NULL DEFAULT 'masked',
        lease_owner TEXT,
        lease_until REAL,
        last_call TEXT,
        UNIQUE (tenant_id, source_key)
    );
    INSERT INTO requests_11 (id, tenant_id, source_key, team_id, channel_id, user_id, phone_e164, phone_key, reason,
        lang, response_url, state, outcome, error_code, parent_ts, message_id, answer_event_ts, created_at, sent_at,
        answered_at, expires_at, updated_at, thread_ts, number_name, purged_at, phone_display, lease_owner,
        lease_until, last_call)
    SELECT id, '', source_key, team_id, channel_id, user_id, phone_e164, phone_key, reason,
        lang, response_url, state, outcome, error_code, parent_ts, message_id, answer_event_ts, created_at, sent_at,
        answered_at, expires_at, updated_at, thread_ts, number_name, purged_at, phone_display, lease_owner,
        lease_until, last_call
    FROM requests;
    DROP TABLE requests;
    ALTER TABLE requests_11 RENAME TO requests;
    CREATE INDEX requests_by_customer ON requests (tenant_id, number_name, phone_key, created_at);
    CREATE INDEX requests_by_state ON requests (state);
    CREATE INDEX requests_by_created ON requests (created_at);
    CREATE INDEX requests_by_user ON requests (tenant_id, user_id, created_at);

    CREATE TABLE webhook_events_11 (
        id INTEGER PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        dedup_key TEXT NOT NULL,
        event TEXT NOT NULL,
        status TEXT,
        from_phone TEXT,
        to_phone TEXT,
        phone_key TEXT,
        event_ts TEXT,
        body TEXT NOT NULL,
        received_at REAL NOT NULL,
        processed_at REAL,
        request_id INTEGER REFERENCES requests (id),
        result TEXT,
        number_name TEXT NOT NULL DEFAULT 'default',
        lease_owner TEXT,
        lease_until REAL,
        UNIQUE (tenant_id, dedup_key)
    );
    INSERT INTO webhook_events_11 (id, tenant_id, dedup_key, event, status, from_phone, to_phone, phone_key, event_ts,
        body, received_at, processed_at, request_id, result, number_name, lease_owner, lease_until)
    SELECT id, '', dedup_key, event, status, from_phone, to_phone, phone_key, event_ts,
        body, received_at, processed_at, request_id, result, number_name, lease_owner, lease_until
    FROM webhook_events;
    DROP TABLE webhook_events;
    ALTER TABLE webhook_events_11 RENAME TO webhook_events;
    CREATE INDEX webhook_events_unprocessed ON webhook_events (id) WHERE processed_at IS NULL;
    CREATE INDEX webhook_events_by_customer ON webhook_events (tenant_id, number_name, phone_key, id)
        WHERE processed_at IS NULL;

    CREATE TABLE deliveries_11 (
        id INTEGER PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        dedup_key TEXT NOT NULL,
        request_id INTEGER NOT NULL REFERENCES requests (id),
        kind TEXT NOT NULL,
        payload TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        last_error TEXT,
        result_ts TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        lease_owner TEXT,
        lease_until REAL,
        UNIQUE (tenant_id, dedup_key)
    );
    INSERT INTO deliveries_11 (id, tenant_id, dedup_key, request_id, kind, payload, state, attempts, next_attempt_at,
        last_error, result_ts, created_at, updated_at, lease_owner, lease_until)
    SELECT id, '', dedup_key, request_id, kind, payload, state, attempts, next_attempt_at,
        last_error, result_ts, created_at, updated_at, lease_owner, lease_until
    FROM deliveries;
    DROP TABLE deliveries;
    ALTER TABLE deliveries_11 RENAME TO deliveries;
    CREATE INDEX deliveries_open ON deliveries (state, next_attempt_at);
    CREATE INDEX deliveries_by_request ON deliveries (request_id, state);

    CREATE TABLE user_prefs_11 (
        id INTEGER PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        dm_answers INTEGER NOT NULL DEFAULT 0,
        locale TEXT,
        locale_fetched_at REAL,
        updated_at REAL NOT NULL,
        UNIQUE (tenant_id, user_id)
    );
    INSERT INTO user_prefs_11 (tenant_id, user_id, dm_answers, locale, locale_fetched_at, updated_at)
    SELECT '', user_id, dm_answers, locale, locale_fetched_at, updated_at FROM user_prefs ORDER BY user_id;
    DROP TABLE user_prefs;
    ALTER TABLE user_prefs_11 RENAME TO user_prefs;

    CREATE TABLE handled_actions_11 (
        id INTEGER PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        action_key TEXT NOT NULL,
        created_at REAL NOT NULL,
        UNIQUE (tenant_id, action_key)
    );
    INSERT INTO handled_actions_11 (tenant_id, action_key, created_at)
    SELECT '', action_key, created_at FROM handled_actions ORDER BY action_key;
    DROP TABLE handled_actions;
    ALTER TABLE handled_actions_11 RENAME TO handled_actions;

    ALTER TABLE reminders ADD COLUMN tenant_id TEXT NOT NULL DEFAULT '';
    ALTER TABLE status_checks ADD COLUMN tenant_id TEXT NOT NULL DEFAULT '';
    ALTER TABLE call_links ADD COLUMN tenant_id TEXT NOT NULL DEFAULT '';
    ALTER TABLE call_sessions ADD COLUMN tenant_id TEXT NOT NULL DEFAULT '';
    ALTER TABLE calls ADD COLUMN tenant_id TEXT NOT NULL DEFAULT '';
    DROP INDEX calls_one_live_per_customer;
    CREATE UNIQUE INDEX calls_one_live_per_customer ON calls (tenant_id, number_name, phone_key)
        WHERE state IN ('started', 'ringing', 'connected');
    DROP INDEX calls_by_caller;
    CREATE INDEX calls_by_caller ON calls (tenant_id, user_id, started_at);
    DROP INDEX calls_by_external_id;
    CREATE INDEX calls_by_external_id ON calls (tenant_id, external_call_id);

    CREATE TABLE workspaces (
        tenant_id TEXT PRIMARY KEY,
        team_id TEXT,
        enterprise_id TEXT,
        is_enterprise_install INTEGER NOT NULL DEFAULT 0,
        name TEXT,
        url TEXT,
        installed_at REAL NOT NULL,
        uninstalled_at REAL,
        disabled_at REAL
    );
    """,
    # 12: multi-workspace mode — one Slack installation per tenant (its tokens encrypted), and the OAuth flow's
    # states (issued by one replica, consumed once by any)
    """
    CREATE TABLE slack_installations (
        tenant_id TEXT PRIMARY KEY,
        enterprise_id TEXT,
        enterprise_name TEXT,
        enterprise_url TEXT,
        team_id TEXT,
        team_name TEXT,
        is_enterprise_install INTEGER NOT NULL DEFAULT 0,
        app_id TEXT,
        bot_token TEXT,
        bot_id TEXT,
        bot_user_id TEXT,
        bot_scopes TEXT NOT NULL DEFAULT '',
        bot_refresh_token TEXT,
        bot_token_expires_at REAL,
        installer_user_id TEXT,
        token_type TEXT,
        installed_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        uninstalled_at REAL
    );
    CREATE TABLE oauth_states (
        state TEXT PRIMARY KEY,
        expires_at REAL NOT NULL
    );
    CREATE INDEX oauth_states_by_expiry ON oauth_states (expires_at);
    """,
    # 13: multi-workspace mode — each workspace's settings as data, and its WhatsApp numbers (Pilot Status key and
    # webhook secret encrypted; an unguessable webhook token per number)
    """
    CREATE TABLE workspace_settings (
        tenant_id TEXT PRIMARY KEY,
        language TEXT,
        hourly_budget INTEGER,
        retention_days INTEGER,
        allowed_channels TEXT NOT NULL DEFAULT '',
        allowed_users TEXT NOT NULL DEFAULT '',
        allowed_usergroups TEXT NOT NULL DEFAULT '',
        access_contact TEXT,
        updated_at REAL NOT NULL
    );
    CREATE TABLE workspace_numbers (
        tenant_id TEXT NOT NULL,
        name TEXT NOT NULL,
        api_key TEXT NOT NULL,
        webhook_token TEXT NOT NULL UNIQUE,
        webhook_secret TEXT,
        webhook_id TEXT,
        phone_e164 TEXT,
        channels TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (tenant_id, name)
    );
    """,
    # 14: deliveries that belong to no request (the installer's welcome DM): `request_id` may be NULL; such a
    # delivery is still its tenant's (`tenant_id` NOT NULL, its key unique per tenant) and heads its own queue
    """
    CREATE TABLE deliveries_14 (
        id INTEGER PRIMARY KEY,
        tenant_id TEXT NOT NULL,
        dedup_key TEXT NOT NULL,
        request_id INTEGER REFERENCES requests (id),
        kind TEXT NOT NULL,
        payload TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        last_error TEXT,
        result_ts TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        lease_owner TEXT,
        lease_until REAL,
        UNIQUE (tenant_id, dedup_key)
    );
    INSERT INTO deliveries_14 (id, tenant_id, dedup_key, request_id, kind, payload, state, attempts, next_attempt_at,
        last_error, result_ts, created_at, updated_at, lease_owner, lease_until)
    SELECT id, tenant_id, dedup_key, request_id, kind, payload, state, attempts, next_attempt_at,
        last_error, result_ts, created_at, updated_at, lease_owner, lease_until
    FROM deliveries;
    DROP TABLE deliveries;
    ALTER TABLE deliveries_14 RENAME TO deliveries;
    CREATE INDEX deliveries_open ON deliveries (state, next_attempt_at);
    CREATE INDEX deliveries_by_request ON deliveries (request_id, state);
    """,
]


def statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
