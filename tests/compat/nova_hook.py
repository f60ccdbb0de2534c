"""Setup hook: Nova's ``os_vif_util`` replaced by our drop-in.

Called in the child process of ``tests/peer_suite.py`` before Nova's test
modules load (``tests.compat.nova_hook:install``).  Every function of
``nova.network.os_vif_util`` that Nova's tests (and Nova's callers: the
libvirt VIF driver, the compute manager) reach is replaced by the one in
:mod:`os_vif_pref.nova.dropin`, bound to the bundled catalogue with
``plugin_choice`` set to the upstream plugins, so that plugin names are
Nova's and every remaining difference is a real one.
"""

from __future__ import annotations

import functools
from typing import Any

#: os-vif's own plugins and the vendors' ones Nova names.
UPSTREAM_PLUGINS = frozenset({
    "ovs", "noop", "linux_bridge", "vhostuser_fp", "contrail_vrouter",
    "vrouter", "ivs", "agilio_ovs"})

#: Nova's function -> ours.
REPLACED = {
    "nova_to_osvif_vif": "nova_to_osvif_vif",
    "nova_to_osvif_instance": "nova_to_osvif_instance",
    "_nova_to_osvif_network": "nova_to_osvif_network",
    "_nova_to_osvif_subnets": "nova_to_osvif_subnets",
    "_nova_to_osvif_subnet": "nova_to_osvif_subnet",
    "_nova_to_osvif_ips": "nova_to_osvif_ips",
    "_nova_to_osvif_ip": "nova_to_osvif_ip",
    "_nova_to_osvif_routes": "nova_to_osvif_routes",
    "_nova_to_osvif_route": "nova_to_osvif_route",
}


def upstream_catalogue() -> Any:
    """The bundled catalogue, each entry plugged by Nova's plugin."""
    from os_vif_pref import catalogue

    layers = [list(catalogue.bundled_files())]
    base = catalogue.load(layers, plugin_choice={})
    choice = {}
    for entry in list(base.entries) + list(base.disabled):
        if entry.plugin not in UPSTREAM_PLUGINS:
            ups = [p for p in entry.alt_plugins if p in UPSTREAM_PLUGINS]
            if ups:
                choice[entry.name] = ups[0]
    cat = catalogue.load(layers, plugin_choice=choice)
    assert not cat.errors, cat.errors
    return cat


def install() -> None:
    from nova.network import os_vif_util

    from os_vif_pref.nova import dropin

    cat = upstream_catalogue()
    for theirs, ours in REPLACED.items():
        assert hasattr(os_vif_util, theirs), theirs
        fn = getattr(dropin, ours)
        if ours == "nova_to_osvif_vif":
            fn = _bound(fn, cat)
        setattr(os_vif_util, theirs, fn)


def _bound(fn: Any, cat: Any) -> Any:
    @functools.wraps(fn)
    def nova_to_osvif_vif(vif: Any) -> Any:
        return fn(vif, catalogue=cat)
    return nova_to_osvif_vif
