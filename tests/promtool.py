"""`promtool check metrics` (Debian's `prometheus` package) for the tests of /metrics.

Where promtool is missing, a test using it is skipped with the reason; under CI (`CI` set) or with
`ASKCALL_REQUIRE_PROMTOOL=1` (set by .ci/run, which installs it) it fails instead, so CI can't silently stop
checking the metrics' names and types.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

INSTALL = "`apt-get install -y prometheus` installs it (.ci/run does)"


def require_promtool(found: str | None = None, *, required: bool | None = None) -> Path:
    """promtool's path; fails (when required) or skips (elsewhere) when it isn't installed."""
    path = found if found is not None else shutil.which("promtool")
    if path:
        return Path(path)
    message = f"promtool is missing: {INSTALL}"
    if _required() if required is None else required:
        pytest.fail(message + "; CI must check the metrics with it", pytrace=False)
    pytest.skip(message)


def _required() -> bool:
    flag = os.environ.get("ASKCALL_REQUIRE_PROMTOOL", "").strip()
    return flag == "1" or (bool(os.environ.get("CI")) and flag != "0")


def check_metrics(text: str) -> tuple[int, str]:
    """promtool's exit status and what it said about this exposition (problems, one per line)."""
    result = subprocess.run(
        [str(require_promtool()), "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    return result.returncode, (result.stdout + result.stderr).strip()
