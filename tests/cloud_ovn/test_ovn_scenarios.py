"""The scenarios that differ on ML2/OVN, each beside its stock counterpart.

The compute host is a DPDK chassis (its ``ovs-vswitchd`` is the DPDK
build, without hugepages): Neutron's stock OVN driver binds every port
there ``vhostuser``.  What runs here and not in tests/cloud: the binding
decided by ``pref_ovn`` from the chassis' Southbound record, the chassis
claiming each port Nova plugged (``Port_Binding.chassis``, ``up``),
addresses from OVN's DHCP, OVN's ACLs for security groups, OVN's router,
and ``neutron-ovn-db-sync-util`` finding nothing to repair at the end.
What does not depend on the back end (the operator's preference, the
lifecycle, old Nova) runs on the agent back end only (tests/cloud).

Guests are few (booting under QEMU's emulation is what costs): in mode
``ours`` the peer and one guest without hugepages serve the traffic,
security group and router checks.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from os_vif_pref.testing.cloud import guests, ovn
from os_vif_pref.testing.cloud.launcher import Cloud
from tests.cloud.conftest import GUEST_IPS, PEER_IP
from tests.cloud_ovn.conftest import OVNModeState

pytestmark = pytest.mark.cloud

A, B = GUEST_IPS
HOST = "compute1"
#: The second network the router joins; its router address is a peer of A.
NET2_CIDR = "198.51.100.0/24"
ROUTER_FAR_IP = "198.51.100.1"


def _offer(profile: dict[str, Any]) -> dict[str, Any] | None:
    return profile.get("os_vif_pref")


def _offered_names(profile: dict[str, Any]) -> list[str]:
    offer = _offer(profile)
    assert offer is not None, f"no offer in binding:profile {profile}"
    return [item.split()[0] for item in offer["i"]]


def _assert_claimed(cloud: Cloud, port_id: str, timeout: float = 60) -> None:
    """The chassis claimed the port and OVN says it is up."""
    deadline = time.monotonic() + timeout
    row: dict[str, Any] = {}
    while time.monotonic() < deadline:
        row = ovn.port_binding(cloud.lay, port_id)
        if row.get("chassis") == HOST and row.get("up"):
            return
        time.sleep(1)
    raise AssertionError(f"port {port_id} not claimed by chassis {HOST} "
                         f"and up within {timeout:.0f} s: {row}")


def _assert_nothing_plugged(cloud: Cloud, port_id: str) -> None:
    left = guests.plugged_for(cloud, port_id)
    assert not left, f"still plugged for port {port_id}: {left}"


def _assert_dhcp_address(cloud: Cloud, guest: guests.Guest) -> None:
    """The guest's NIC has its port's address, from OVN's DHCP.

    The subnet has DHCP on, so the config drive says ``ipv4_dhcp`` and
    the guest asks (its init prints the lease it got); OVN answers from
    the port's ``dhcpv4_options``, which Neutron set.
    """
    port = guests.port(cloud, guest.ports[0].id)
    options = ovn.nbctl(cloud.lay, "--bare", "--columns=dhcpv4_options",
                        "find", "Logical_Switch_Port",
                        f"name={port.id}").strip()
    assert options, f"no dhcpv4_options on the OVN port of {port.id}"
    mac, ip = re.escape(port.mac_address), re.escape(guest.ip)
    guests.wait_console(cloud, guest, rf"^NIC eth0 UP {mac} {ip}/24$",
                        timeout=180)


def _kept_guest(modes: OVNModeState) -> guests.Guest:
    """Mode ``ours``' guest without hugepages at A (booted on first use),
    pinging the peer and the router's far address."""
    guest = modes.kept.get("a")
    if guest is None:
        guest = guests.boot(modes.cloud, f"ovn-a-{modes.mode}", A,
                            peers=[PEER_IP, ROUTER_FAR_IP])
        modes.kept["a"] = guest
    return guest


# -- the proposal's case ---------------------------------------------------

@pytest.mark.parametrize("mode", ["ours", "old_neutron", "stock"],
                         indirect=True)
