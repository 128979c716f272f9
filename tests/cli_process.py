"""`askcall …` run as a child process, for tests of what an operator sees (exit status and output)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path


async def _spawn(
    args: Sequence[str],
    *,
    env: dict[str, str],
    cwd: Path,
    stderr: int,
    prefix: Sequence[str] = (),
    stdin: int | None = None,
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *prefix,
        sys.executable,
        "-m",
        "bot.cli",
        *args,
        cwd=cwd,
        env=env,
        stdin=stdin,
        stdout=asyncio.subprocess.PIPE,
        stderr=stderr,
    )


async def run_askcall(
    *args: str,
    env: dict[str, str],
    cwd: Path,
    prefix: Sequence[str] = (),
    timeout: float = 60,  # noqa: ASYNC109
) -> tuple[int | None, str, str]:
    """(exit status, stdout, stderr) of `askcall args…`, run under `prefix` (e.g. setpriv) if given."""
    proc = await _spawn(args, env=env, cwd=cwd, prefix=prefix, stderr=asyncio.subprocess.PIPE)
    stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode, stdout.decode(), stderr.decode()


class AskcallOutput:
    """`askcall args…` running as a child process whose output a test reads as it comes (stdout and stderr merged),
    and whose standard input is a pipe the test types into."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._reader = asyncio.ensure_future(self._read())

    @classmethod
    async def start(cls, *args: str, env: dict[str, str], cwd: Path) -> AskcallOutput:
        return cls(
            await _spawn(args, env=env, cwd=cwd, stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.PIPE)
        )

    async def type(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode())
        await self.proc.stdin.drain()

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            self.lines.append(line.decode().rstrip("\n"))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    async def line(self, predicate: Callable[[str], bool], what: str, timeout: float = 15) -> str:  # noqa: ASYNC109
        """The first line printed so far or from now on that satisfies `predicate`."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for line in self.lines:
                if predicate(line):
                    return line
            if self._reader.done() or asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"askcall printed no {what}; it printed:\n{self.text}")
            await asyncio.sleep(0.05)

    async def stop(self, signal_number: int, timeout: float = 15) -> int:  # noqa: ASYNC109
        """Send `signal_number`, wait for the exit and the rest of the output; the exit status."""
        if self.proc.returncode is None:
            self.proc.send_signal(signal_number)
        try:
            status = await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            raise
        await self._reader
        return status


async def run_askcall_on_a_terminal(
    *args: str,
    env: dict[str, str],
    cwd: Path,
    typed: str,
    timeout: float = 60,  # noqa: ASYNC109
) -> tuple[int | None, str, str]:
    """`askcall args…` with a terminal (a pty) as its standard input, where `typed` was typed ahead (each
    answer ends with a newline): for commands that ask only a person. (exit status, stdout, stderr)."""
    controller, terminal = os.openpty()
    try:
        proc = await _spawn(args, env=env, cwd=cwd, stderr=asyncio.subprocess.PIPE, stdin=terminal)
    finally:
        os.close(terminal)
    try:
        os.write(controller, typed.encode())
        stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout)
    finally:
        os.close(controller)
    return proc.returncode, stdout.decode(), stderr.decode()
