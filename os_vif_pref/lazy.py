"""A module imported when it is first used, not when its user is imported.

The os-vif plugins are loaded (imported and ``describe()``-d) by everything
that lists the host's bindings: ``os-vif-pref preferences``, the probes,
Nova's start-up check.  Only plugging needs netlink (pyroute2), the privsep
daemon and the OVSDB IDL (ovsdbapp), which together cost more to import than
the rest of the plugin, so the plugins hold those modules through
:func:`module`.

A plain proxy rather than ``importlib.util.LazyLoader``: the first use may
come from two threads (or green threads) at once, and ``importlib`` 's
import lock makes :func:`importlib.import_module` safe there; the proxy
never replaces ``sys.modules`` entries, so ``mock.patch.object`` on the real
module or on the plugin's attribute both keep working.
"""

from __future__ import annotations

import importlib
import types
from typing import Any


class _Module:
    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._name), attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


def module(name: str) -> types.ModuleType:
    """``name``, imported at the first attribute read."""
    return _Module(name)  # type: ignore[return-value]
