"""Base class of our os-vif plugins: ``describe()`` comes from the catalogue.

Upstream plugins hand-write ``describe()`` and have shipped claims that did
not match what they plug.  Ours cannot drift: a plugin describes exactly the
catalogue entries that name it, so adding an entry (even a vendor's) is
enough to make the plugin advertise it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from os_vif import objects, plugin

from os_vif_pref import catalogue, exceptions, nova_switch


class CataloguePlugin(plugin.PluginBase):
    """An os-vif plugin whose description is generated from the catalogue."""

    #: The entry-point name in group ``os_vif`` (``pref_...``).
    PLUGIN_NAME: ClassVar[str]

    @classmethod
    def load(cls, plugin_name: str) -> Any:
        """os-vif loads every plugin once, at ``os_vif.initialize()``: the
        moment nova-compute starts, where the Nova integration switches on
        (if configured; it checks it is inside nova-compute itself).
        :mod:`os_vif_pref.nova_switch` decides without importing the
        integration, so no other process pays for it."""
        obj = super().load(plugin_name)
        nova_switch.on_plugins_loaded()
        return obj

    def describe(self) -> objects.host_info.HostPluginInfo:
        return catalogue.get_catalogue().host_plugin_info(self.PLUGIN_NAME)

    def require(self, vif: objects.vif.VIFBase, cls: type) -> None:
        """Refuse, with a clear message, a VIF object this plugin cannot plug.

        os-vif dispatches on ``vif.plugin`` alone, so a mislabelled object
        would otherwise fail deep inside with an AttributeError.
        """
        if not isinstance(vif, cls):
            raise exceptions.InvalidArgument(
                name="VIF type", value=type(vif).__name__,
                reason=f"{self.PLUGIN_NAME} handles {cls.__name__} only")
