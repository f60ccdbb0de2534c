"""Base class of our os-vif plugins: ``describe()`` comes from the catalogue.

Upstream plugins hand-write ``describe()`` and have shipped claims that did
not match what they plug.  Ours cannot drift: a plugin describes exactly the
catalogue entries that name it, so adding an entry (even a vendor's) is
enough to make the plugin advertise it.
"""

from __future__ import annotations

from typing import ClassVar

from os_vif import objects, plugin

from os_vif_pref import catalogue


class CataloguePlugin(plugin.PluginBase):
    """An os-vif plugin whose description is generated from the catalogue."""

    #: The entry-point name in group ``os_vif`` (``pref_...``).
    PLUGIN_NAME: ClassVar[str]

    def describe(self) -> objects.host_info.HostPluginInfo:
        return catalogue.get_catalogue().host_plugin_info(self.PLUGIN_NAME)
