"""The isolation module: its only job is trying to cross from one workspace (tenant) to another, on both backends,
at the store and at the service level (AskCall served over loopback HTTP, its own workspace T1, with rows of a
second workspace T2 planted in the same database). Every test says what it tries and what must happen."""

from __future__ import annotations

from tests.store.conftest import rival, store

__all__ = ["rival", "store"]
