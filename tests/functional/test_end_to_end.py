"""The whole path as one, for real: the host's offer, an ML2 mechanism
driver binding from it (real Neutron's ML2 plugin in the demo command; an
ML2-shaped port context in the tests below), Nova checking and
converting the binding, our plugins plugging it through the privsep daemon
into a Linux bridge or the OVS netdev bridge, traffic between two guests,
and unplug leaving nothing behind.

The sandbox (namespace, private OVS, guest namespaces) and the ML2 drivers
come from :mod:`os_vif_pref.cli.demo`; every check here reads the result
independently (netlink, ovs-vsctl, ICMP), and ``os-vif-pref demo`` itself
is run as a command at the end.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import os_vif
from os_vif import objects
import pytest

from os_vif_pref import neutron, nova, offer
from os_vif_pref.cli import demo
from os_vif_pref.cli.demo import cases as demo_cases
from os_vif_pref.cli.demo import sandbox as demo_sandbox
from os_vif_pref.testing import netns as netns_testing

pytestmark = pytest.mark.functional

OVS_DETAILS = {"port_filter": True, "ovs_hybrid_plug": False}
BRIDGE_DETAILS = {"port_filter": True}


@pytest.fixture(scope="module")
def box(test_netns):
    with demo.Sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def clean(box):
    """The sandbox's state before the test, and a check after it."""
    before = box.snapshot()
    yield before
    assert box.snapshot() == before, "the test left state behind"


def _instance():
    return objects.instance_info.InstanceInfo(uuid=str(uuid.uuid4()),
                                              name="e2e")


def _network(name: str) -> dict:
    return {"id": str(uuid.uuid4()), "name": name, "mtu": demo.NETWORK_MTU}


def _bound_ports(driver, network, profile, n=2) -> list[dict]:
    return [demo.bind(driver, demo.neutron_port(network["id"], profile))
            for _ in range(n)]


def _plug_and_ping(box, vifs, subnet: int) -> None:
    """Plug both VIFs behind guest namespaces, check each is where it
    belongs, ping both ways; unplug and remove guests and network."""
    inst = _instance()
    guests, plugged = [], []
    try:
        for i, vif in enumerate(vifs):
            guests.append(box.attach_guest(vif, f"10.252.{subnet}.{i + 1}/24"))
            os_vif.plug(vif, inst)
            plugged.append(vif)
        state = demo_sandbox._links()
        for vif in vifs:
            if isinstance(vif, objects.vif.VIFOpenVSwitch):
                assert vif.vif_name in box.ovs_ports()
                ids = box.ovs.vsctl("get", "Interface", vif.vif_name,
                                    "external_ids")
                assert f'iface-id="{vif.id}"' in ids
                assert f'attached-mac="{vif.address}"' in ids
            else:
                assert state[vif.vif_name][1] == vif.bridge_name
                assert state[vif.bridge_name][0] == "bridge"
                assert state[vif.vif_name][2] == demo.NETWORK_MTU
        assert netns_testing.ping(guests[0], f"10.252.{subnet}.2") == 3
        assert netns_testing.ping(guests[1], f"10.252.{subnet}.1") == 3
    finally:
        for vif in plugged:
            os_vif.unplug(vif, inst)
        for vif, ns in zip(vifs, guests, strict=False):
            box.detach_guest(vif, ns)
        for vif in vifs:
            if isinstance(vif, objects.vif.VIFBridge):
                box.remove_network(vif.bridge_name)


def test_host_offer_puts_the_configured_preference_first(box):
    plist, the_offer = box.host_offer()
    assert the_offer.names()[:2] == ["ovs", "linux-bridge"]
    # Only usable entries are offered, in the list's order.
    assert the_offer.names() == [e.name for e in plist.usable][
        :len(the_offer)]


def test_preferred_binding_served_plugs_ovs_and_passes_traffic(box, clean):
    _, the_offer = box.host_offer()
    profile = {offer.KEY: offer.encode(the_offer)}
    driver = demo.NegotiatingDriver(
        served=[neutron.Served("bridge", BRIDGE_DETAILS),
                neutron.Served("ovs", OVS_DETAILS)],
        default=neutron.Served("bridge", BRIDGE_DETAILS))
    network = _network("preferred")
    ports = _bound_ports(driver, network, profile)
    for port in ports:
        assert port["binding:vif_type"] == "ovs"
        assert port["binding:vif_details"] == OVS_DETAILS
        assert nova.check_binding(port, the_offer).name == "ovs"
    vifs = [nova.to_os_vif(p, offer=the_offer, network=network)
            for p in ports]
    assert {type(v) for v in vifs} == {objects.vif.VIFOpenVSwitch}
    assert {v.plugin for v in vifs} == {"pref_ovs"}
    _plug_and_ping(box, vifs, 1)


