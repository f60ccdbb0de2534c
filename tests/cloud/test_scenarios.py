"""The scenarios of the one-machine cloud, each beside its stock counterpart.

A real nova-compute (libvirt, QEMU) sends its offer over HTTP to a real
neutron-server, whose ML2 driver decides from the OVS agent's state
reported over RPC; libvirt starts the guest on the answer and the guest's
console says whether its NIC passes traffic.  The compute host runs
OVS-DPDK, so stock Neutron binds every port on it as ``vhostuser``.

Modes (tests/cloud/conftest.py): ``ours`` (the guide's two lines),
``stock``, ``old_nova`` (integration off, ``pref_openvswitch``),
``old_neutron`` (integration on, stock ``openvswitch``) and
``ours_prefer_ovs`` (``[os_vif_pref] preference_order = ovs``).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from os_vif_pref.testing.cloud import guests
from os_vif_pref.testing.cloud.launcher import Cloud
from tests.cloud.conftest import GUEST_IPS, PEER_IP

pytestmark = pytest.mark.cloud

A, B = GUEST_IPS
HOST = "compute1"


def _offer(profile: dict[str, Any]) -> dict[str, Any] | None:
    return profile.get("os_vif_pref")


def _offered_names(profile: dict[str, Any]) -> list[str]:
    """The catalogue entries in the offer, in its order."""
    offer = _offer(profile)
    assert offer is not None, f"no offer in binding:profile {profile}"
    return [item.split()[0] for item in offer["i"]]


def _assert_nothing_plugged(cloud: Cloud, port_id: str) -> None:
    left = guests.plugged_for(cloud, port_id)
    assert not left, f"still plugged for port {port_id}: {left}"


def _both_ways(cloud: Cloud, guest: guests.Guest, peer: guests.Guest,
               peer_before: str) -> None:
    guests.peer_ok(cloud, guest, PEER_IP)
    guests.peer_ok(cloud, peer, guest.ip, before=peer_before)


# -- the proposal's case ---------------------------------------------------

@pytest.mark.parametrize("mode", ["ours", "old_neutron", "stock", "old_nova"],
                         indirect=True)
def test_no_hugepages(cloud: Cloud, mode: str, peer: guests.Guest) -> None:
    """A server without hugepages on the DPDK host.

    Stock binds vhost-user, which a guest without shared memory cannot
    use: the server is ACTIVE and its NIC never passes a packet.  Ours
    leaves vhost-user out of this instance's offer, Neutron binds ``ovs``
    on the netdev bridge and the guest pings.  With a new Nova and an old
    Neutron the binding is stock, which the instance's offer excludes:
    Nova refuses it before plugging, with the reason in the events.
    """
    peer_before = guests.console(cloud, peer)
    guest = guests.boot(cloud, f"nohuge-{mode}", A, peers=[PEER_IP],
                        wait=False)
    port_id = guest.ports[0].id
    try:
        if mode == "old_neutron":
            guests.wait_status(cloud, guest, "ERROR", timeout=240)
            events = guests.instance_events(cloud, guest)
            ours = [e for e in events
                    if e.get("event") == f"os_vif_pref_check_binding:{HOST}"]
            assert ours, f"no os_vif_pref_check_binding event: {events}"
            details = str(ours[0].get("details"))
            assert "as vhostuser, which this host did not offer" in details
            assert "offered: ovs" in details
            assert "vhostuser" not in details.split("offered:")[1]
            _assert_nothing_plugged(cloud, port_id)
            return
        guests.wait_status(cloud, guest, "ACTIVE")
        vif_type, details, profile = guests.binding(cloud, port_id)
        if mode == "ours":
            assert vif_type == "ovs"
            assert details["datapath_type"] == "netdev"
            assert _offer(profile)["h"] == HOST
            assert not any("vhostuser" in n
                           for n in _offered_names(profile))
            names = guests.ovs_ports_of(cloud, port_id)
            assert len(names) == 1 and names[0].startswith("tap")
            assert guests.link_exists(names[0])
            # The host made the tap (up, before the OVS port), libvirt
            # uses it: no libvirt/vswitchd race on its flags.
            assert details.get("ovs_create_tap") is True, details
            assert re.search(
                rf"<target dev=['\"]{names[0]}['\"] managed=['\"]no['\"]",
                guests.domain_xml(cloud, guest))
            _both_ways(cloud, guest, peer, peer_before)
        else:
            # stock and old Nova: exactly stock, no offer anywhere.
            assert vif_type == "vhostuser"
            assert _offer(profile) is None
            names = guests.ovs_ports_of(cloud, port_id)
            assert [guests.ovs_ports(cloud)[n]["type"] for n in names] == [
                "dpdkvhostuserclient"]
            fails = guests.peer_never_ok(cloud, guest, PEER_IP)
            assert fails >= 3
    finally:
        guests.delete(cloud, guest)
    _assert_nothing_plugged(cloud, port_id)


@pytest.mark.parametrize("mode", ["ours", "old_neutron", "stock", "old_nova"],
                         indirect=True)
def test_hugepages(cloud: Cloud, mode: str, peer: guests.Guest) -> None:
    """A server with hugepages: vhost-user in every mode, and traffic.

    Ours offers vhost-user first (the agent's own default on a DPDK host),
    so the binding is stock's; the port is a ``dpdkvhostuserclient`` in
    OVS, the domain has a vhost-user interface, and the guest pings.
    """
    peer_before = guests.console(cloud, peer)
    guest = guests.boot(cloud, f"huge-{mode}", A, peers=[PEER_IP],
                        hugepages=True)
    port_id = guest.ports[0].id
    try:
        vif_type, details, profile = guests.binding(cloud, port_id)
        assert vif_type == "vhostuser"
        assert details["vhostuser_mode"] == "server"
        socket = details["vhostuser_socket"]
        if mode in ("ours", "old_neutron"):
            assert _offered_names(profile)[0] == "ovs-vhostuser"
        else:
            assert _offer(profile) is None
        (name,) = guests.ovs_ports_of(cloud, port_id)
        ovs_port = guests.ovs_ports(cloud)[name]
        assert ovs_port["type"] == "dpdkvhostuserclient"
        assert ovs_port["options"]["vhost-server-path"] == socket
        xml = guests.domain_xml(cloud, guest)
        assert re.search(r"<interface type=['\"]vhostuser['\"]", xml)
        assert socket in xml
        assert "<hugepages>" in xml
        _both_ways(cloud, guest, peer, peer_before)
    finally:
        guests.delete(cloud, guest)
    _assert_nothing_plugged(cloud, port_id)


@pytest.mark.parametrize("mode", ["ours_prefer_ovs"], indirect=True)
def test_operator_preference(cloud: Cloud, mode: str,
                             peer: guests.Guest) -> None:
    """``preference_order = ovs`` wins over the agent's default.

    The same hugepages server that ``test_hugepages[ours]`` sees bound
    vhost-user is bound ``ovs`` once the operator prefers it, and pings.
    """
    peer_before = guests.console(cloud, peer)
    guest = guests.boot(cloud, f"prefer-{mode}", A, peers=[PEER_IP],
                        hugepages=True)
    port_id = guest.ports[0].id
    try:
        vif_type, _details, profile = guests.binding(cloud, port_id)
        names = _offered_names(profile)
        assert names[0] == "ovs"
        assert "ovs-vhostuser" in names
        assert vif_type == "ovs"
        _both_ways(cloud, guest, peer, peer_before)
    finally:
        guests.delete(cloud, guest)
    _assert_nothing_plugged(cloud, port_id)


# -- the lifecycle ----------------------------------------------------------

@pytest.mark.parametrize("mode", ["ours", "stock"], indirect=True)
def test_lifecycle(cloud: Cloud, mode: str, peer: guests.Guest) -> None:
    """Reboot, stop/start, attach/detach, restarts of both services, delete.

    Ours runs a server without hugepages (bound ``ovs``); stock the
    hugepages server it can use (``vhostuser``).  After each step the guest
    pings again and the host has exactly one OVS port per bound port.
    """
    from os_vif_pref.testing.cloud import launcher

    admin = cloud.admin()
    second = guests.create_port(cloud, B, f"attach-{mode}")
    guest = guests.boot(
        cloud, f"life-{mode}", A, peers=[PEER_IP],
        hugepages=(mode == "stock"),
        extra_user_data=f"ip={B}/24\n")
    port_id = guest.ports[0].id
    guest.ports.append(second)
    expected_type = "ovs" if mode == "ours" else "vhostuser"

    def one_port_and_traffic(step: str) -> None:
        names = guests.ovs_ports_of(cloud, port_id)
        assert len(names) == 1, f"after {step}: OVS ports {names}"
        assert guests.binding(cloud, port_id)[0] == expected_type, step

    try:
        guests.peer_ok(cloud, guest, PEER_IP)
        one_port_and_traffic("boot")

        before = guests.console(cloud, guest)
        admin.compute.reboot_server(guest.id, "HARD")
        guests.wait_status(cloud, guest, "ACTIVE")
        guests.wait_console(cloud, guest, r"^GUEST READY", before=before,
                            timeout=180)
        guests.peer_ok(cloud, guest, PEER_IP, before=before)
        one_port_and_traffic("hard reboot")

        admin.compute.stop_server(guest.id)
        guests.wait_status(cloud, guest, "SHUTOFF")
        before = guests.console(cloud, guest)
        admin.compute.start_server(guest.id)
        guests.wait_status(cloud, guest, "ACTIVE")
        guests.wait_console(cloud, guest, r"^GUEST READY", before=before,
                            timeout=180)
        guests.peer_ok(cloud, guest, PEER_IP, before=before)
        one_port_and_traffic("stop/start")

        peer_before = guests.console(cloud, peer)
        before = guests.console(cloud, guest)
        admin.compute.create_server_interface(guest.id, port_id=second.id)
        guests.wait_console(cloud, guest, rf"^NIC eth1 UP .* {B}/24",
                            before=before, timeout=120)
        assert guests.binding(cloud, second.id)[0] == expected_type
        assert len(guests.ovs_ports_of(cloud, second.id)) == 1
        guests.peer_ok(cloud, peer, B, before=peer_before)
        admin.compute.delete_server_interface(second.id, guest.id)
        _wait_unplugged(cloud, second.id)

        vif_type, details, _ = guests.binding(cloud, port_id)
        before = guests.console(cloud, guest)
        launcher.restart_nova_compute(cloud.lay, cloud.procs)
        one_port_and_traffic("nova-compute restart")
        # The guest kept running: its console goes on (no new boot).
        after = guests.console(cloud, guest)
        assert after.startswith(before) and "GUEST READY" not in after[
            len(before):], "the guest was restarted by nova-compute's start"
        guests.peer_ok(cloud, guest, PEER_IP, before=after)
        assert guests.binding(cloud, port_id)[:2] == (vif_type, details)

        launcher.restart_neutron_server(cloud.lay, cloud.procs)
        assert guests.binding(cloud, port_id)[:2] == (vif_type, details)
        guests.peer_ok(cloud, guest, PEER_IP,
                       before=guests.console(cloud, guest))
    finally:
        guests.delete(cloud, guest)
    _assert_nothing_plugged(cloud, port_id)
    _assert_nothing_plugged(cloud, second.id)


def _wait_unplugged(cloud: Cloud, port_id: str, timeout: float = 60) -> None:
    import time

    deadline = time.monotonic() + timeout
    while guests.plugged_for(cloud, port_id):
        if time.monotonic() > deadline:
            _assert_nothing_plugged(cloud, port_id)
        time.sleep(1)
