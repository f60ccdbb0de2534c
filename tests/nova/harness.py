"""Pieces the Nova functional cases share (no test cases here).

* :mod:`tests.nova.probers` - the probes of one compute host, as chosen
  by the test (Nova's harness poisons ``/sys`` reads, and two computes in
  one process must differ); os-vif plugins are still probed for real.
* :class:`NegotiatingNeutronFixture` - Nova's ``NeutronFixture``, whose
  stock behaviour binds every port as ``ovs`` with empty details, made to
  answer an offer the way a negotiating mechanism driver does (the first
  offered binding it serves), or to force a given binding.
* :class:`IntegrationFixture` - switches the integration on for the test,
  in the mode named by ``OS_VIF_PREF_NOVA_HOOKS``: ``runtime`` (default:
  the runtime hooks patch the unmodified Nova) or ``contrib`` (the Nova
  under test carries the contrib patch, which calls the hook functions; the
  runtime hooks stay off).
"""

from __future__ import annotations

import copy
import os
from typing import Any

import fixtures
from nova.tests import fixtures as nova_fixtures

from os_vif_pref import offer
from os_vif_pref.nova import hooks, integration
from tests.nova.probers import LINUX_ONLY, OVS_DPDK, CapabilityProber

__all__ = ["LINUX_ONLY", "OVS_DPDK", "CapabilityProber", "MODE",
           "IntegrationFixture", "NegotiatingNeutronFixture"]

#: "runtime" or "contrib" (see module doc).
MODE = os.environ.get("OS_VIF_PREF_NOVA_HOOKS", "runtime")

def details_for(item: offer.OfferItem, port_id: str) -> dict[str, Any]:
    """vif_details a mechanism driver would set for an offered binding."""
    details: dict[str, Any] = {"port_filter": True}
    details.update(item.vif_details)
    if item.vif_type in ("ovs", "vhostuser", "agilio_ovs"):
        details.setdefault("bridge_name", "br-int")
    if item.vif_type == "vhostuser":
        details.setdefault("vhostuser_mode", "server")
        details.setdefault("datapath_type", "netdev")
    for key in item.required_details:
        if key == "vhostuser_socket":
            details[key] = "/var/run/openvswitch/vhu" + port_id[:11]
        else:
            details.setdefault(key, "x")
    return details


class NegotiatingNeutronFixture(nova_fixtures.NeutronFixture):
    """NeutronFixture answering offers (see module doc).

    ``force``: ``(vif_type, vif_details)`` bound whatever was offered.
    ``requests``: every binding request as ``(kind, port_id, host,
    profile)`` (kind ``update`` or ``binding``), for the assertions.
    """

    def __init__(self, test: Any) -> None:
        super().__init__(test)
        self.force: tuple[str, dict[str, Any]] | None = None
        self.requests: list[tuple[str, str, Any, dict[str, Any]]] = []

    def _choose(self, port_id: str, profile: Any,
                vnic_type: str) -> tuple[str, dict[str, Any]] | None:
        if self.force is not None:
            return self.force[0], copy.deepcopy(self.force[1])
        the_offer = offer.decode(profile or {})
        if the_offer is None:
            return None  # stock fixture: whatever the port says
        for item in the_offer.items:
            if vnic_type in item.vnic_types:
                return item.vif_type, details_for(item, port_id)
        return "binding_failed", {}

    def update_port(self, port_id: str, body: Any = None) -> Any:
        req = body.get("port", {})
        if "binding:host_id" in req:
            port = self._ports[port_id]
            profile = req.get("binding:profile",
                              port.get("binding:profile"))
            self.requests.append(("update", port_id,
                                  req["binding:host_id"],
                                  copy.deepcopy(profile)))
            if req["binding:host_id"] is not None:
                chosen = self._choose(port_id, profile,
                                      port["binding:vnic_type"])
                if chosen is not None:
                    port["binding:vif_type"] = chosen[0]
                    port["binding:vif_details"] = chosen[1]
        return super().update_port(port_id, body)

    def create_port_binding(self, port_id: str, body: Any) -> Any:
        binding = body["binding"]
        self.requests.append(("binding", port_id, binding["host"],
                              copy.deepcopy(binding.get("profile"))))
        result = super().create_port_binding(port_id, body)
        port = self._ports[port_id]
        chosen = self._choose(port_id, binding.get("profile"),
                              port["binding:vnic_type"])
        if chosen is not None:
            stored = self._port_bindings[port_id][binding["host"]]
            stored["vif_type"], stored["vif_details"] = chosen
            result = {"binding": copy.deepcopy(stored)}
        return result


class IntegrationFixture(fixtures.Fixture):
    """The integration on, for hosts with the given capabilities."""

    def __init__(self, test: Any, hosts: dict[str, frozenset[str]]) -> None:
        super().__init__()
        self.test = test
        self.hosts = hosts
        self.probers = {h: CapabilityProber(c) for h, c in hosts.items()}

    def _setUp(self) -> None:
        self.test.flags(nova_integration=True, group="os_vif_pref")
        ok = integration.switch_on(
            hosts=list(self.hosts), prober_for=self.probers.__getitem__,
            refresh_interval=0, install=(MODE == "runtime"))
        if not ok:
            raise AssertionError("the integration did not switch on")
        self.addCleanup(integration.switch_off)

    def entry(self, host: str, name: str) -> Any:
        """``host``'s catalogue entry ``name`` (the plugin it names)."""
        return integration._state.plists[host].get(name).entry

    def offer_names(self, host: str, **instance: Any) -> list[str]:
        """What ``host`` offers an instance (flat InstanceInfo fields)."""
        plist = integration._state.plists[host]
        info = integration.preference.InstanceInfo.from_dict(instance)
        return [e.name for e in plist.for_instance(info).usable]


def runtime_hooks_installed() -> bool:
    return hooks.installed()
