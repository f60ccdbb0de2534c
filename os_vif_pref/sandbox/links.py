"""The kernel links of a namespace, as facts that can be compared.

The demo compares the sandbox before and after each case with it, and the
plugin conformance kit (:mod:`os_vif_pref.testing.conformance`, which
re-exports it) judges "nothing changed" by it.
"""

from __future__ import annotations

from typing import Any


def kernel_links() -> dict[str, tuple[Any, ...]]:
    """Links of the calling thread's namespace: name -> observable facts.

    Read over netlink (sysfs may belong to another namespace).  Masters are
    given by name: ifindexes change when a device is recreated, which is
    an implementation detail, not a change of state.
    """
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        msgs = list(ipr.get_links())
    by_index = {m["index"]: m.get("ifname") for m in msgs}
    out = {}
    for m in msgs:
        out[m.get("ifname")] = (
            m.get(("linkinfo", "kind")),
            by_index.get(m.get("master")),
            m.get("mtu"),
            bool(m["flags"] & 1),
        )
    return out
