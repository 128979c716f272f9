"""A tiny tmpfs for tests that need a really full disk (mounting needs root: CI runs as root).

Where it can't be mounted, the tests using `tiny_disk` are skipped with the reason; with
`ASKCALL_REQUIRE_TMPFS=1` (set by `.ci/run`), or `CI` set and `ASKCALL_REQUIRE_TMPFS` not 0, they fail
instead, so CI can't silently stop running them.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

DISK_SIZE = "2m"


def _mount_tmpfs(where: Path) -> str | None:
    """Mount a tiny tmpfs at `where`; the reason when it can't be done here."""
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root (CI runs the tests as root)"
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_SIZE}", "tmpfs", str(where)], capture_output=True, text=True
    )
    if result.returncode != 0:
        return f"mount -t tmpfs failed here: {result.stderr.strip() or result.returncode}"
    return None


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    where = tmp_path / "disk"
    where.mkdir()
    reason = _mount_tmpfs(where)
    if reason is not None:
        if _required():
            pytest.fail(f"a tmpfs is required here (ASKCALL_REQUIRE_TMPFS=1 or CI) but: {reason}", pytrace=False)
        pytest.skip(reason)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _required() -> bool:
    flag = os.environ.get("ASKCALL_REQUIRE_TMPFS", "").strip()
    return flag == "1" or (bool(os.environ.get("CI")) and flag != "0")


class Filler:
    """Takes every free byte of the tiny disk, then gives it back."""

    def __init__(self, disk: Path, db_path: Path) -> None:
        self._file = disk / "filler"
        self._db_path = db_path

    def fill(self) -> None:
        with contextlib.suppress(OSError), self._file.open("wb") as filler:
            chunk = b"\0" * 4096
            while True:
                filler.write(chunk)
                filler.flush()
        # SQLite may still have room inside its write-ahead log: use that up too, as a writer would.
        junk = sqlite3.connect(self._db_path, timeout=10)
        try:
            for n in range(100_000):
                try:
                    with junk:
                        junk.execute(
                            "INSERT INTO handled_actions (tenant_id, action_key, created_at) VALUES ('T1', ?, 0)",
                            (f"filler-{n}-" + "x" * 3000,),
                        )
                except sqlite3.OperationalError as error:
                    if "full" in str(error):
                        return
                    raise
            raise AssertionError("the disk never filled")
        finally:
            junk.close()

    def free(self) -> None:
        self._file.unlink()


@contextlib.contextmanager
def read_only_file_system(folder: Path) -> Iterator[None]:
    """`folder` as a read-only file system for the duration (a read-only bind mount over itself), as a read-only
    volume or a read-only root file system shows it. Needs root, like the tiny disk: skipped with the reason
    elsewhere, a failure under CI (ASKCALL_REQUIRE_TMPFS=1, or CI)."""
    reason = None
    if os.geteuid() != 0:
        reason = "a read-only bind mount needs root (CI runs the tests as root)"
    else:
        bound = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True, text=True)
        if bound.returncode != 0:
            reason = f"mount --bind failed here: {bound.stderr.strip() or bound.returncode}"
    if reason is not None:
        if _required():
            pytest.fail(
                f"a read-only mount is required here (ASKCALL_REQUIRE_TMPFS=1 or CI) but: {reason}", pytrace=False
            )
        pytest.skip(reason)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(folder), str(folder)], check=True, capture_output=True)
        yield
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
