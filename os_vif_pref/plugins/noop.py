"""``pref_noop``: bindings whose host side someone else plugs.

A remote-managed port (the representor lives on a SmartNIC DPU and its own
backend wires it) and a plain vhost-user port whose socket the network
backend manages need nothing from the compute host.  Nova names upstream's
``noop`` plugin for both, but that plugin describes only VIFVHostUser, so a
host checking plugins against the catalogue could never offer the
remote-managed binding.  This plugin describes exactly what its catalogue
entries say and plugs nothing; unlike upstream's it still refuses VIF
objects none of its entries produce, so a mislabelled VIF is an error
instead of silently "plugged".
"""

from __future__ import annotations

from os_vif import objects

from os_vif_pref import catalogue, exceptions
from os_vif_pref.plugins import base

PLUGIN_NAME = "pref_noop"


class NoopPlugin(base.CataloguePlugin):
    """Plugs nothing, for the objects its catalogue entries name."""

    PLUGIN_NAME = PLUGIN_NAME

    def _check(self, vif: objects.vif.VIFBase) -> None:
        handled = {e.vif_object for e in
                   catalogue.get_catalogue().by_plugin(PLUGIN_NAME)}
        if type(vif).__name__ not in handled:
            raise exceptions.InvalidArgument(
                name="VIF type", value=type(vif).__name__,
                reason=f"{PLUGIN_NAME} handles "
                       f"{', '.join(sorted(handled)) or 'nothing'} only")

    def plug(self, vif: objects.vif.VIFBase,
             instance_info: objects.instance_info.InstanceInfo) -> None:
        self._check(vif)

    def unplug(self, vif: objects.vif.VIFBase,
               instance_info: objects.instance_info.InstanceInfo) -> None:
        self._check(vif)
