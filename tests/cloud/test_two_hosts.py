"""Two compute hosts that offer different bindings, in the one-machine cloud.

compute1 runs OVS-DPDK (stock Neutron binds every port there
``vhostuser``); compute2 runs plain userspace OVS in a network namespace of
its own (nothing but ``ovs`` there).  Neutron has one configuration for
both: what differs per host is what each nova-compute offers (ours) or
what each agent reports (stock).  A guest on each host pings the other
over the provider network (a veth between the two ``br-phys``); a server
compute1 refuses is rescheduled to compute2; a hugepages server bound
vhost-user on compute1 is cold-migrated to compute2 (re-negotiated to
``ovs``: the destination binding carries compute2's offer) and resized back
to compute1 (``vhostuser`` again); after compute1's nova-compute stops
and is forced down, a server of compute1 is evacuated to compute2 and
rebuilt there with compute2's binding.

compute2's nova-compute is disabled while the one-host scenarios run
(they expect compute1); :class:`TwoHosts` enables it for these and
disables it again when the module's tests of a mode are done.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
import re
import time
from typing import Any

import pytest

from os_vif_pref.testing.cloud import compute, guests, hosts, launcher
from os_vif_pref.testing.cloud.procs import run

pytestmark = pytest.mark.cloud

H1, H2 = "compute1", hosts.HOST2
#: Guests of these scenarios (the one-host scenarios use .5, .21, .22).
P_IP, Q_IP, M_IP, R_IP, E_IP = ("203.0.113.31", "203.0.113.32",
                                "203.0.113.33", "203.0.113.34",
                                "203.0.113.35")


def on_host2(cloud: launcher.Cloud) -> launcher.Cloud:
    """The cloud as seen on compute2: its OVS and its libvirtd."""
    return launcher.Cloud(hosts.Host2Layout.of(cloud.lay), cloud.procs,
                          cloud.info, {})


def boot_on(cloud: launcher.Cloud, host: str, name: str, ip: str,
            peers: list[str], hugepages: bool = False) -> guests.Guest:
    """Boot a server on ``host`` (admin, availability zone ``nova:host``)
    without waiting: the caller boots several, then waits for each."""
    conn = cloud.admin("demo")
    port = guests.create_port(cloud, ip, f"{name}-port")
    flavor = cloud.info["flavor_hugepages" if hugepages else "flavor"]
    user_data = base64.b64encode(f"peers={','.join(peers)}\n".encode())
    server = conn.compute.create_server(
        name=name, image_id=cloud.info["image"], flavor_id=flavor,
        networks=[{"port": port.id}], availability_zone=f"nova:{host}",
        user_data=user_data.decode())
    return guests.Guest(server=server, ports=[port], ip=ip)


def host_of(cloud: launcher.Cloud, guest: guests.Guest) -> str:
    return str(cloud.admin().compute.get_server(guest.id).compute_host)


def offer(profile: dict[str, Any]) -> dict[str, Any] | None:
    return profile.get("os_vif_pref")


def offered_names(profile: dict[str, Any]) -> list[str]:
    the_offer = offer(profile)
    assert the_offer is not None, f"no offer in binding:profile {profile}"
    return [item.split()[0] for item in the_offer["i"]]


def assert_bound(cloud: launcher.Cloud, guest: guests.Guest, host: str,
                 vif_type: str, mode: str, first: str | None = None) -> None:
    """The guest's port is bound on ``host`` as ``vif_type``; ours carries
    that host's offer (``first`` its first entry), stock none; the port is
    plugged in that host's OVS and in no other."""
    port_id = guest.ports[0].id
    port = guests.port(cloud, port_id)
    where = f"port of {guest.server.name} on {host}"
    assert port.binding_host_id == host, (where, port.binding_host_id)
    assert port.binding_vif_type == vif_type, (where, port.binding_vif_type)
    profile = dict(port.binding_profile or {})
    if mode == "ours":
        assert offer(profile)["h"] == host, (where, profile)
        if first is not None:
            assert offered_names(profile)[0] == first, (where, profile)
    else:
        assert offer(profile) is None, (where, profile)
    here, there = ((cloud, on_host2(cloud)) if host == H1
                   else (on_host2(cloud), cloud))
    kinds = {"vhostuser": "dpdkvhostuserclient", "ovs": ""}
    names = guests.ovs_ports_of(here, port_id)
    assert [guests.ovs_ports(here)[n]["type"] for n in names] == [
        kinds[vif_type]], (where, names)
    assert not guests.ovs_ports_of(there, port_id), (where, "other host")


