"""Every store method is scoped to a tenant, or says why not.

The walk below reads the `Store` interface itself: a method must take `tenant` as its first parameter, or a value
that carries the tenant (a `NewRequest`, an `IncomingEvent`, a `Delivery`, a `WebhookEvent`, a `Workspace`), or be
in `CROSS_TENANT`, where each entry says why it reads or writes across workspaces (work claiming, sweeps, leases,
the operator's commands). A new method that does neither fails here until someone decides which it is.
"""

from __future__ import annotations

import inspect

from bot.store import Store

# Values that carry the tenant they belong to: a method taking one is scoped by it.
TENANT_CARRIERS = (
    "NewRequest",
    "IncomingEvent",
    "Delivery",
    "WebhookEvent",
    "Workspace",
    "WorkspaceSettings",
    "StoredNumber",
)

CROSS_TENANT = {
    # The store's life: connecting, migrating, probing, coordinating processes.
    "open": "lifecycle",
    "connect": "lifecycle",
    "migrate": "schema migrations run on the whole database",
    "close": "lifecycle",
    "schema_version": "lifecycle",
    "probe_write": "readiness: writes only the process's own health row",
    "exclusive": "which process runs a periodic job",
    "serialized": "a lock on a name the caller makes (a connect names its tenant in it); touches no row",
    "listen": "wakes this process for any tenant's new work",
    "upkeep": "backend housekeeping (WAL checkpoints)",
    # Work claiming and sweeps: each record handed out carries its tenant, and every later step is scoped by it.
    "requests_in_state": "start-up and sweeps; each request carries its tenant",
    "abandoned_requests": "takeover sweep; each request carries its tenant",
    "unprocessed_webhook_events": "sweep; each (id, tenant, customer) says its tenant",
    "abandoned_webhook_events": "takeover sweep; each (id, tenant, customer) says its tenant",
    "claim_due_deliveries": "the outbox; each delivery carries its tenant (and its token is looked up by it)",
    "claim_due": "the outbox; each delivery carries its tenant",
    "next_delivery_time": "the outbox's next wake-up",
    "inflight_deliveries": "takeover sweep; each delivery carries its tenant",
    "claim_abandoned_deliveries": "takeover sweep; each delivery carries its tenant",
    "pending_delivery_count": "readiness and the demo: a count, no rows",
    "metrics_snapshot": "/metrics aggregates, never labelled by tenant",
    "due_reminders": "the reminder loop; each reminder carries its tenant",
    "claim_due_reminders": "the reminder loop; each reminder carries its tenant",
    "next_reminder_time": "the reminder loop's next wake-up",
    "unsettled_calls": "the calls sweep; each call carries its tenant",
    "delete_spent_call_credentials": "retention of used and expired links and sessions, every tenant's",
    "calls_by_ids": "a process re-reads the calls its own tenant-scoped page streams follow; each carries its tenant",
    # A secret names its own row: the session it opens carries the link's tenant, and scopes what follows.
    "redeem_call_link": "found by the link's secret; the session carries the link's tenant",
    "call_session": "found by the session's secret; the session carries its tenant",
    # Leases belong to the process, whatever the tenant of the work.
    "renew_leases": "this process's leases",
    "release_leases": "this process's leases",
    "open_leases": "`askcall db status`",
    # The operator's commands (`askcall export | purge | db …`), across every workspace of the install.
    "request_records": "`askcall export`: each record carries its tenant (the export shows the workspace)",
    "call_records": "`askcall export`: each record carries its tenant",
    "count_purgeable_requests": "retention, every tenant's",
    "purge_requests_batch": "retention, every tenant's",
    "workspaces_left_before": "retention: the workspaces whose grace period after uninstalling is over",
    "purge_leftovers_batch": "retention, every tenant's",
    "server_version": "`askcall db status`",
    "row_counts": "`askcall db status`",
    "export_rows": "`askcall db copy`: whole tables, tenant_id included",
    "import_rows": "`askcall db copy`: whole tables, tenant_id included",
    "database_id": "`askcall db copy`",
    "erase_all_rows": "`askcall db copy --force`",
    "workspaces": "start-up and the operator: every workspace recorded",
    # Slack installations (multi-workspace mode): each row is one tenant's, and names it.
    "save_slack_installation": "the installation carries its tenant (from Slack's own ids)",
    "slack_installations": "`askcall workspaces list` and `check`: every installation",
    "rotate_slack_secrets": "`askcall workspaces rotate-key`: every stored token, re-encrypted",
    "listen_installations": "hears any tenant's installation change, to forget it from the cache",
    # The OAuth flow's states come before any workspace: they name none.
    "issue_oauth_state": "a state belongs to an install not yet made",
    "consume_oauth_state": "a state belongs to an install not yet made",
    # Per-workspace settings: a number's unguessable webhook token names its own row, which carries its tenant.
    "number_by_webhook_token": "the Pilot Status webhook URL's token; the number found carries its tenant",
    "listen_workspace_settings": "hears any tenant's settings change, to forget it from the cache",
    "rotate_number_secrets": "`askcall workspaces rotate-key`: every stored Pilot Status key and secret, re-encrypted",
}


def store_methods() -> dict[str, inspect.Signature]:
    found = {}
    for name, member in inspect.getmembers(Store):
        if name.startswith("_") or isinstance(inspect.getattr_static(Store, name), property):
            continue
        if callable(member):
            found[name] = inspect.signature(member)
    return found


def scoped(signature: inspect.Signature) -> bool:
    params = [p for p in signature.parameters.values() if p.name != "self"]
    if params and params[0].name == "tenant" and "TenantId" in str(params[0].annotation):
        return True
    return any(str(p.annotation).split(" ")[0] in TENANT_CARRIERS for p in params)


def test_every_store_method_is_scoped_or_allowed_across_tenants() -> None:
    methods = store_methods()
    assert len(methods) > 60, "the walk found the interface"
    unscoped = sorted(name for name, sig in methods.items() if not scoped(sig) and name not in CROSS_TENANT)
    assert unscoped == [], f"take `tenant` first (or a tenant-carrying value), or explain in CROSS_TENANT: {unscoped}"


def test_the_allow_list_names_only_real_unscoped_methods() -> None:
    """An entry for a method that is gone, or that is scoped after all, would hide the next one added."""
    methods = store_methods()
    assert sorted(set(CROSS_TENANT) - set(methods)) == []
    assert sorted(name for name in CROSS_TENANT if scoped(methods[name])) == []


def test_the_walk_tells_scoped_from_unscoped() -> None:
    methods = store_methods()
    assert scoped(methods["get_request"]) and scoped(methods["create_request"]) and scoped(methods["complete_delivery"])
    assert not scoped(methods["claim_due"]) and not scoped(methods["redeem_call_link"])
