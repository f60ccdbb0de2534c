"""Step 2 without Neutron installed: ML2's part on an ML2-shaped port context.

Two mechanism drivers (one negotiating through our mixin, one legacy that
ignores the offer) and :func:`bind`, which does what ML2 does around
``bind_port``; :mod:`.real_neutron` is the same step with Neutron itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
import uuid

from os_vif_pref import neutron, preference
from os_vif_pref.sandbox import ml2_context as ml2

try:  # the [neutron] extra; the mixin itself does not need it
    from neutron_lib.plugins.ml2 import api as ml2_api
    _DriverBase: Any = ml2_api.MechanismDriver
except ImportError:  # pragma: no cover - neutron-lib is a test dependency
    ml2_api = None
    _DriverBase = object

SEGMENTS = [{"id": "seg-demo", "network_type": "vxlan",
             "physical_network": None, "segmentation_id": 1001}]


# --------------------------------------------------------------------------
# Neutron side: ML2-shaped port context and two mechanism drivers


class NegotiatingDriver(neutron.NegotiatingMechanismDriverMixin,
                        _DriverBase):
    """A mechanism driver that honours the host's offer."""

    def __init__(self, served: Sequence[neutron.ServedLike],
                 default: neutron.ServedLike | None) -> None:
        self.pref_served = list(served)
        self.pref_default = default

    def initialize(self) -> None:
        pass


class LegacyDriver(_DriverBase):
    """A driver from before negotiation: binds its one type, whatever the
    port's binding:profile says (what an old Neutron does)."""

    def __init__(self, vif_type: str, vif_details: Mapping[str, Any]) -> None:
        self.vif_type = vif_type
        self.vif_details = dict(vif_details)

    def initialize(self) -> None:
        pass

    def bind_port(self, context: Any) -> None:
        for segment in context.segments_to_bind:
            context.set_binding(segment["id"], self.vif_type,
                                self.vif_details)
            return


def neutron_port(network_id: str, profile: Mapping[str, Any] | None,
                 vnic_type: str = "normal", host: str | None = None
                 ) -> dict[str, Any]:
    """A Neutron port as the server holds it before binding, for ``host``
    (default: this one, which the host's offer names)."""
    b = uuid.uuid4().bytes
    return {
        "id": str(uuid.uuid4()), "network_id": network_id,
        "mac_address": f"fa:16:3e:{b[0]:02x}:{b[1]:02x}:{b[2]:02x}",
        "status": "DOWN", "admin_state_up": True, "fixed_ips": [],
        "binding:host_id": host or preference.default_host(),
        "binding:vnic_type": vnic_type,
        "binding:profile": dict(profile or {}),
        "binding:vif_type": "unbound", "binding:vif_details": {},
    }


def bind(driver: Any, port: dict[str, Any]) -> dict[str, Any]:
    """ML2's part: let ``driver`` bind ``port``; the port as Nova reads it
    back (``binding_failed`` when the driver left it unbound)."""
    context = ml2.PortContext(port, SEGMENTS)
    driver.bind_port(context)
    bound = dict(port)
    if context.binding is None:
        bound["binding:vif_type"] = "binding_failed"
        bound["binding:vif_details"] = {}
    else:
        _, vif_type, details, _ = context.binding
        bound["binding:vif_type"] = vif_type
        bound["binding:vif_details"] = details
        bound["status"] = "ACTIVE"
    return bound
