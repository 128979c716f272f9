"""Leases: this process's claims on work, renewed while it lives and released when it stops.

Claiming a job (a delivery, a request's send, a reminder, a webhook event) writes this process's
`owner` and a time `lease_seconds` ahead on the job's row. Work whose lease ran out belongs to a dead
process and is taken over by whoever sweeps first (`claim_abandoned_*`, `abandoned_*`); a live
process's work is never touched, so replicas never share a job and a restart never redoes a live one.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable, Mapping

from bot.store.connection import StoreConnection
from bot.store.types import LeasedTable


class LeaseStore(StoreConnection):
    @abstractmethod
    async def renew_leases(self, now: float, held: Mapping[LeasedTable, Iterable[int]]) -> int:
        """Extend this process's leases on the rows it is working on right now (`held`: ids by table);
        returns how many. A lease this process took
        but no longer works on (its job failed) is not renewed: it runs out, and the work is swept up
        again. Called well within `lease_seconds`."""

    @abstractmethod
    async def release_leases(self) -> int:
        """Give up every lease this process holds (at shutdown), so others may take the work at once."""

    @abstractmethod
    async def open_leases(self, now: float) -> list[tuple[LeasedTable, str, int, bool]]:
        """(table, owner, how many, expired?) of every lease held: `askcall db status`."""