class TwoHosts:
    """compute2 enabled, and this mode's two resident guests.

    P on compute1 and Q on compute2, each pinging the other and the
    scenario guests (M, R); booted once per mode, deleted (and compute2
    disabled again) when the module's tests of the mode are done.
    """

    def __init__(self, cloud: launcher.Cloud) -> None:
        self.cloud = cloud
        self.mode = ""
        self.pair: tuple[guests.Guest, guests.Guest] | None = None
        hosts.set_enabled(cloud.lay, True)

    def ensure_pair(self, mode: str) -> tuple[guests.Guest, guests.Guest]:
        if self.pair is not None and self.mode == mode:
            return self.pair
        self.drop_pair()
        # Stock binds vhost-user on compute1: shared memory, or no traffic.
        p = boot_on(self.cloud, H1, f"p-{mode}", P_IP, [Q_IP, M_IP, R_IP],
                    hugepages=(mode == "stock"))
        q = boot_on(self.cloud, H2, f"q-{mode}", Q_IP, [P_IP, M_IP, R_IP])
        self.pair, self.mode = (p, q), mode
        for guest in (p, q):
            guests.wait_status(self.cloud, guest, "ACTIVE", timeout=300)
        return self.pair

    def drop_pair(self) -> None:
        if self.pair is not None:
            for guest in self.pair:
                guests.delete(self.cloud, guest)
            self.pair = None

    def close(self) -> None:
        try:
            self.drop_pair()
        finally:
            hosts.set_enabled(self.cloud.lay, False)


@pytest.fixture(scope="module")
def two_hosts(cloud: launcher.Cloud) -> Iterator[TwoHosts]:
    assert cloud.lay.hosts == 2, "the tests' cloud runs with --hosts 2"
    state = TwoHosts(cloud)
    try:
        yield state
    finally:
        state.close()


@pytest.fixture
def pair(two_hosts: TwoHosts, mode: str
         ) -> tuple[guests.Guest, guests.Guest]:
    return two_hosts.ensure_pair(mode)


@pytest.mark.parametrize("mode", ["ours", "stock"], indirect=True)
def test_pair_and_cold_migration(cloud: launcher.Cloud, mode: str,
                                 pair: tuple[guests.Guest, guests.Guest]
                                 ) -> None:
    """A guest on each host pings the other, each bound as its host says;
    a hugepages guest goes compute1 -> compute2 by cold migration and back
    to compute1 by a resize to a bigger hugepages flavor (the scheduler's
    only other host), re-negotiated each way (vhost-user -> ovs ->
    vhost-user), and pings after each.

    Ours: P (no hugepages) is ``ovs`` on compute1 (vhost-user left out of
    its offer), Q ``ovs`` on compute2, each with its host's offer.  Stock:
    P (hugepages) is ``vhostuser`` on compute1, Q ``ovs`` on compute2 (the
    agents differ), no offer anywhere.
    """
    p, q = pair
    admin = cloud.admin()
    assert host_of(cloud, p) == H1 and host_of(cloud, q) == H2
    assert_bound(cloud, p, H1, "ovs" if mode == "ours" else "vhostuser",
                 mode)
    assert_bound(cloud, q, H2, "ovs", mode)
    guests.peer_ok(cloud, p, Q_IP, timeout=240)
    guests.peer_ok(cloud, q, P_IP, timeout=240)

    # The resize's flavor: hugepages as before, more memory (2 MiB pages
    # for both fit in what the cloud reserved).
    bigger = admin.compute.create_flavor(name=f"huge-384-{mode}", ram=384,
                                         vcpus=1, disk=1, is_public=True)
    admin.compute.create_flavor_extra_specs(bigger,
                                            {"hw:mem_page_size": "2MB"})
    m = boot_on(cloud, H1, f"m-{mode}", M_IP, [P_IP, Q_IP], hugepages=True)
    try:
        guests.wait_status(cloud, m, "ACTIVE", timeout=300)
        assert_bound(cloud, m, H1, "vhostuser", mode, first="ovs-vhostuser")
        guests.peer_ok(cloud, m, Q_IP, timeout=240)

        for dest, vif_type, first, flavor in (
                (H2, "ovs", "ovs", None),
                (H1, "vhostuser", "ovs-vhostuser", bigger)):
            before = guests.console(cloud, m)
            if flavor is None:
                admin.compute.migrate_server(m.id, host=dest)
            else:
                # No host to name: a resize never stays on its host here
                # (allow_resize_to_same_host is off), so it goes to dest.
                admin.compute.resize_server(m.id, flavor.id)
            guests.wait_status(cloud, m, "VERIFY_RESIZE", timeout=300)
            assert host_of(cloud, m) == dest
            if flavor is not None:
                assert admin.compute.get_server(m.id).flavor.ram == 384
            # The destination's binding, before the resize is confirmed.
            assert_bound(cloud, m, dest, vif_type, mode, first=first)
            xml = guests.domain_xml(cloud if dest == H1
                                    else on_host2(cloud), m)
            if vif_type == "ovs":
                assert re.search(r"<interface type=['\"]ethernet['\"]", xml)
                assert "vhostuser" not in xml
            else:
                assert re.search(r"<interface type=['\"]vhostuser['\"]",
                                 xml)
            admin.compute.confirm_server_resize(m.id)
            guests.wait_status(cloud, m, "ACTIVE", timeout=120)
            guests.peer_ok(cloud, m, P_IP, before=before, timeout=240)
            guests.peer_ok(cloud, m, Q_IP, before=before, timeout=120)
            assert_bound(cloud, m, dest, vif_type, mode)
    finally:
        guests.delete(cloud, m)
        admin.compute.delete_flavor(bigger)
    assert not guests.plugged_for(cloud, m.ports[0].id)
    assert not guests.plugged_for(on_host2(cloud), m.ports[0].id)


