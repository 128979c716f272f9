"""Experiment: AskCall's HTTP front and its background work in two processes (figure 1, issue #9).

    python -m bench --phases 1 --askcall-command "python -m bench.split"

Runs a web process (this one: it verifies, stores and acks; its notifier, reminders and lease sweeps
never start, so it does no background work) and spawns a worker process: a normal AskCall on the next
port whose work loops look for due work every 50 ms, standing in for a cross-process wake-up
(LISTEN/NOTIFY). Both use the database the bench gives AskCall. Not product code: it patches AskCall's
start-up to measure what a `--role web` / `worker` split would gain before building one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import bot.leases
import bot.services.reminders
import bot.slack.notifier
import bot.worker
from bot.cli import main

WORKER_POLL = 0.05


async def _no_sweep(self: bot.leases.LeaseKeeper) -> None:
    return None


def _no_start(self: object) -> None:
    return None


def web() -> int:
    bot.slack.notifier.Notifier.start = _no_start  # type: ignore[method-assign]
    bot.services.reminders.ReminderService.start = _no_start  # type: ignore[method-assign]
    bot.leases.LeaseKeeper.start = _no_start  # type: ignore[method-assign]
    bot.leases.LeaseKeeper.sweep = _no_sweep  # type: ignore[method-assign]
    env = dict(os.environ, PORT=str(int(os.environ["PORT"]) + 1))
    worker = subprocess.Popen([sys.executable, "-m", "bench.split", "worker"], env=env)
    try:
        return main(["serve"])
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)


def worker() -> int:
    bot.worker.MAX_IDLE = WORKER_POLL
    return main(["serve"])


if __name__ == "__main__":
    sys.exit(worker() if sys.argv[1:] == ["worker"] else web())
