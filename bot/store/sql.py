"""SQL that both backends run as it is, written once.

Invariant: nothing here is specific to one database; a statement only one backend can run stays in
that backend's package (with transaction flow and DDL).
"""

from __future__ import annotations

from bot.domain import DeliveryState

_OPEN = f"('{DeliveryState.PENDING}', '{DeliveryState.INFLIGHT}')"
# The /metrics counts, in this order (see `MetricsSnapshot.from_rows`).
METRICS_QUERIES = (
    "SELECT state, outcome, COUNT(*) FROM requests GROUP BY state, outcome",
    "SELECT result, COUNT(*) FROM webhook_events GROUP BY result",
    f"""SELECT kind, SUM(attempts), SUM(attempts) - SUM(CASE WHEN state = '{DeliveryState.DONE}' THEN 1 ELSE 0 END)
        FROM deliveries GROUP BY kind""",
    f"SELECT COUNT(*), 0 FROM deliveries WHERE state = '{DeliveryState.DEAD}'",
    f"SELECT COUNT(*), MIN(created_at) FROM deliveries WHERE state IN {_OPEN}",
    """SELECT state, COALESCE(end_reason, ''), COUNT(*), COUNT(connected_at), COALESCE(SUM(duration), 0)
       FROM calls GROUP BY state, end_reason""",
)
