"""`askcall …` run as a child process, for tests of what an operator sees (exit status and output)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path


async def run_askcall(
    *args: str,
    env: dict[str, str],
    cwd: Path,
    prefix: Sequence[str] = (),
    timeout: float = 60,  # noqa: ASYNC109
) -> tuple[int | None, str, str]:
    """(exit status, stdout, stderr) of `askcall args…`, run under `prefix` (e.g. setpriv) if given."""
    proc = await asyncio.create_subprocess_exec(
        *prefix,
        sys.executable,
        "-m",
        "bot.cli",
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode, stdout.decode(), stderr.decode()