@pytest.mark.parametrize("mode", ["ours"], indirect=True)
def test_reschedule(cloud: launcher.Cloud, mode: str,
                    pair: tuple[guests.Guest, guests.Guest]) -> None:
    """compute1 refuses, compute2 takes the server, which pings.

    The operator disabled the kernel-datapath OVS bindings on compute1
    only (``[os_vif_pref] disabled = ovs,ovs-hybrid`` there): for a server
    without hugepages compute1 offers nothing this Neutron serves
    (vhost-user needs shared memory), so compute1 refuses and Nova
    reschedules to compute2, the scheduler's next host
    (compute2 reserves more memory, so compute1 weighs first).  compute1's
    reason is in the instance action events, as the operator's guide says.
    Stock has no refusal to reschedule on: its counterpart is
    test_no_hugepages[stock] (ACTIVE on compute1, no traffic).
    """
    p, _q = pair
    cloud.reconfigure(host_options={
        H1: {"os_vif_pref": {"disabled": "ovs,ovs-hybrid"}}})
    r = None
    try:
        conn = cloud.member()
        port = guests.create_port(cloud, R_IP, "r-ours-port")
        user_data = base64.b64encode(f"peers={P_IP}\n".encode()).decode()
        server = conn.compute.create_server(
            name="r-ours", image_id=cloud.info["image"],
            flavor_id=cloud.info["flavor"], networks=[{"port": port.id}],
            user_data=user_data)
        r = guests.Guest(server=server, ports=[port], ip=R_IP)
        guests.wait_status(cloud, r, "ACTIVE", timeout=400)
        assert host_of(cloud, r) == H2
        events = guests.instance_events(cloud, r)
        refused = [e for e in events
                   if e.get("event") == f"os_vif_pref_check_binding:{H1}"]
        assert refused, f"no refusal event of {H1}: {events}"
        assert refused[0].get("result") == "Error", refused
        assert not [e for e in events if e.get("event")
                    == f"os_vif_pref_check_binding:{H2}"], events
        assert_bound(cloud, r, H2, "ovs", mode, first="ovs")
        guests.peer_ok(cloud, r, P_IP, timeout=240)
    finally:
        try:
            if r is not None:
                guests.delete(cloud, r)
        finally:
            cloud.reconfigure(host_options={})


