"""``pref_ovn``: Neutron's OVN driver, negotiating per chassis.

Neutron's ``OVNMechanismDriver.bind_port`` decides everything inline: the
vnic type, external ports, the chassis of the port's host (and that its
``ovn-controller`` is alive), the segments (subnet segments, physical
networks the chassis has bridge mappings for), then one ``if/elif`` picks
``vhostuser`` (chassis with ``datapath-type: netdev`` and the
``dpdkvhostuser`` interface type), ``agilio_ovs`` (``virtio-forwarder``
ports) or ``ovs``, adds the chassis' bridge and the datapath type read
from the Southbound ``Chassis`` table, and calls ``context.set_binding``.
There is no smaller method to override, so this driver runs that stock
code unchanged on a view of the port context whose ``set_binding`` asks
the offer (:mod:`os_vif_pref.neutron.ml2.hook`) before passing the result
on.  At that point the stock code has made every check; the candidates
are, stock first:

* the stock binding, exactly as computed;
* for a ``normal`` port on a DPDK chassis: also ``ovs`` - the stock ``ovs``
  details with the same bridge and datapath type (``netdev``), which is
  what the stock driver binds on a netdev chassis without vhost-user.

If the offer picks ``ovs`` there, the vhost-user socket path the stock code
also wrote into the port dict is taken out again, so nothing downstream
sees a socket for a port that has none.  No offer, an unreadable one, or
one for another host: the stock binding.  A readable offer for this host
that has none of the candidates: not bound by this driver (WARNING naming
both lists), ``binding_failed`` unless another driver binds it.

Neutron enables some OVN parts only for the literal name ``ovn``:
``mech_drivers['ovn']`` is looked up by the OVN L3 router plugin, the BGP
and EVPN plugins and OVN's placement extension, and the OVN trunk and PVLAN
drivers check ``'ovn' in [ml2] mechanism_drivers``.  :meth:`initialize`
registers this driver's trunk and PVLAN drivers under its own name, and
the mechanism manager also lists this driver under ``ovn`` - a second name
for the same driver, not a second driver (ML2 calls drivers from its
ordered list, which is unchanged).  That must happen while ML2 initializes
its drivers: the OVN L3 plugin (``service_plugins = ovn-router``) looks the
name up in its constructor, right after the core plugin's and before any
event a driver can subscribe to (found in the one-machine cloud on ML2/OVN:
neutron-server did not start, "None of the supported mechanism drivers
found").  :meth:`initialize` therefore finds the manager calling it; the
``PROCESS`` ``BEFORE_SPAWN`` / ``AFTER_INIT`` events (before any worker
serves a request) stay as a second chance should that ever not find it.
"""

from __future__ import annotations

import copy
import logging
import sys
from typing import Any

from neutron.common.ovn import constants as ovn_const
from neutron.plugins.ml2.drivers.ovn.mech_driver import mech_driver
from neutron.services.pvlan.drivers.ovn import driver as pvlan_driver
from neutron.services.trunk.drivers.ovn import trunk_driver
from neutron_lib.api.definitions import portbindings
from neutron_lib.callbacks import events, registry, resources
from neutron_lib.plugins import directory
from oslo_config import cfg

from os_vif_pref import offer
from os_vif_pref.neutron.ml2 import hook

LOG = logging.getLogger(__name__)

#: The entry-point name.
NAME = "pref_ovn"
STOCK_NAME = ovn_const.OVN_ML2_MECH_DRIVER_NAME


def _configured() -> list[str]:
    try:
        return list(cfg.CONF.ml2.mechanism_drivers)
    except cfg.NoSuchOptError:
        return []


