"""oslo.config glue: the ``list_opts()`` entry point for oslo-config-generator.

Options are declared next to the code that reads them (as in os-vif); this
module only gathers them so that ``oslo-config-generator --namespace
os_vif_pref`` documents every one.  Each module that declares options exposes
a ``list_opts()`` returning ``[(group, [opts])]`` and is named in
``_OPT_MODULES``.
"""

from __future__ import annotations

import importlib
import itertools

from oslo_config import cfg

CONF = cfg.CONF

#: Modules that declare options; each has a ``list_opts()`` function.
_OPT_MODULES: tuple[str, ...] = (
    "os_vif_pref.catalogue.opts",
    "os_vif_pref.plugins.ovs",
    "os_vif_pref.privsep",
    "os_vif_pref.plugins.linux_bridge",
    "os_vif_pref.plugins.tap",
    "os_vif_pref.offer.opts",
    "os_vif_pref.locking",
    "os_vif_pref.probes.opts",
    "os_vif_pref.preference",
    "os_vif_pref.nova.convert",
    "os_vif_pref.nova_switch",
    "os_vif_pref.nova.integration",
)


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    """Return every option of the package, grouped, for the generator."""
    grouped: dict[str, list[cfg.Opt]] = {}
    for name in _OPT_MODULES:
        module = importlib.import_module(name)
        for group, opts in module.list_opts():
            grouped.setdefault(group, [])
            for opt in opts:
                if opt not in grouped[group]:
                    grouped[group].append(opt)
    return sorted(grouped.items())


def all_opts() -> list[cfg.Opt]:
    """Flat list of every option (used by tests)."""
    return list(itertools.chain.from_iterable(o for _, o in list_opts()))
