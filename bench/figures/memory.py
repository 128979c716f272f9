"""Figure 5: peak RSS of AskCall (SQLite) over figures 1–3, against the Bolt pbr=True floor's.

Reads `VmHWM` from /proc/<pid>/status after the last of figures 1–3 (MB = 10^6 bytes), while every
process still runs, and notes each helper's CPU seconds so far (how much the rest of the bench
competed with AskCall). Read-only: it changes no process and has no correctness check of its own.
"""

from __future__ import annotations

from bench.context import Context
from bench.processes import Deployment
from bench.report import Row


class PeakMemory:
    """Figure 5 on the SQLite deployment."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def measure(self, dep: Deployment) -> None:
        servers, report = self.ctx.servers, self.ctx.report
        askcall = dep.replicas[0]
        memory = askcall.memory_kib()
        floor = servers.floors["bolt-pbr"].memory_kib()
        peak, floor_peak = memory["VmHWM"] * 1024 / 1e6, floor["VmHWM"] * 1024 / 1e6
        note = " (under pyinstrument)" if self.ctx.opts.profile else ""
        report.rows.append(
            Row(
                "5",
                f"peak RSS of AskCall during 1–3{note}",
                peak,
                floor_peak,
                "MB",
                "≤ 120 MB",
                peak <= 120,
                "Bolt pbr=True floor",
            )
        )
        others = [c for c in servers.children if c.proc and c.proc.returncode is None]
        report.notes.append(
            "CPU seconds used over figures 1–3, to judge how much the rest of the bench competed with AskCall: "
            + ", ".join(f"{c.name} {c.cpu_seconds():.0f}" for c in [askcall, *others])
            + "."
        )
        report.notes.append(
            f"Figure 5 is VmHWM from /proc/<pid>/status after the last phase (MB = 10^6 bytes); AskCall's RSS "
            f"at that moment was {memory['VmRSS'] * 1024 / 1e6:.1f} MB."
        )
