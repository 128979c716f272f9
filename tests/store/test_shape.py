"""The store interface is shaped like its backends: one interface module per concern, and each backend's module of
the same name implements exactly that concern's abstract methods (no more, no fewer)."""

from __future__ import annotations

import importlib
import inspect

import pytest

from bot.store import Store
from bot.store.connection import StoreConnection

CONCERNS = (
    "requests",
    "events",
    "deliveries",
    "reminders",
    "preferences",
    "records",
    "leases",
    "admin",
    "calls",
    "workspaces",
    "installations",
    "workspace_settings",
)
BACKENDS = ("sqlite", "postgres")


def _only_class(module_name: str, base: type) -> type:
    module = importlib.import_module(module_name)
    found = [
        c for _, c in inspect.getmembers(module, inspect.isclass) if c.__module__ == module_name and issubclass(c, base)
    ]
    assert len(found) == 1, f"{module_name} should define one {base.__name__}: {found}"
    return found[0]


def _abstract(cls: type) -> set[str]:
    return {name for name, value in vars(cls).items() if getattr(value, "__isabstractmethod__", False)}


@pytest.mark.parametrize("concern", CONCERNS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_each_backend_module_implements_its_concern(backend: str, concern: str) -> None:
    interface = _only_class(f"bot.store.{concern}", StoreConnection)
    queries = _only_class(f"bot.store.{backend}.{concern}", Store)
    declared = _abstract(interface)
    assert declared, f"bot.store.{concern} declares nothing"
    implemented = {name for name in vars(queries) if not name.startswith(("__", "_abc"))} & set(dir(Store))
    assert implemented == declared, f"bot.store.{backend}.{concern} implements {implemented}, declares {declared}"


def test_store_is_the_composition_of_the_concerns() -> None:
    concerns = {_only_class(f"bot.store.{concern}", StoreConnection) for concern in CONCERNS}
    assert set(Store.__bases__) == concerns
    assert Store.__abstractmethods__ == frozenset().union(*(_abstract(c) for c in concerns), _abstract(StoreConnection))
