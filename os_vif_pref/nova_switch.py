"""Whether our plugins' load switches the Nova integration on, decided cheaply.

os-vif loads our plugins in every process that calls ``os_vif.initialize()``
(nova-compute, but also agents, the demo, tests); nova-compute is the only
one where :mod:`os_vif_pref.nova.integration` has anything to do.  Importing
the integration pulls in the preference list, the probes and the catalogue
(about 47 ms), and it imports the plugins back through the probes: a plugin
that imported it on load made a cycle across the layers.  So the two facts
that decide (the ``[os_vif_pref] nova_integration`` option and "this process
is nova-compute") live here, below the plugins, and the integration is
imported only when both hold.

This is the one place a lower layer calls the Nova side, at run time and by
design (os-vif's plugin load is the only moment nova-compute gives us); the
import-linter contracts in ``setup.cfg`` name it as their only exception.
"""

from __future__ import annotations

import logging
import os
import sys

from oslo_config import cfg

LOG = logging.getLogger(__name__)

nova_integration_opt = cfg.BoolOpt(
    "nova_integration", default=False,
    help="Inside nova-compute: send this host's offer with every port "
         "binding and plug only what Neutron bound from it (see the "
         "README section 'Nova'). Off: Nova behaves exactly as stock.")

CONF = cfg.CONF
CONF.register_opt(nova_integration_opt, group="os_vif_pref")

#: Whether :func:`on_plugins_loaded` acted already in this process.
_tried = False


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    """The option declared here, for :mod:`os_vif_pref.conf`."""
    return [("os_vif_pref", [nova_integration_opt])]


def inside_nova_compute() -> bool:
    """Whether this process is nova-compute (its console script or
    ``python -m nova.cmd.compute``)."""
    prog = os.path.basename(sys.argv[0]) if sys.argv else ""
    return prog == "nova-compute" or "nova.cmd.compute" in sys.modules


def wanted() -> bool:
    """Whether the integration should switch on in this process: the option
    is set and this is nova-compute.  An unreadable configuration says so
    (ERROR) and counts as no."""
    try:
        if not CONF.os_vif_pref.nova_integration:
            return False
        if not inside_nova_compute():
            LOG.debug("os-vif-pref: [os_vif_pref] nova_integration is set "
                      "but this process is not nova-compute: not switched "
                      "on here")
            return False
    except Exception as exc:  # unreadable configuration
        LOG.error("os-vif-pref: Nova integration NOT switched on: %s", exc)
        return False
    return True


def on_plugins_loaded() -> None:
    """Called by each of our os-vif plugins' ``load()``: acts once per
    process, and imports the integration only where it switches on."""
    global _tried
    if _tried:
        return
    _tried = True
    if not wanted():
        return
    # The one upward import (see the module doc): nova-compute only.
    from os_vif_pref.nova import integration

    integration.on_plugins_loaded()