def test_no_hugepages(cloud: Cloud, mode: str, modes: OVNModeState) -> None:
    """A server without hugepages on the DPDK chassis.

    Stock OVN binds vhost-user (the chassis publishes the DPDK interface
    types), which a guest without shared memory cannot use: the port is
    claimed and ACTIVE, the NIC never passes a packet.  ``pref_ovn`` with
    the host's offer binds ``ovs`` on the netdev br-int; the chassis
    claims the tap, the guest takes its address from OVN's DHCP and pings
    the peer both ways.  A new Nova with the stock ``ovn`` driver:
    Neutron binds vhost-user, which the instance's offer excludes, and
    Nova refuses before plugging anything, saying why.
    """
    if mode == "ours":
        peer = modes.ensure_peer()
        peer_before = guests.console(cloud, peer)
        guest = _kept_guest(modes)
        port_id = guest.ports[0].id
        vif_type, details, profile = guests.binding(cloud, port_id)
        assert vif_type == "ovs"
        assert details["datapath_type"] == "netdev"
        assert _offer(profile)["h"] == HOST
        assert not any("vhostuser" in n for n in _offered_names(profile))
        names = guests.ovs_ports_of(cloud, port_id)
        assert len(names) == 1 and names[0].startswith("tap"), names
        _assert_claimed(cloud, port_id)
        _assert_claimed(cloud, peer.ports[0].id)
        _assert_dhcp_address(cloud, guest)
        _assert_dhcp_address(cloud, peer)
        guests.peer_ok(cloud, guest, PEER_IP)
        guests.peer_ok(cloud, peer, A, before=peer_before)
        return  # the guest stays for the security group and router checks
    guest = guests.boot(cloud, f"ovn-nohuge-{mode}", A, peers=[PEER_IP],
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
            assert not ovn.port_binding(cloud.lay, port_id).get("chassis")
            return
        guests.wait_status(cloud, guest, "ACTIVE")
        vif_type, _details, profile = guests.binding(cloud, port_id)
        assert vif_type == "vhostuser"
        assert _offer(profile) is None
        names = guests.ovs_ports_of(cloud, port_id)
        assert [guests.ovs_ports(cloud)[n]["type"] for n in names] == [
            "dpdkvhostuserclient"]
        _assert_claimed(cloud, port_id)
        assert guests.peer_never_ok(cloud, guest, PEER_IP) >= 3
    finally:
        guests.delete(cloud, guest)
    _assert_nothing_plugged(cloud, port_id)


@pytest.mark.parametrize("mode", ["ours", "stock"], indirect=True)
def test_hugepages(cloud: Cloud, mode: str, peer: guests.Guest) -> None:
    """A server with hugepages: vhost-user in both modes, and traffic.

    Ours offers vhost-user first, so the binding is stock's; the chassis
    claims the ``dpdkvhostuserclient`` port and the guest pings the peer
    both ways (in ``stock`` the peer is itself a hugepages guest).
    """
    peer_before = guests.console(cloud, peer)
    guest = guests.boot(cloud, f"ovn-huge-{mode}", B, peers=[PEER_IP],
                        hugepages=True)
    port_id = guest.ports[0].id
    try:
        vif_type, details, profile = guests.binding(cloud, port_id)
        assert vif_type == "vhostuser"
        assert details["vhostuser_mode"] == "server"
        socket = details["vhostuser_socket"]
        assert socket.startswith(str(cloud.lay.vhost_dir))
        if mode == "ours":
            assert _offered_names(profile)[0] == "ovs-vhostuser"
        else:
            assert _offer(profile) is None
        (name,) = guests.ovs_ports_of(cloud, port_id)
        ovs_port = guests.ovs_ports(cloud)[name]
        assert ovs_port["type"] == "dpdkvhostuserclient"
        assert ovs_port["options"]["vhost-server-path"] == socket
        _assert_claimed(cloud, port_id)
        _assert_claimed(cloud, peer.ports[0].id)
        _assert_dhcp_address(cloud, guest)
        guests.peer_ok(cloud, guest, PEER_IP)
        guests.peer_ok(cloud, peer, B, before=peer_before)
    finally:
        guests.delete(cloud, guest)
    _assert_nothing_plugged(cloud, port_id)


# -- OVN's own functions, with ports pref_ovn bound --------------------------

def _default_ingress_rule(conn: Any, sg_id: str) -> Any:
    """The default group's IPv4 ingress rule from members of itself."""
    for rule in conn.network.security_group_rules(security_group_id=sg_id):
        if (rule.direction == "ingress" and rule.ether_type == "IPv4"
                and rule.remote_group_id == sg_id):
            return rule
    raise AssertionError(f"security group {sg_id} has no IPv4 ingress rule "
                         "from its own members")


@pytest.mark.parametrize("mode", ["ours"], indirect=True)
def test_security_group_filters(cloud: Cloud, mode: str,
                                modes: OVNModeState,
                                peer: guests.Guest) -> None:
    """OVN's ACLs still filter ports bound by ``pref_ovn`` (as ``ovs``).

    Both guests are in the project's default group.  Without its IPv4
    ingress rule (from members of the group) every new ping is dropped
    where it enters the other guest's port, both ways; with the rule back
    they pass again, both ways.
    """
    guest = _kept_guest(modes)
    conn = cloud.admin()
    sg_id = guests.port(cloud, guest.ports[0].id).security_group_ids[0]
    rule = _default_ingress_rule(conn, sg_id)
    guests.peer_ok(cloud, peer, A)
    guests.peer_ok(cloud, guest, PEER_IP)
    conn.network.delete_security_group_rule(rule)
    restored = False
    try:
        for who, target in ((peer, A), (guest, PEER_IP)):
            guests.wait_console(cloud, who, rf"^PEER {re.escape(target)} "
                                "FAIL", before=guests.console(cloud, who),
                                timeout=60)
        quiet = {g.id: guests.console(cloud, g) for g in (peer, guest)}
        time.sleep(15)
        for who, target in ((peer, A), (guest, PEER_IP)):
            later = guests.since(guests.console(cloud, who), quiet[who.id])
            assert re.search(rf"^PEER {re.escape(target)} FAIL", later,
                             re.MULTILINE), f"{who.server.name} stopped"
            assert not re.search(rf"^PEER {re.escape(target)} OK", later,
                                 re.MULTILINE), \
                f"{who.server.name} reached {target} without the rule"
        before = {g.id: guests.console(cloud, g) for g in (peer, guest)}
        conn.network.create_security_group_rule(
            security_group_id=sg_id, direction="ingress", ether_type="IPv4",
            remote_group_id=sg_id, project_id=rule.project_id)
        restored = True
        guests.peer_ok(cloud, peer, A, before=before[peer.id])
        guests.peer_ok(cloud, guest, PEER_IP, before=before[guest.id])
    finally:
        if not restored:
            conn.network.create_security_group_rule(
                security_group_id=sg_id, direction="ingress",
                ether_type="IPv4", remote_group_id=sg_id,
                project_id=rule.project_id)


@pytest.mark.parametrize("mode", ["ours"], indirect=True)
def test_router_routes(cloud: Cloud, mode: str, modes: OVNModeState) -> None:
    """OVN's router answers across subnets for a guest ``pref_ovn`` bound.

    The guest took its default route from OVN's DHCP (the subnet's
    gateway) and pings the router's address on a second network: no
    answer before the router joins both subnets, answers after.
    """
    guest = _kept_guest(modes)
    conn = cloud.admin()
    far = rf"^PEER {re.escape(ROUTER_FAR_IP)} "
    guests.wait_console(cloud, guest, far + "FAIL", timeout=120)
    net = conn.network.create_network(name="ovn-net2")
    router = None
    try:
        subnet = conn.network.create_subnet(
            name="ovn-net2-v4", network_id=net.id, ip_version=4,
            cidr=NET2_CIDR, gateway_ip=ROUTER_FAR_IP, enable_dhcp=False)
        router = conn.network.create_router(name="ovn-router")
        before = guests.console(cloud, guest)
        conn.network.add_interface_to_router(router,
                                             subnet_id=cloud.info["subnet"])
        conn.network.add_interface_to_router(router, subnet_id=subnet.id)
        guests.wait_console(cloud, guest, far + "OK", before=before,
                            timeout=120)
    finally:
        if router is not None:
            for sub in (cloud.info["subnet"], *net.subnet_ids,
                        *[s.id for s in conn.network.subnets(
                            network_id=net.id)]):
                try:
                    conn.network.remove_interface_from_router(
                        router, subnet_id=sub)
                except Exception:  # noqa: BLE001, S110 - not attached
                    pass
            conn.network.delete_router(router)
        conn.network.delete_network(net)


# -- after everything --------------------------------------------------------

def test_db_sync_finds_nothing(cloud: Cloud, modes: OVNModeState) -> None:
    """``neutron-ovn-db-sync-util`` in ``log`` mode: nothing to repair.

    Runs after every scenario (ports bound by ``pref_ovn`` and by stock,
    deleted again, a router made and removed, a rule deleted and made
    again): whatever the drivers wrote to OVN's Northbound matches
    Neutron's database.  What the tool reports for plugins this server
    does not run is listed in :func:`ovn.db_sync_check`.
    """
    del modes
    differences, ignored = ovn.db_sync_check(cloud.lay)
    assert not differences, "neutron-ovn-db-sync-util would repair:\n" + \
        "\n".join(differences) + "\n(not counted:)\n" + "\n".join(ignored)
    # ... and it does see a difference where there is one (a network
    # whose logical switch is gone from the Northbound).
    conn = cloud.admin()
    net = conn.network.create_network(name="ovn-sync-probe")
    try:
        ovn.nbctl(cloud.lay, "ls-del", f"neutron-{net.id}")
        differences, _ = ovn.db_sync_check(cloud.lay)
        assert [d for d in differences
                if "not in OVN NB DB" in d and net.id in d], differences
    finally:
        conn.network.delete_network(net)
