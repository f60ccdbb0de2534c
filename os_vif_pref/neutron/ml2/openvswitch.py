"""``pref_openvswitch``: Neutron's Open vSwitch driver, negotiating.

This is Neutron's own ``OpenvswitchMechanismDriver`` with one change, made
where the agent-based binding sets the binding
(``try_to_bind_segment_for_agent``): instead of the one binding the stock
driver computes for an agent and segment, it computes the bindings the
stock driver *can* produce for that agent and lets the host's offer order
them (:mod:`os_vif_pref.neutron.ml2.hook`).  Everything before that point
is the stock code, untouched: the vnic types and the prohibit list, the
``direct`` + ``switchdev`` rule, agent liveness and SmartNIC checks, the
segment's network type, physical-network bridge mappings, subnet segments.

The candidates for an agent and segment, stock first:

* the stock binding, exactly as ``openvswitch`` computes it (vhost-user
  with the agent's socket path and mode on a DPDK agent; ``ovs`` with the
  agent's ``datapath_type``, ``bridge_name``, ``ovs_hybrid_plug``,
  ``ovs_create_tap`` otherwise; ``ovs`` for ``direct`` with switchdev);
* on an agent that reports ``datapath_type: netdev`` and the vhost-user
  interface types, for a ``normal`` port: also ``ovs`` on that netdev
  bridge - the binding the stock driver itself gives such an agent when it
  does not report the vhost-user types, computed by the stock code on that
  view of the agent.

Nothing else is ever a candidate: the hybrid plug stays what the agent's
firewall needs, and the offer cannot ask for a type the agent does not run.

One detail differs from the stock code, and only with an offer: an ``ovs``
candidate on a ``netdev`` bridge (no hybrid plug, vnic ``normal``) carries
``ovs_create_tap`` when ``[OVS_DRIVER] ovs_create_tap`` is on, as Neutron's
own OVN driver does for every ``ovs`` binding whatever the datapath (the
stock OVS driver sets it on the ``system`` datapath only).  The host then
creates the tap, up, before the port is added, and libvirt uses it
(``managed='no'``).  Left to libvirt, the tap is created down and set up
microseconds later while ovs-vswitchd's userspace datapath opens it and
sets promiscuous mode from the flags it read at the creation: when the two
interleave, the tap stays down and the guest's NIC is dead ("error sending
Ethernet packet on tap...: Network is down" in vswitchd's log; seen in the
one-machine cloud).  A host that sends an offer runs os-vif-pref's Nova
side, which creates taps (catalogue field ``create_tap``); without an offer
nothing changes.

No offer, an unreadable one, or an offer computed for another host: the
stock binding.  A readable offer for this host that contains none of the
candidates: this driver does not bind that agent and segment (logged at
WARNING with both lists); with no other driver binding it, Neutron reports
``binding_failed`` - binding anyway would give Nova a port the host said it
cannot plug.

Neutron's OVS trunk driver enables itself only when the literal name
``openvswitch`` is in ``[ml2] mechanism_drivers`` and only follows parent
ports bound by a driver of that name, so :meth:`initialize` registers the
same trunk driver under this driver's name (:class:`TrunkDriver`).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from neutron.plugins.ml2.drivers.openvswitch.mech_driver import (
    mech_openvswitch,
)
from neutron.services.trunk.drivers.openvswitch import driver as ovs_trunk
from neutron_lib import constants
from neutron_lib.api.definitions import portbindings
from neutron_lib.callbacks import events, registry, resources
from neutron_lib.plugins.ml2 import api
from neutron_lib.plugins.ml2 import ovs_constants as ovs_const
from oslo_config import cfg

from os_vif_pref import offer
from os_vif_pref.neutron.ml2 import hook

LOG = logging.getLogger(__name__)

#: The entry-point name, and the name ML2 records in ``bound_drivers``.
NAME = "pref_openvswitch"

_VHOST_USER_IFACES = (ovs_const.OVS_DPDK_VHOST_USER,
                      ovs_const.OVS_DPDK_VHOST_USER_CLIENT)


def _without_vhost_user(agent: dict[str, Any]) -> dict[str, Any]:
    """``agent`` as if it did not report the vhost-user interface types."""
    conf = dict(agent["configurations"])
    caps = dict(conf.get("ovs_capabilities") or {})
    caps["iface_types"] = [t for t in caps.get("iface_types", [])
                           if t not in _VHOST_USER_IFACES]
    conf["ovs_capabilities"] = caps
    return {**agent, "configurations": conf}


def _host_creates_tap(candidate: hook.Candidate) -> hook.Candidate:
    """An ``ovs`` binding on a netdev bridge: the host creates the tap
    (see the module's docstring for why); every other candidate as is."""
    details = candidate.vif_details or {}
    if (candidate.vif_type != portbindings.VIF_TYPE_OVS
            or details.get(portbindings.OVS_DATAPATH_TYPE)
            != ovs_const.OVS_DATAPATH_NETDEV
            or details.get(portbindings.OVS_HYBRID_PLUG)
            or not cfg.CONF.OVS_DRIVER.ovs_create_tap):
        return candidate
    return dataclasses.replace(candidate,
                               vif_details={**details, "ovs_create_tap": True})


class PrefOpenvswitchMechanismDriver(
        mech_openvswitch.OpenvswitchMechanismDriver):
    """Neutron's OVS driver; the host's offer orders its candidates."""

    def initialize(self) -> None:
        super().initialize()
        self.trunk_driver = TrunkDriver.create()

    def candidate_bindings(self, context: Any, agent: dict[str, Any],
                           segment: dict[str, Any]) -> list[hook.Candidate]:
        """What the stock driver can produce for this port, agent and
        segment; the stock binding first."""
        stock = hook.Candidate(self.get_vif_type(context, agent, segment),
                               self.get_vif_details(context, agent, segment))
        out = [stock]
        vnic_type = context.current.get(portbindings.VNIC_TYPE,
                                        portbindings.VNIC_NORMAL)
        if (stock.vif_type == portbindings.VIF_TYPE_VHOST_USER
                and vnic_type == portbindings.VNIC_NORMAL):
            plain = _without_vhost_user(agent)
            out.append(hook.Candidate(
                self.get_vif_type(context, plain, segment),
                self.get_vif_details(context, plain, segment)))
        if vnic_type == portbindings.VNIC_NORMAL:
            out = [_host_creates_tap(c) for c in out]
        return out

    def try_to_bind_segment_for_agent(self, context: Any,
                                      segment: dict[str, Any],
                                      agent: dict[str, Any]) -> bool:
        profile = context.current.get(portbindings.PROFILE)
        if not profile or offer.KEY not in profile:
            # No offer (an old Nova): the stock code path, nothing added.
            return super().try_to_bind_segment_for_agent(context, segment,
                                                         agent)
        if not self.check_segment_for_agent(segment, agent):
            return False
        choice = hook.set_binding(
            context, segment[api.ID],
            self.candidate_bindings(context, agent, segment), driver=NAME,
            where=(f"on segment {segment[api.ID]} with the agent on "
                   f"{agent.get('host')}"))
        return choice is not None


class TrunkDriver(ovs_trunk.OVSDriver):
    """Neutron's OVS trunk driver, for ports bound by ``pref_openvswitch``.

    The stock one is loaded only when ``openvswitch`` is configured and
    binds subports only for parents whose ``bound_drivers`` name
    ``openvswitch``; this one does the same for :data:`NAME`.  Both can be
    present: each follows only the parents its own name bound.
    """

    @property
    def is_loaded(self) -> bool:
        try:
            return NAME in cfg.CONF.ml2.mechanism_drivers
        except cfg.NoSuchOptError:
            return False

    @classmethod
    def create(cls) -> TrunkDriver:
        return cls(NAME, ovs_trunk.SUPPORTED_INTERFACES,
                   ovs_trunk.SUPPORTED_SEGMENTATION_TYPES,
                   constants.AGENT_TYPE_OVS)

    @registry.receives(resources.PORT, [events.AFTER_UPDATE])
    def _subport_binding(self, resource: Any, event: Any, trigger: Any,
                         payload: Any = None) -> None:
        """The stock handler, for parents bound under :data:`NAME`."""
        updated_port = payload.latest_state
        trunk_details = updated_port.get("trunk_details")
        vif_details = updated_port.get(portbindings.VIF_DETAILS) or {}
        driver = vif_details.get(portbindings.VIF_DETAILS_BOUND_DRIVERS,
                                 {}).get("0")
        if not trunk_details or driver != NAME:
            return
        orig_status = payload.states[0].get("status")
        new_status = updated_port.get("status")
        if (new_status == constants.PORT_STATUS_ACTIVE
                and new_status != orig_status):
            self._update_subport_binding(payload.context,
                                         trunk_details["trunk_id"])
