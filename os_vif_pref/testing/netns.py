"""Throw-away network namespaces for functional tests.

:class:`TestNetns` is :class:`os_vif_pref.sandbox.netns.Netns` (the calling
process enters a fresh namespace until :meth:`~TestNetns.close`), under the
name tests and vendors' suites use; :func:`ping` and :func:`unique_name` come
from there too.  :class:`NetnsFactory` (extra namespaces, not entered) is
for tests only.
"""

from __future__ import annotations

import contextlib

from pyroute2 import NetNS, netns

from os_vif_pref.sandbox.netns import Netns, ping, unique_name

__all__ = ["NetnsFactory", "TestNetns", "list_namespaces", "ping",
           "unique_name"]


class TestNetns(Netns):
    """Create a namespace, enter it, and undo everything on :meth:`close`."""

    __test__ = False  # not a pytest test class


class NetnsFactory:
    """Extra namespaces (not entered), all removed by :meth:`cleanup`."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def __call__(self, hint: str = "x") -> str:
        name = unique_name(f"ovp{hint}")
        netns.create(name)
        self.names.append(name)
        with NetNS(name) as ns:
            ns.link("set", index=1, state="up")
        return name

    def cleanup(self) -> None:
        for name in self.names:
            with contextlib.suppress(FileNotFoundError, OSError):
                netns.remove(name)
        self.names.clear()


def list_namespaces() -> list[str]:
    return list(netns.listnetns())