class PrefOVNMechanismDriver(mech_driver.OVNMechanismDriver):
    """Neutron's OVN driver; the host's offer orders its candidates."""

    def initialize(self) -> None:
        super().initialize()
        # The stock trunk driver would only be loaded under "ovn": replace
        # it (before the trunk plugin's AFTER_INIT, where it subscribes its
        # handlers) by the same driver loaded under either name.
        registry.unsubscribe(self.trunk_driver.register,
                             resources.TRUNK_PLUGIN, events.AFTER_INIT)
        self.trunk_driver = TrunkDriver.create(self)
        registry.subscribe(self._register_pvlan_driver,
                           pvlan_driver.PVLAN_PLUGIN, events.BEFORE_SPAWN)
        for event in (events.BEFORE_SPAWN, events.AFTER_INIT):
            registry.subscribe(self._answer_to_stock_name,
                               resources.PROCESS, event)
        manager = self._manager_initializing_me()
        if manager is not None:
            self._alias_in(manager)

    # -- the literal name --------------------------------------------------

    def _answer_to_stock_name(self, resource: Any = None, event: Any = None,
                              trigger: Any = None,
                              payload: Any = None) -> None:
        """List this driver under ``ovn`` in the mechanism manager too."""
        plugin = directory.get_plugin()
        manager = getattr(plugin, "mechanism_manager", None)
        if manager is not None:
            self._alias_in(manager)

    def _manager_initializing_me(self) -> Any:
        """The ML2 mechanism manager whose ``initialize`` calls ours.

        ML2 builds its manager before the core plugin is in the plugin
        directory, and publishes nothing between its drivers'
        ``initialize`` and the service plugins' constructors: the caller's
        frames are the one place the manager is reachable from.  Only a
        frame whose ``self`` lists this very driver object counts.
        """
        frame = sys._getframe(1)
        for _ in range(6):
            if frame is None:
                return None
            candidate = frame.f_locals.get("self")
            drivers = getattr(candidate, "ordered_mech_drivers", None)
            if isinstance(drivers, list) and any(
                    getattr(ext, "obj", None) is self for ext in drivers):
                return candidate
            frame = frame.f_back
        return None

    def _alias_in(self, manager: Any) -> None:
        """List this driver under ``ovn`` in ``manager`` (once)."""
        if STOCK_NAME in manager.mech_drivers:
            return
        for ext in manager.ordered_mech_drivers:
            if ext.obj is self:
                manager.mech_drivers[STOCK_NAME] = ext
                LOG.info("Mechanism driver %s also answers to %r for the "
                         "OVN L3, BGP, EVPN and placement code", ext.name,
                         STOCK_NAME)
                return

    def _register_pvlan_driver(self, resource: Any, event: Any,
                               trigger: Any, payload: Any = None) -> None:
        driver = PVLANDriver.create(mech_driver=self)
        if driver.is_loaded:
            registry.subscribe(pvlan_driver._initialize_pvlan_pg_drop,
                               resources.PROCESS, events.AFTER_INIT)
            trigger.register_driver(driver)

    # -- binding -----------------------------------------------------------

    def candidate_bindings(self, port: dict[str, Any], vif_type: str,
                           vif_details: dict[str, Any],
                           ) -> list[hook.Candidate]:
        """What the stock code can produce for this port on the chassis
        it just checked, given what it chose; the stock binding first."""
        out = [hook.Candidate(vif_type, vif_details)]
        vnic_type = port.get(portbindings.VNIC_TYPE,
                             portbindings.VNIC_NORMAL)
        if (vif_type == portbindings.VIF_TYPE_VHOST_USER
                and vnic_type == portbindings.VNIC_NORMAL):
            plain = copy.deepcopy(self.vif_details[portbindings.VIF_TYPE_OVS])
            for key in (portbindings.VIF_DETAILS_BRIDGE_NAME,
                        portbindings.OVS_DATAPATH_TYPE):
                plain[key] = vif_details.get(key)
            out.append(hook.Candidate(portbindings.VIF_TYPE_OVS, plain))
        return out

    def bind_port(self, context: Any) -> None:
        profile = context.current.get(portbindings.PROFILE)
        if not profile or offer.KEY not in profile:
            # No offer (an old Nova): the stock code path, nothing added.
            return super().bind_port(context)
        return super().bind_port(_NegotiatingContext(context, self))


class _NegotiatingContext:
    """The port context the stock ``bind_port`` sees.

    Every attribute is the real context's; ``set_binding`` lets the offer
    choose among the stock code's candidates first.
    """

    def __init__(self, context: Any, driver: PrefOVNMechanismDriver) -> None:
        self._pref_context = context
        self._pref_driver = driver
        details = context.current.get(portbindings.VIF_DETAILS)
        self._pref_socket = (details or {}).get(
            portbindings.VHOST_USER_SOCKET)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pref_context, name)

    def set_binding(self, segment_id: str, vif_type: str,
                    vif_details: dict[str, Any], status: Any = None) -> None:
        port = self._pref_context.current
        choice = hook.select(
            port, self._pref_driver.candidate_bindings(port, vif_type,
                                                       vif_details),
            driver=NAME, where=f"on segment {segment_id}")
        if choice is None or choice.vif_type != vif_type:
            self._restore_socket(port)
        if choice is None:
            return
        if status is None:
            self._pref_context.set_binding(segment_id, choice.vif_type,
                                           choice.vif_details)
        else:
            self._pref_context.set_binding(segment_id, choice.vif_type,
                                           choice.vif_details, status=status)

    def _restore_socket(self, port: dict[str, Any]) -> None:
        """Undo the stock code's write of the socket into the port dict."""
        details = port.get(portbindings.VIF_DETAILS)
        if not isinstance(details, dict):
            return
        if self._pref_socket is None:
            details.pop(portbindings.VHOST_USER_SOCKET, None)
        else:
            details[portbindings.VHOST_USER_SOCKET] = self._pref_socket


class TrunkDriver(trunk_driver.OVNTrunkDriver):
    """Neutron's OVN trunk driver, loaded under either driver name."""

    @property
    def is_loaded(self) -> bool:
        configured = _configured()
        return NAME in configured or STOCK_NAME in configured


class PVLANDriver(pvlan_driver.PVLANDriver):
    """Neutron's OVN PVLAN driver, loaded under ``pref_ovn`` (the stock
    one already is under ``ovn``)."""

    @property
    def is_loaded(self) -> bool:
        return NAME in _configured()