def test_preferred_not_served_second_is_chosen_linux_bridge(box, clean):
    _, the_offer = box.host_offer()
    profile = {offer.KEY: offer.encode(the_offer)}
    driver = demo.NegotiatingDriver(
        served=[neutron.Served("bridge", BRIDGE_DETAILS)],
        default=neutron.Served("bridge", BRIDGE_DETAILS))
    network = _network("second")
    ports = _bound_ports(driver, network, profile)
    for port in ports:
        assert port["binding:vif_type"] == "bridge"
        assert nova.check_binding(port, the_offer).name == "linux-bridge"
    vifs = [nova.to_os_vif(p, offer=the_offer, network=network)
            for p in ports]
    assert {type(v) for v in vifs} == {objects.vif.VIFBridge}
    assert {v.plugin for v in vifs} == {"pref_linux_bridge"}
    assert vifs[0].bridge_name == vifs[1].bridge_name == (
        "brq" + network["id"])[:14]
    _plug_and_ping(box, vifs, 2)


def test_old_neutron_returns_its_default_and_it_is_plugged(box, clean):
    """A driver that knows nothing of offers binds its default; the host
    offered it, so Nova takes it (second in the host's preference)."""
    _, the_offer = box.host_offer()
    profile = {offer.KEY: offer.encode(the_offer)}
    network = _network("old-neutron")
    ports = _bound_ports(demo.LegacyDriver("bridge", BRIDGE_DETAILS),
                         network, profile)
    assert all(nova.check_binding(p, the_offer).name == "linux-bridge"
               for p in ports)
    vifs = [nova.to_os_vif(p, offer=the_offer, network=network)
            for p in ports]
    _plug_and_ping(box, vifs, 3)


def test_old_nova_without_offer_gets_the_drivers_default(box, clean):
    driver = demo.NegotiatingDriver(
        served=[neutron.Served("bridge", BRIDGE_DETAILS),
                neutron.Served("ovs", OVS_DETAILS)],
        default=neutron.Served("ovs", OVS_DETAILS))
    network = _network("old-nova")
    ports = _bound_ports(driver, network, profile=None)
    assert all(p["binding:vif_type"] == "ovs" for p in ports)
    assert all(nova.check_binding(p, None) is None for p in ports)
    vifs = [nova.to_os_vif(p, network=network) for p in ports]
    _plug_and_ping(box, vifs, 4)


def test_binding_outside_the_offer_is_refused_and_nothing_plugged(box,
                                                                  clean):
    _, the_offer = box.host_offer()
    vif_type, details = demo_cases._outside(the_offer)
    profile = {offer.KEY: offer.encode(the_offer)}
    network = _network("outside")
    (port,) = _bound_ports(demo.LegacyDriver(vif_type, details), network,
                           profile, n=1)
    with pytest.raises(nova.BindingNotAcceptable) as err:
        nova.check_binding(port, the_offer)
    text = str(err.value)
    assert port["id"] in text and f"vif_type={vif_type}" in text
    assert "ovs" in text and "linux-bridge" in text    # what was offered
    # The converter Nova calls refuses it the same way: no VIF object,
    # so nothing can be plugged (the fixture checks nothing changed).
    with pytest.raises(nova.BindingNotAcceptable):
        nova.to_os_vif(port, offer=the_offer, network=network)


def test_offer_nothing_servable_leaves_port_unbound_and_refused(box, clean):
    """A negotiating driver that serves nothing offered does not bind;
    ML2 reports binding_failed, which Nova refuses as well."""
    _, the_offer = box.host_offer()
    profile = {offer.KEY: offer.encode(the_offer)}
    driver = demo.NegotiatingDriver(served=[neutron.Served("vrouter")],
                                    default=neutron.Served("vrouter"))
    (port,) = _bound_ports(driver, _network("none"), profile, n=1)
    assert port["binding:vif_type"] == "binding_failed"
    with pytest.raises(nova.BindingNotAcceptable, match="binding_failed"):
        nova.check_binding(port, the_offer)


def test_demo_command_runs_every_case_and_exits_0(test_netns):
    """Through real Neutron (installed here): its ML2 plugin with our
    driver, and the Nova integration's check-and-convert."""
    exe = os.path.join(sys.prefix, "bin", "os-vif-pref")
    proc = subprocess.run([exe, "demo"], capture_output=True, text=True,
                          timeout=400)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert "neutron: real ML2 plugin (neutron 29." in proc.stdout
    assert "nova: the Nova integration's add_offer and checked_vif" in \
        proc.stdout
    for case in demo.CASES:
        assert f"[{case.name}]" in proc.stdout
    assert "FAIL" not in proc.stdout
    assert "all steps held (0 failure(s)" in proc.stdout
    assert proc.stdout.count("nothing left behind") == sum(
        1 for c in demo.CASES if c.real.expect is not None)
    assert "(ML2 driver pref_openvswitch, dpdk agent) bound both ports: " \
        "vif_type=ovs" in proc.stdout       # stock would be vhost-user
    assert "(rank 2 of the offer stored on the port)" in proc.stdout
    assert proc.stdout.count("Nova refused it: Neutron bound port") == 2


def test_every_case_on_the_fallback_path(box, clean):
    """The ML2-shaped path (no Neutron installed, or --ml2-context), in
    this process on the module's sandbox: every case holds."""
    assert box.neutron is None
    lines: list[str] = []
    report = demo.Report(out=lines.append)
    for n, case in enumerate(demo.CASES, start=40):
        demo.run_case(box, case, report, n)
    text = "\n".join(lines)
    assert report.failures == 0, text
    assert "Nova: both bindings are the offered 'linux-bridge'" in text
    assert text.count("Nova refused it") == 2
