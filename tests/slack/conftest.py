"""The store fixture of the contract tests (a fresh database on every backend), for the tests here that need one."""

from __future__ import annotations

from tests.store.conftest import store

__all__ = ["store"]
