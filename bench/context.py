"""What the figures share: the run's options, its running helpers, the customers handed out, the results sink.

Each figure is an object built from a `Context` (figure 4, which needs no server, from the options, the
workdir and the report alone); everything a figure reads or writes beyond its own state goes through
it. Invariant: no customer number is used twice in a run (`Customers`), so an answer can only
correlate with the request it was sent for, whatever figure or deployment came before.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from bench.processes import Deployment, Servers
from bench.report import Report


@dataclass(frozen=True)
class Options:
    """The command line, resolved (see bench/README.md, Options, and `bench.cli.parse_args`)."""

    quick: bool
    reps: int
    ack_requests: int
    workspaces: int  # figure 1 variant: installed workspaces in multi-workspace mode (0: none)
    ingest_events: int
    answers: int
    answer_rate: float
    duplicate_share: float
    lookup_rows: int
    lookups: int
    pilot_delay: float
    light_rate: float
    phases: frozenset[int]
    sqlite: bool
    postgres_replicas: tuple[int, ...]
    postgres_url: str
    postgres_url_given: bool
    profile: bool
    askcall_command: list[str]
    workdir: Path | None
    keep: bool
    results: Path | None
    soak: float = 0.0  # `--soak SECONDS`: the soak instead of the figures (bench/soak.py); 0: no soak
    soak_rate: float = 10.0  # the soak's commands per second


class Customers:
    """Hands out customer indexes per area code (see bench.common), each range once per run."""

    def __init__(self) -> None:
        self._next: defaultdict[int, int] = defaultdict(int)

    def take(self, area: int, count: int) -> int:
        """The first of `count` customer indexes of `area` that no one has used yet."""
        first = self._next[area]
        self._next[area] += count
        return first


@dataclass(frozen=True)
class Context:
    """The run as figures 1–3 and 5 see it: options, workdir, helper processes, customers, results sink."""

    opts: Options
    work: Path
    servers: Servers
    report: Report
    customers: Customers = field(default_factory=Customers)

    async def settle(self, dep: Deployment, after: str, within: float = 240.0) -> None:
        """Until AskCall has no work left; a note in the report when it still had some after `within` s."""
        idle, backlog = await dep.db.wait_idle(within)
        if not idle:
            self.report.notes.append(f"AskCall still had work after {after} when the next phase started: {backlog}")
