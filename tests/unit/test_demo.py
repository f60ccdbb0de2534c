"""``os-vif-pref demo`` pieces that need no root: the ML2-shaped port
context and drivers, the case list, and the command's refusal to start
without Open vSwitch (the real run is tests/functional/test_end_to_end.py).
"""

from __future__ import annotations

import io

from neutron_lib.plugins.ml2 import api
import pytest

from os_vif_pref import catalogue, neutron, offer
from os_vif_pref.cli import demo, main
from os_vif_pref.testing import ml2

CAT = catalogue.load(plugin_choice={})
OFFER = offer.from_entries([CAT.get("ovs"), CAT.get("linux-bridge")],
                           host="demo-host")
PROFILE = {offer.KEY: offer.encode(OFFER)}


def test_port_context_is_an_ml2_port_context() -> None:
    ctx = ml2.PortContext({"id": "p"}, demo.SEGMENTS)
    assert isinstance(ctx, api.PortContext)
    assert ctx.current == {"id": "p"} and ctx.segments_to_bind
    assert ctx.binding is None
    ctx.set_binding("s", "ovs", {"a": 1})
    assert ctx.binding == ("s", "ovs", {"a": 1}, None)
    with pytest.raises(NotImplementedError):
        ctx.original  # noqa: B018 - a property that must not be used


def test_drivers_are_mechanism_drivers() -> None:
    assert isinstance(demo.NegotiatingDriver([], None), api.MechanismDriver)
    assert isinstance(demo.LegacyDriver("bridge", {}), api.MechanismDriver)


def test_bind_negotiating_driver_follows_the_offer() -> None:
    driver = demo.NegotiatingDriver(
        served=[neutron.Served("bridge", {}), neutron.Served("ovs")],
        default=neutron.Served("bridge", {}))
    port = demo.bind(driver, demo.neutron_port("net", PROFILE))
    assert port["binding:vif_type"] == "ovs"
    assert port["binding:vif_details"]["ovs_hybrid_plug"] is False
    assert port["status"] == "ACTIVE"


def test_bind_legacy_driver_ignores_the_offer() -> None:
    port = demo.bind(demo.LegacyDriver("vrouter", {"x": 1}),
                     demo.neutron_port("net", PROFILE))
    assert port["binding:vif_type"] == "vrouter"
    assert port["binding:vif_details"] == {"x": 1}


def test_bind_unbound_is_binding_failed() -> None:
    driver = demo.NegotiatingDriver(served=[neutron.Served("vrouter")],
                                    default=None)
    port = demo.bind(driver, demo.neutron_port("net", PROFILE))
    assert port["binding:vif_type"] == "binding_failed"


def test_outside_picks_a_type_not_offered() -> None:
    vif_type, _ = demo._outside(OFFER)
    assert vif_type not in {i.vif_type for i in OFFER}


def test_cases_cover_the_issue() -> None:
    names = [c.name for c in demo.CASES]
    assert len(set(names)) == len(names)
    assert {"preferred", "second", "old-neutron", "outside"} <= set(names)
    assert [c.expect for c in demo.CASES if c.name == "outside"] == [None]


def test_demo_refuses_to_start_without_ovs(monkeypatch) -> None:
    from os_vif_pref.testing import private_ovs

    monkeypatch.setattr(private_ovs, "available",
                        lambda: "missing Open vSwitch binaries: ovs-vswitchd")
    app = main.OsVifPrefApp()
    out, err = io.StringIO(), io.StringIO()
    app.stdout, app.stderr = out, err
    monkeypatch.setattr(app, "stdout", out, raising=False)
    rc = app.run(["demo"])
    assert rc == 2
    assert "missing Open vSwitch binaries" in err.getvalue()
