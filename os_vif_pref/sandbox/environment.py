"""A network namespace with a private userspace OVS, ``pref_ovs`` pointed
at it: where the demo plugs, and OVS functional tests (through
:mod:`os_vif_pref.testing.conformance`, which re-exports it).
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib

import os_vif
from oslo_config import cfg

from os_vif_pref.sandbox import netns, ovs, privsep_conf


@contextlib.contextmanager
def private_ovs_environment(
    bridges: tuple[str, ...] = ("br-int",), timeout: int = 20,
) -> Iterator[ovs.PrivateOVS]:
    """A fresh network namespace with a private userspace OVS, and
    ``pref_ovs`` pointed at it, for the duration of the block.

    The calling process enters the namespace (so the privsep daemon started
    by the next privileged call, and vswitchd, live there); on exit both
    daemons stop, the process returns to where it was and the previous
    ``[os_vif_pref_ovs] ovsdb_connection`` is restored.  Nesting inside
    another test namespace is fine: the outer one's privsep daemon is
    stopped first and a new one starts on the next call after the block.
    """
    from os_vif_pref.ovs import ovsdb
    from os_vif_pref.plugins import ovs as ovs_plugin

    os_vif.initialize()
    group = ovs_plugin.CONFIG_GROUP
    saved = {key: cfg.CONF[group][key]
             for key in ("ovsdb_connection", "ovsdb_timeout")}
    privsep_conf.stop_daemons()
    ns = netns.Netns().open()
    try:
        with ovs.PrivateOVS(bridges=bridges) as server:
            cfg.CONF.set_override("ovsdb_connection", server.connection,
                                  group=group)
            cfg.CONF.set_override("ovsdb_timeout", timeout, group=group)
            try:
                yield server
            finally:
                ovsdb.get(server.connection, float(timeout)).close()
                for key, value in saved.items():
                    default = cfg.CONF._get_opt_info(key, group)["opt"] \
                        .default
                    if value == default:
                        cfg.CONF.clear_override(key, group=group)
                    else:
                        cfg.CONF.set_override(key, value, group=group)
    finally:
        ns.close()
