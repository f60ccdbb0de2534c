"""Setup hooks for running Neutron's own test modules against our drivers.

Called in the child process before the tests load (tests/peer_suite.py).
Each replaces Neutron's stock driver class in its module by ours, so every
test that makes ``mech_openvswitch.OpenvswitchMechanismDriver`` or loads
the ``ovn`` entry point (which reads ``mech_driver.OVNMechanismDriver``)
gets the negotiating subclass.

Neutron's tests send no offer, so the plain hooks check that our drivers
are the stock ones without an offer.  The ``..._with_offer`` hooks also
put, for the length of each ``bind_port`` call, an offer of every bundled
catalogue entry into the port's ``binding:profile``, ordered so that the
first one each stock binding answers is that binding (vhost-user before
plain OVS, hybrid after it): then every one of Neutron's binding tests runs
through the whole negotiation (reading the offer, the candidates, the
choice, the OVN driver's context view) and must still see exactly the
binding it expects.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import copy
import functools
from typing import Any

#: Host order of the offer the ``_with_offer`` hooks send; the remaining
#: catalogue entries follow in catalogue order.
STOCK_FIRST = ("ovs-vhostuser", "ovs", "ovs-hybrid", "ovs-direct",
               "ovs-remote-managed", "agilio-ovs-forwarder")


@functools.cache
def _everything_offer(host: str | None) -> dict[str, Any]:
    """The offer, naming the port's host (the wire format checks it)."""
    import inspect

    from os_vif_pref import catalogue, offer

    cat = catalogue.load(plugin_choice={})
    names = list(STOCK_FIRST) + [e.name for e in cat
                                 if e.name not in STOCK_FIRST]
    items = [cat.get(n) for n in names]
    if "host" in inspect.signature(offer.encode).parameters:
        return offer.encode(items, host=host)
    return offer.encode(items)


@contextlib.contextmanager
def _offered(context: Any, value: dict[str, Any]) -> Iterator[None]:
    """``context``'s port carries ``value`` as its offer, then as before."""
    from os_vif_pref import offer

    if hasattr(context, "_bound_profile"):
        # The agent drivers' fake (ml2/_test_mech_agent.py) builds a new
        # ``current`` dict on every read, from this attribute.
        before = context._bound_profile
        context._bound_profile = {**(before or {}), offer.KEY: value}
        try:
            yield
        finally:
            context._bound_profile = before
        return
    port = context.current
    had = "binding:profile" in port
    before = port.get("binding:profile")
    port["binding:profile"] = {**(before or {}), offer.KEY: value}
    try:
        yield
    finally:
        if had:
            port["binding:profile"] = before
        else:
            del port["binding:profile"]


def _counting(cls: type, with_offer: bool) -> type:
    """``cls`` counting its instances (and sending the offer if asked)."""

    class Counted(cls):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            _COUNTS["instances"] += 1
            super().__init__(*args, **kwargs)

        if with_offer:
            def bind_port(self, context: Any) -> None:
                # The agent drivers' fake has no binding:host_id (then
                # nothing checks the offer's host), its agents are "host".
                value = _everything_offer(
                    context.current.get("binding:host_id") or "host")
                with _offered(context, copy.deepcopy(value)):
                    return super().bind_port(context)

    Counted.__name__ = Counted.__qualname__ = cls.__name__
    return Counted


_COUNTS = {"instances": 0, "negotiated": 0, "stock": 0, "refused": 0}


def _count_choices() -> None:
    from os_vif_pref.neutron.ml2 import hook

    select = hook.select

    def counted(*args: Any, **kwargs: Any) -> Any:
        choice = select(*args, **kwargs)
        key = ("refused" if choice is None else
               "stock" if choice.fallback else "negotiated")
        _COUNTS[key] += 1
        return choice

    hook.select = counted


def _report() -> dict[str, int]:
    return dict(_COUNTS)


def use_pref_openvswitch(with_offer: bool = False) -> Any:
    from neutron.plugins.ml2.drivers.openvswitch.mech_driver import (
        mech_openvswitch,
    )

    from os_vif_pref.neutron.ml2 import openvswitch

    _count_choices()
    mech_openvswitch.OpenvswitchMechanismDriver = _counting(
        openvswitch.PrefOpenvswitchMechanismDriver, with_offer)
    return _report


def use_pref_openvswitch_with_offer() -> Any:
    return use_pref_openvswitch(with_offer=True)


def use_pref_ovn(with_offer: bool = False) -> Any:
    from neutron.plugins.ml2.drivers.ovn.mech_driver import mech_driver

    from os_vif_pref.neutron.ml2 import ovn

    _count_choices()
    mech_driver.OVNMechanismDriver = _counting(ovn.PrefOVNMechanismDriver,
                                               with_offer)
    return _report


def use_pref_ovn_with_offer() -> Any:
    return use_pref_ovn(with_offer=True)


def count_stock_ovn() -> Any:
    """Stock run of the same selection, for the pass counts we compare."""
    from neutron.plugins.ml2.drivers.ovn.mech_driver import mech_driver

    mech_driver.OVNMechanismDriver = _counting(
        mech_driver.OVNMechanismDriver, False)
    return _report