def _migration_done(cloud: launcher.Cloud, guest: guests.Guest) -> str | None:
    """The status of the guest's live migration once it ended, else None."""
    for mig in cloud.admin().compute.migrations(instance_uuid=guest.id):
        if mig.migration_type == "live-migration" and mig.status in (
                "completed", "error", "failed", "cancelled"):
            return str(mig.status)
    return None


@pytest.mark.parametrize("mode", ["ours", "stock"], indirect=True)
def test_live_migration_destination_binding(
        cloud: launcher.Cloud, mode: str,
        pair: tuple[guests.Guest, guests.Guest]) -> None:
    """A live migration compute1 -> compute2 binds the destination from
    compute2's offer before the switch-over; libvirt then refuses it.

    Nova's pre-check on compute2 puts compute2's offer in the migration
    data, the conductor creates the port's INACTIVE binding on compute2
    from it (``ovs``, compute2's offer, where the source is ``vhostuser``),
    compute2 plugs it.  The switch-over cannot run on this machine:
    libvirt's safety check refuses a migration whose disk is on a local
    file system it does not know as shared (NFS, GFS2, CephFS, ...), and
    Nova never passes ``VIR_MIGRATE_UNSAFE``; the rollback deletes the
    destination binding.  doc/source/reference/cloud.rst says why more.
    Stock: the same destination binding (``ovs``, from compute2's agent),
    no offer anywhere, the same refusal.
    """
    del pair  # compute2 enabled; the resident guests are not needed here
    admin = cloud.admin()
    m = boot_on(cloud, H1, f"lm-{mode}", M_IP, [P_IP, Q_IP], hugepages=True)
    port_id = m.ports[0].id
    try:
        guests.wait_status(cloud, m, "ACTIVE", timeout=300)
        assert_bound(cloud, m, H1, "vhostuser", mode, first="ovs-vhostuser")
        log = cloud.procs.log("nova_compute")
        log_start = log.stat().st_size
        admin.compute.live_migrate_server(m.id, host=H2,
                                          block_migration="auto")
        dest = None
        status = None
        deadline = time.monotonic() + 300
        while status is None and time.monotonic() < deadline:
            for b in admin.network.port_bindings(port_id):
                if b.host == H2 and dest is None:
                    dest = b
            status = _migration_done(cloud, m)
            time.sleep(0.2)
        assert status is not None, "the live migration did not end in 300 s"
        assert dest is not None, "no destination binding was ever seen"
        assert dest.status == "INACTIVE" and dest.vif_type == "ovs", dest
        if mode == "ours":
            assert offer(dest.profile)["h"] == H2, dest.profile
            assert offered_names(dest.profile)[0] == "ovs", dest.profile
        else:
            assert offer(dest.profile or {}) is None, dest.profile
        # Where it stops here, and why (compute1's nova-compute log).
        assert status in ("error", "failed"), status
        with open(log, "rb") as f:
            f.seek(log_start)
            lines = f.read().decode("utf-8", "replace").splitlines()
        why = [line for line in lines if m.id in line
               and "Migration without shared storage is unsafe" in line]
        assert why, f"{log}: no libvirt refusal for {m.id}: {lines[-20:]}"
        assert host_of(cloud, m) == H1
        assert not [b for b in admin.network.port_bindings(port_id)
                    if b.host == H2], "the destination binding stayed"
    finally:
        guests.delete(cloud, m)
        # Nova's rollback at the destination unplugs the *source's* VIF
        # (vhost-user, found in compute2's log): the ``ovs`` port
        # pre_live_migration plugged on compute2 stays behind.  Removed
        # here, so that the next scenario starts clean (reported as a
        # finding in doc/source/reference/cloud.rst).
        h2 = on_host2(cloud)
        for name in guests.ovs_ports_of(h2, port_id):
            compute.vsctl(h2.lay, "--if-exists", "del-port", "br-int", name,
                          wait=True)
            # The tap compute2 created for it (the binding asks the host
            # to create it) stays with it.
            if name in guests.host_links(h2):
                run([*hosts.in_ns(cloud.lay), "ip", "link", "del", name],
                    what=f"ip link del {name} (compute2)")
    assert not guests.plugged_for(on_host2(cloud), port_id)


