"""The demo's cases: what each one binds and what Nova must end up plugging.

Each case says how it runs on the ML2-shaped fallback (a driver built
from the offer) and on real Neutron (:class:`RealNeutron`: mechanism driver,
agent, host options); data only, so the steps stay one code path.
"""

from __future__ import annotations

from collections.abc import Callable
import dataclasses
from typing import Any

from os_vif_pref import neutron, offer
from os_vif_pref.cli.demo.ml2_fallback import LegacyDriver, NegotiatingDriver

# --------------------------------------------------------------------------
# Cases


@dataclasses.dataclass(frozen=True)
class RealNeutron:
    """How a case runs on real Neutron."""

    #: ``[ml2] mechanism_drivers``: ours, or the stock one (an old Neutron).
    driver: str
    #: What the host's Open vSwitch agent reports (real_neutron.AGENTS).
    agent: str
    #: Catalogue entry Nova must end up plugging; None: Nova must refuse.
    expect: str | None
    title: str
    #: ``[os_vif_pref]`` options of the host for this case.
    options: tuple[tuple[str, Any], ...] = ()


@dataclasses.dataclass
class Case:
    name: str
    title: str
    driver: Callable[[offer.Offer], Any]
    #: Catalogue entry Nova must end up plugging; None: Nova must refuse.
    expect: str | None
    #: The case on real Neutron.
    real: RealNeutron
    #: Whether the port carries the host's offer (False: an old Nova).
    send_offer: bool = True

    def expected(self, real: bool) -> str | None:
        return self.real.expect if real else self.expect


def _outside(the_offer: offer.Offer) -> tuple[str, dict[str, Any]]:
    offered = {i.vif_type for i in the_offer}
    for candidate in ("vrouter", "ivs", "agilio_ovs", "vhostuser", "tap",
                      "macvtap"):
        if candidate not in offered:
            return candidate, {}
    raise RuntimeError("every known vif_type is offered")


#: Ordered so that real Neutron switches mechanism driver once (ours for
#: the first three, the stock one for the last two).
CASES = [
    Case("preferred", "the host's preferred binding is served",
         lambda o: NegotiatingDriver(
             served=[neutron.Served("bridge", {"port_filter": True}),
                     neutron.Served("ovs", {"port_filter": True,
                                            "ovs_hybrid_plug": False})],
             default=neutron.Served("bridge", {"port_filter": True})),
         expect="ovs",
         real=RealNeutron(
             "pref_openvswitch", "dpdk", "ovs",
             "a DPDK agent, where stock Neutron binds vhost-user (which "
             "this host does not offer): the host's preferred ovs is "
             "served")),
    Case("second", "the preferred binding is not served: the second is "
         "chosen",
         lambda o: NegotiatingDriver(
             served=[neutron.Served("bridge", {"port_filter": True})],
             default=neutron.Served("bridge", {"port_filter": True})),
         expect="linux-bridge",
         real=RealNeutron(
             "pref_openvswitch", "netdev", "ovs",
             "the host prefers ovs-hybrid, the agent does no hybrid "
             "plugging: the second, ovs, is chosen",
             options=(("preference_order", ["ovs-hybrid", "ovs"]),))),
    Case("old-nova", "an old Nova (no offer sent): the driver's default",
         lambda o: NegotiatingDriver(
             served=[neutron.Served("ovs", {"port_filter": True,
                                            "ovs_hybrid_plug": False})],
             default=neutron.Served("ovs", {"port_filter": True,
                                            "ovs_hybrid_plug": False})),
         expect="ovs", send_offer=False,
         real=RealNeutron(
             "pref_openvswitch", "netdev", "ovs",
             "no offer: pref_openvswitch binds exactly as the stock "
             "driver")),
    Case("old-neutron", "an old Neutron (no offer support) answers its "
         "default",
         lambda o: LegacyDriver("bridge", {"port_filter": True}),
         expect="linux-bridge",
         real=RealNeutron(
             "openvswitch", "netdev", "ovs",
             "Neutron's stock openvswitch driver ignores the offer and "
             "binds ovs, which is offered")),
    Case("outside", "Neutron answers a type outside the offer: refused, "
         "nothing plugged",
         lambda o: LegacyDriver(*_outside(o)), expect=None,
         real=RealNeutron(
             "openvswitch", "dpdk", None,
             "Neutron's stock driver binds vhost-user on a DPDK agent; this "
             "host does not offer it ([os_vif_pref] disabled): refused",
             options=(("disabled", ["ovs-vhostuser"]),))),
]
