"""Count work without a clock: the Python lines executed in chosen packages while a block runs.

Tests never assert on wall-clock time (it depends on the machine and its load). The number of
Python lines a piece of code executes does not: a loop over the input shows up as a count that
grows with the input, while single C-level passes (regular expressions, `str` methods) count as
one line whatever the length. This is how the tests prove that reading a command is linear.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any


@dataclass
class LineCount:
    lines: int = 0


@contextmanager
def python_lines(*packages: str) -> Iterator[LineCount]:
    """Count the lines executed, in this thread, by code whose file lies in one of `packages`."""
    roots = tuple(os.path.dirname(importlib.import_module(name).__file__ or "") + os.sep for name in packages)
    count = LineCount()

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        if event == "line":
            count.lines += 1
        return local

    def calls(frame: FrameType, event: str, arg: Any) -> Any:
        return local if frame.f_code.co_filename.startswith(roots) else None

    previous = sys.gettrace()
    sys.settrace(calls)
    try:
        yield count
    finally:
        sys.settrace(previous)