@pytest.mark.parametrize("mode", ["ours", "stock"], indirect=True)
def test_evacuation(cloud: launcher.Cloud, mode: str,
                    pair: tuple[guests.Guest, guests.Guest]) -> None:
    """compute1 fails: the server is rebuilt on compute2, bound as compute2
    negotiates (``ovs`` where it was ``vhostuser``), and pings.

    The failure, as an operator sees one: compute1's nova-compute stops
    and the guest dies with the host (its domain destroyed), the service
    is forced down, the admin evacuates to compute2 (rebuilt stopped, as
    compute API 2.95 and later do) and starts it.  When compute1 comes
    back it deletes its copy of the evacuated server.  What it leaves on
    its OVS is recorded, the same in both modes: Nova's clean-up unplugs
    with the server's *current* network info (compute2's ``ovs``), so the
    source's vhost-user port stays (a Nova behaviour, stock alike; removed
    here so the next scenario starts clean).
    """
    from os_vif_pref.testing.cloud import resources

    del pair  # compute2 enabled, P and Q up: the guest pings them
    admin = cloud.admin()
    e = boot_on(cloud, H1, f"e-{mode}", E_IP, [P_IP, Q_IP], hugepages=True)
    port_id = e.ports[0].id
    service = None
    try:
        guests.wait_status(cloud, e, "ACTIVE", timeout=300)
        assert_bound(cloud, e, H1, "vhostuser", mode, first="ovs-vhostuser")
        source_ports = guests.ovs_ports_of(cloud, port_id)
        guests.peer_ok(cloud, e, Q_IP, timeout=240)

        cloud.procs.stop("nova_compute", term_wait=15.0)
        service = resources.compute_service(cloud.lay, H1)
        guests.destroy_domain(cloud, e)
        admin.compute.update_service_forced_down(service, forced=True)
        before = guests.console(cloud, e)
        admin.compute.evacuate_server(e.id, host=H2)
        deadline = time.monotonic() + 300
        while host_of(cloud, e) != H2 and time.monotonic() < deadline:
            time.sleep(1)
        # Since compute API 2.95 an evacuated server is rebuilt stopped;
        # the operator starts it.
        guests.wait_status(cloud, e, "SHUTOFF", timeout=300)
        assert host_of(cloud, e) == H2
        admin.compute.start_server(e.id)
        guests.wait_status(cloud, e, "ACTIVE", timeout=120)
        port = guests.port(cloud, port_id)
        assert (port.binding_host_id, port.binding_vif_type) == (H2, "ovs")
        guests.peer_ok(cloud, e, Q_IP, before=before, timeout=240)
        guests.peer_ok(cloud, e, P_IP, before=before, timeout=120)

        # compute1 is back: it deletes its copy of the evacuated server.
        _recover(cloud, service)
        service = None
        left = guests.ovs_ports_of(cloud, port_id)
        assert left in ([], source_ports), (left, source_ports)
        for name in left:
            compute.vsctl(cloud.lay, "--if-exists", "del-port", "br-int",
                          name, wait=True)
        assert_bound(cloud, e, H2, "ovs", mode, first="ovs")
        guests.peer_ok(cloud, e, Q_IP, before=before, timeout=120)
    finally:
        if service is not None:
            _recover(cloud, service)
        guests.delete(cloud, e)
    assert not guests.plugged_for(cloud, port_id)
    assert not guests.plugged_for(on_host2(cloud), port_id)


def _recover(cloud: launcher.Cloud, service: Any) -> None:
    """compute1's nova-compute back, its service no longer forced down.

    In the operator's order: the service starts first and deletes its
    copies of servers evacuated away, which completes their evacuation
    records; Nova refuses to unset forced-down before that ("Unable to
    force up host compute1 as `done` evacuation migration records
    remain").
    """
    import datetime

    from os_vif_pref.testing.cloud import resources

    admin = cloud.admin()
    since = datetime.datetime.now(datetime.timezone.utc)
    compute.start_nova_compute(cloud.lay, cloud.procs)

    def cleaned_up() -> bool:
        return not [m for m in admin.compute.migrations(
            migration_type="evacuation")
            if m.source_compute == H1 and m.status == "done"]
    cloud.procs.wait("nova_compute", "its clean-up of evacuated servers "
                     "(compute1)", cleaned_up, timeout=240, interval=1)
    admin.compute.update_service_forced_down(service, forced=False)
    resources.wait_compute_restarted(cloud.lay, cloud.procs, since)
