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
from os_vif_pref.cli.demo import cases as demo_cases
from os_vif_pref.cli.demo import command as demo_command
from os_vif_pref.testing import ml2

CAT = catalogue.load(plugin_choice={})
HOST = "demo-host"
OFFER = offer.from_entries([CAT.get("ovs"), CAT.get("linux-bridge")],
                           host=HOST)
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
    port = demo.bind(driver, demo.neutron_port("net", PROFILE, host=HOST))
    assert port["binding:vif_type"] == "ovs"
    assert port["binding:vif_details"]["ovs_hybrid_plug"] is False
    assert port["status"] == "ACTIVE"


def test_bind_legacy_driver_ignores_the_offer() -> None:
    port = demo.bind(demo.LegacyDriver("vrouter", {"x": 1}),
                     demo.neutron_port("net", PROFILE, host=HOST))
    assert port["binding:vif_type"] == "vrouter"
    assert port["binding:vif_details"] == {"x": 1}


def test_offer_for_another_host_is_not_followed() -> None:
    """Neutron uses an offer only on the host it names (the port's default
    host is this machine, not the offer's)."""
    driver = demo.NegotiatingDriver(
        served=[neutron.Served("bridge", {}), neutron.Served("ovs")],
        default=neutron.Served("bridge", {}))
    port = demo.bind(driver, demo.neutron_port("net", PROFILE))
    assert port["binding:host_id"] != HOST
    assert port["binding:vif_type"] == "bridge"        # the default


def test_bind_unbound_is_binding_failed() -> None:
    driver = demo.NegotiatingDriver(served=[neutron.Served("vrouter")],
                                    default=None)
    port = demo.bind(driver, demo.neutron_port("net", PROFILE, host=HOST))
    assert port["binding:vif_type"] == "binding_failed"


def test_outside_picks_a_type_not_offered() -> None:
    vif_type, _ = demo_cases._outside(OFFER)
    assert vif_type not in {i.vif_type for i in OFFER}


def test_cases_cover_the_issue() -> None:
    names = [c.name for c in demo.CASES]
    assert len(set(names)) == len(names)
    assert {"preferred", "second", "old-neutron", "outside"} <= set(names)
    assert [c.expect for c in demo.CASES if c.name == "outside"] == [None]


def test_demo_refuses_to_start_without_ovs(monkeypatch) -> None:
    from os_vif_pref.sandbox import ovs as private_ovs

    monkeypatch.setattr(private_ovs, "available",
                        lambda: "missing Open vSwitch binaries: ovs-vswitchd")
    app = main.OsVifPrefApp()
    out, err = io.StringIO(), io.StringIO()
    app.stdout, app.stderr = out, err
    monkeypatch.setattr(app, "stdout", out, raising=False)
    rc = app.run(["demo"])
    assert rc == 2
    assert "missing Open vSwitch binaries" in err.getvalue()


# --------------------------------------------------------------------------
# The real-Neutron path: Neutron's Ml2Plugin in the demo's child process


def test_cases_on_real_neutron_use_real_drivers_and_agents() -> None:
    from os_vif_pref.cli.demo import real_neutron

    assert demo.real_path_problem() is None     # Neutron and Nova are here
    for case in demo.CASES:
        assert case.real.driver in {"pref_openvswitch", "openvswitch"}
        assert case.real.agent in real_neutron.AGENTS
        assert case.expected(True) == case.real.expect
        assert case.expected(False) == case.expect
    # Stock Neutron ("an old Neutron") appears, and so does ours.
    assert {c.real.driver for c in demo.CASES} == {"pref_openvswitch",
                                                   "openvswitch"}


def test_real_ml2_binds_from_the_offer_like_nova_asks() -> None:
    """The demo's Neutron is Neutron: its ML2 plugin, our driver, an OVS
    agent reporting DPDK, ports bound as Nova binds them."""
    from os_vif_pref.cli.demo import real_neutron

    host = HOST
    the_offer = offer.from_entries([CAT.get("ovs"), CAT.get("ovs-hybrid")],
                                   host=host)
    profile = {offer.KEY: offer.encode(the_offer)}
    with real_neutron.NeutronProcess(mtu=1400) as n:
        assert n.wait_ready().split(".")[0].isdigit()
        n.use_driver("pref_openvswitch")
        n.agent(host, "dpdk")
        net = n.network("t")
        assert net["mtu"] == 1400 and net["provider:network_type"] == "vxlan"
        port = n.bind(net["id"], host, profile)
        # Stock would bind vhost-user here; the host asked for ovs first.
        assert port["binding:vif_type"] == "ovs"
        details = port["binding:vif_details"]
        assert details["datapath_type"] == "netdev"
        assert details["bridge_name"] == "br-int"
        assert offer.decode(port["binding:profile"]) == offer.decode(profile)
        assert n.bind(net["id"], host, None)["binding:vif_type"] == \
            "vhostuser"                                   # no offer: stock
        # Neutron's own driver ignores the offer.
        n.use_driver("openvswitch")
        stock = n.bind(net["id"], host, profile)
        assert stock["binding:vif_type"] == "vhostuser"
        assert stock["binding:vif_details"]["vhostuser_socket"]
        with pytest.raises(real_neutron.NeutronFailed,
                           match="delete_network: .*NetworkInUse"):
            n.delete_network(net["id"])
        n.delete_ports([port, stock])
    assert n.proc is None


def test_describe_path_says_which_path_ran() -> None:
    box = demo.Sandbox(real_neutron=False)
    lines = demo.describe_path(box)
    assert "ML2-shaped port context (fallback: not asked for)" in lines[0]
    assert "check_binding and to_os_vif" in lines[1]


@pytest.mark.parametrize("argv, real", [(["demo"], True),
                                        (["demo", "--ml2-context"], False)])
def test_ml2_context_option_selects_the_fallback(monkeypatch, argv, real):
    from os_vif_pref.sandbox import ovs as private_ovs

    seen = {}

    def fake_run(cases, out, *, real_neutron):
        seen["real"] = real_neutron
        return demo.Report(out=out)

    monkeypatch.setattr(private_ovs, "available", lambda: None)
    monkeypatch.setattr(demo_command, "run", fake_run)
    app = main.OsVifPrefApp()
    app.stdout, app.stderr = io.StringIO(), io.StringIO()
    assert app.run(argv) == 0
    assert seen == {"real": real}
