"""The Nova integration in Nova's own functional harness.

Real Nova 34 (API, conductor, scheduler, compute with fake libvirt,
placement) and Nova's ``NeutronFixture`` taught to answer offers
(:mod:`tests.nova.harness`).  unittest-based, as Nova's tests are: run by
``tests/nova/test_nova_functional.py`` in a child process.

``OS_VIF_PREF_NOVA_HOOKS=contrib`` runs the same cases against a Nova
carrying the contrib patch (runtime hooks off); see the harness.
"""

import nova.tests.functional  # noqa: F401  (eventlet first, see design.md)

# isort: split

import copy  # noqa: E402
import json  # noqa: E402
import types  # noqa: E402
from unittest import mock  # noqa: E402

import fixtures  # noqa: E402
from nova.tests.fixtures import libvirt as fakelibvirt  # noqa: E402
from nova.tests.functional import integrated_helpers  # noqa: E402
from nova.tests.functional.libvirt import base  # noqa: E402
from nova.virt.libvirt import vif as libvirt_vif  # noqa: E402
import os_vif  # noqa: E402

from os_vif_pref import offer  # noqa: E402
from os_vif_pref.nova import hooks, integration  # noqa: E402
from tests.nova import harness  # noqa: E402

#: Nova's own _plug_os_vif / _unplug_os_vif (LibvirtFixture stubs them):
#: the cases restore them so os-vif really dispatches to a plugin.
REAL_PLUG = libvirt_vif.LibvirtGenericVIFDriver._plug_os_vif
REAL_UNPLUG = libvirt_vif.LibvirtGenericVIFDriver._unplug_os_vif

REFUSED = "which this host did not offer; offered:"
#: A binding no host offers an instance without hugepages.
VHOSTUSER = ("vhostuser", {
    "vhostuser_ovs_plug": True, "vhostuser_mode": "server",
    "vhostuser_socket": "/var/run/openvswitch/vhu1", "port_filter": False})


class _Base(base.ServersTestBase, integrated_helpers.InstanceHelperMixin):
    """One or two fake-libvirt computes, the negotiating NeutronFixture."""

    ADMIN_API = True
    microversion = "2.84"  # instance action events with 'details'
    ADDITIONAL_FILTERS = ["NUMATopologyFilter"]
    #: host -> capabilities; None: the integration stays off.
    HOSTS: dict | None = {"compute1": harness.OVS_DPDK}

    def setUp(self):
        super().setUp()
        self.neutron = self.useFixture(
            harness.NegotiatingNeutronFixture(self))
        self.useFixture(fixtures_monkey(
            "nova.virt.libvirt.vif.LibvirtGenericVIFDriver._plug_os_vif",
            REAL_PLUG))
        self.useFixture(fixtures_monkey(
            "nova.virt.libvirt.vif.LibvirtGenericVIFDriver._unplug_os_vif",
            REAL_UNPLUG))
        self.plugged = []  # (plugin, os-vif object) as os-vif dispatched
        self.unplugged = []
        for ext in os_vif._EXT_MANAGER.extensions:
            self._record(ext)
        self.integration = None
        if self.HOSTS is not None:
            self.integration = self.useFixture(
                harness.IntegrationFixture(self, self.HOSTS))

    def _record(self, ext):
        def plug(vif, instance_info, _name=ext.name):
            self.plugged.append((_name, vif))

        def unplug(vif, instance_info, _name=ext.name):
            self.unplugged.append((_name, vif))
        self.useFixture(fixtures_patch_object(ext.obj, "plug", plug))
        self.useFixture(fixtures_patch_object(ext.obj, "unplug", unplug))

    # -- helpers ----------------------------------------------------------

    def _flavor(self, hugepages=False):
        spec = {"hw:mem_page_size": "large"} if hugepages else None
        return self._create_flavor(memory_mb=1024, extra_spec=spec)

    def _hugepages_host(self):
        host_info = fakelibvirt.HostInfo(cpu_nodes=1, cpu_sockets=1,
                                         cpu_cores=2, cpu_threads=2)
        for cell in host_info.numa_topology.cells:
            huge = 1024
            small = (host_info.kB_mem - 2048 * huge) // 4
            cell.mempages = fakelibvirt.create_mempages(
                [(4, small), (2048, huge)])
        return host_info

    def _boot(self, flavor_id=None, expected="ACTIVE", host=None):
        server = self._create_server(
            flavor_id=flavor_id or self._flavor(),
            networks=[{"port": self.neutron.port_1["id"]}],
            expected_state=expected, host=host)
        return server

    def _sent_profiles(self, host, kind="update"):
        return [p for k, _, h, p in self.neutron.requests
                if k == kind and h == host]

    def _interfaces(self, hostname, server):
        """The <interface> elements of the domain XML Nova defined (the
        fake's XMLDesc() rewrites some of them: read what it parsed)."""
        conn = self.computes[hostname].driver._host.get_connection()
        dom = conn.lookupByUUIDString(server["id"])
        return dom._def["devices"]["nics"]

    def _events(self, server):
        """Our instance action events, as `server event show` has them."""
        found = []
        for action in self.api.get_instance_actions(server["id"]):
            detail = self.api.api_get(
                f"/servers/{server['id']}/os-instance-actions/"
                f"{action['request_id']}").body["instanceAction"]
            for ev in detail["events"]:
                if ev["event"].startswith(integration.EVENT):
                    found.append(types.SimpleNamespace(**ev))
        return found


def fixtures_monkey(name, value):
    return fixtures.MonkeyPatch(name, value)


def fixtures_patch_object(obj, attr, value):
    return fixtures.MockPatchObject(obj, attr, side_effect=value)


class OfferTests(_Base):
    """One compute with OVS-DPDK: what goes out, what gets plugged."""

    def test_port_update_carries_this_hosts_offer(self):
        # The boot path never probes: offers come from the list computed
        # at start-up.
        with mock.patch.object(integration.preference, "compute",
                               side_effect=AssertionError("probed")):
            server = self._boot()
        sent = self._sent_profiles("compute1")
        self.assertEqual(1, len(sent))
        got = offer.decode(sent[0])
        self.assertIsNotNone(got)
        self.assertEqual("compute1", got.host)
        self.assertEqual(
            self.integration.offer_names("compute1", vnic_type="normal"),
            got.names())
        self.assertNotIn("ovs-vhostuser", got.names())  # no hugepages
        self.assertIn("ovs", got.names())
        # Neutron stored it: `openstack port show -c binding_profile`.
        port = self.neutron.show_port(self.neutron.port_1["id"])["port"]
        self.assertIn(offer.KEY, port["binding:profile"])
        self.assertLessEqual(len(json.dumps(port["binding:profile"])),
                             integration.BINDING_PROFILE_LEN)
        self.assertEqual("ACTIVE", server["status"])

    def test_binding_inside_offer_is_plugged_by_our_plugin(self):
        server = self._boot()
        first = offer.decode(self._sent_profiles("compute1")[0]).items[0]
        port = self.neutron.show_port(self.neutron.port_1["id"])["port"]
        self.assertEqual(first.vif_type, port["binding:vif_type"])
        self.assertEqual(1, len(self.plugged), self.plugged)
        plugin, vif = self.plugged[0]
        # Nova 34 plugs OVS through os-vif: libvirt gets an ethernet tap.
        (iface,) = self._interfaces("compute1", server)
        self.assertEqual("ethernet", iface["type"])
        self.assertEqual(vif.address, iface["mac"])
        entry = self.integration.entry("compute1", first.name)
        self.assertEqual(entry.plugin, plugin)
        self.assertEqual("pref_ovs", vif.plugin)
        self.assertEqual(first.os_vif_object, type(vif).__name__)

    def test_binding_outside_offer_errors_readably_nothing_plugged(self):
        self.flags(max_attempts=1, group="scheduler")
        self.neutron.force = VHOSTUSER
        server = self._boot(expected="ERROR")
        msg = server["fault"]["message"]
        self.assertIn(f"Neutron bound port {self.neutron.port_1['id']} as "
                      "vhostuser, ", msg)
        self.assertIn(REFUSED + " ovs, ", msg)
        self.assertEqual([], self.plugged)
        (event,) = self._events(server)
        self.assertEqual("Error", event.result)
        self.assertIn(REFUSED, event.details)

    def test_reason_survives_max_retries(self):
        # Two computes: the first refusal reschedules, the second one
        # exhausts the hosts; the final fault names no reason, the
        # instance action events do (README: where to look).
        self.start_compute("compute2")
        self.integration_extra("compute2", harness.OVS_DPDK)
        self.start_compute("compute1")
        self.neutron.force = VHOSTUSER
        server = self._boot(expected="ERROR")
        self.assertIn("Exceeded maximum number of retries",
                      server["fault"]["message"])
        events = self._events(server)
        self.assertEqual({integration.EVENT + ":compute1",
                          integration.EVENT + ":compute2"},
                         {ev.event for ev in events})
        for ev in events:
            self.assertEqual("Error", ev.result)
            self.assertIn(REFUSED, ev.details)
        self.assertEqual([], self.plugged)

    def test_binding_failed_after_offer_names_the_offer(self):
        self.flags(max_attempts=1, group="scheduler")
        self.neutron.force = ("binding_failed", {})
        server = self._boot(expected="ERROR")
        msg = server["fault"]["message"]
        self.assertIn("could not bind port", msg)
        self.assertIn("(offered: ovs, ", msg)
        self.assertEqual([], self.plugged)

    def integration_extra(self, host, caps):
        prober = harness.CapabilityProber(caps)
        self.integration.probers[host] = prober
        integration.warm(host, prober)

    def setUp(self):
        super().setUp()
        if self.id().endswith("test_reason_survives_max_retries"):
            return
        self.start_compute("compute1", host_info=self._hugepages_host())


class HugepagesTests(_Base):

    def setUp(self):
        super().setUp()
        self.start_compute("compute1", host_info=self._hugepages_host())

    def test_hugepages_flavor_gets_vhostuser(self):
        server = self._boot(flavor_id=self._flavor(hugepages=True))
        got = offer.decode(self._sent_profiles("compute1")[0])
        self.assertEqual("ovs-vhostuser", got.names()[0])
        (iface,) = self._interfaces("compute1", server)
        self.assertEqual("vhostuser", iface["type"])
        plugin, vif = self.plugged[0]
        self.assertEqual(("pref_ovs", "VIFVHostUser"),
                         (plugin, type(vif).__name__))

    def test_flavor_without_hugepages_does_not(self):
        self._boot()
        got = offer.decode(self._sent_profiles("compute1")[0])
        self.assertNotIn("ovs-vhostuser", got.names())
        self.assertNotIn("vhostuser-noop", got.names())


class LiveMigrationTests(base.LibvirtMigrationMixin, _Base):
    """compute1 has OVS, compute2 only the Linux bridge."""

    HOSTS = {"compute1": harness.OVS_DPDK, "compute2": harness.LINUX_ONLY}

    def setUp(self):
        super().setUp()
        self.start_compute("compute1")
        self.start_compute("compute2")
        self.src = self.computes["compute1"]
        self.dest = self.computes["compute2"]

    def test_destination_bound_with_destination_offer(self):
        self.server = self._boot(host="compute1")
        src_offer = offer.decode(self._sent_profiles("compute1")[0])
        self.assertEqual("ovs", src_offer.items[0].vif_type)
        self._live_migrate(self.server, "completed")
        sent = self._sent_profiles("compute2", kind="binding")
        self.assertEqual(1, len(sent), self.neutron.requests)
        dest_offer = offer.decode(sent[0])
        self.assertIsNotNone(dest_offer)
        self.assertEqual(
            self.integration.offer_names("compute2", vnic_type="normal"),
            dest_offer.names())
        self.assertNotIn("ovs", dest_offer.names())
        self.assertNotEqual(src_offer.names(), dest_offer.names())
        self.assertEqual("compute2", dest_offer.host)
        server = self.api.get_server(self.server["id"])
        self.assertEqual("compute2",
                         server["OS-EXT-SRV-ATTR:host"])
        # compute2 has no OVS: Neutron bound its first offer, a tap.
        self.assertEqual("tap", dest_offer.items[0].vif_type)
        self.assertEqual("tap", self.neutron.show_port(
            self.neutron.port_1["id"])["port"]["binding:vif_type"])
        (iface,) = self._interfaces("compute2", server)
        self.assertEqual("ethernet", iface["type"])
        self.assertIn("pref_tap", [p for p, _ in self.plugged])


class OptionOffTests(_Base):
    """Without the option: exactly stock Nova."""

    HOSTS = None

    def setUp(self):
        super().setUp()
        self.start_compute("compute1")

    def test_stock(self):
        self.assertFalse(integration.enabled())
        self.assertFalse(harness.runtime_hooks_installed())
        for module, path in hooks.WRAPPERS:
            func = hooks._resolve(module, path)[2]
            self.assertFalse(getattr(func, "_os_vif_pref_hook", False),
                             f"{module}.{path} is wrapped")
        server = self._boot()
        for profile in self._sent_profiles("compute1"):
            self.assertNotIn(offer.KEY, profile or {})
        (iface,) = self._interfaces("compute1", server)
        self.assertEqual("ethernet", iface["type"])
        # Nova's own converter picked Nova's plugin, not ours.
        self.assertEqual(1, len(self.plugged))
        self.assertEqual("ovs", self.plugged[0][0])

        # Switched on later: a port bound without an offer stays stock
        # (hard reboot: get_config and plug again).
        self.useFixture(harness.IntegrationFixture(
            self, {"compute1": harness.OVS_DPDK}))
        self._reboot_server(server, hard=True)
        self.assertEqual(["ovs", "ovs"], [p for p, _ in self.plugged])
        self.assertNotIn(offer.KEY, self.neutron.show_port(
            self.neutron.port_1["id"])["port"]["binding:profile"])


class MoveTests(_Base):
    """Every binding to a host carries that host's offer; unbinding drops
    it.  compute1 has OVS-DPDK, compute2 only the Linux kernel."""

    HOSTS = {"compute1": harness.OVS_DPDK, "compute2": harness.LINUX_ONLY}

    def setUp(self):
        super().setUp()
        # The fixture knows port_1 only; port_2 is for the attach.
        self.neutron._ports[self.neutron.port_2["id"]] = copy.deepcopy(
            self.neutron.port_2)
        # Cold migration reads the disks fake libvirt does not write.
        self.useFixture(fixtures.MockPatch(
            "nova.virt.libvirt.LibvirtDriver._get_instance_disk_info",
            return_value=[]))
        self.useFixture(fixtures.MockPatch("os.rename"))
        self.start_compute("compute1")
        self.start_compute("compute2")

    def _last(self, port_id, host):
        sent = [p for k, pid, h, p in self.neutron.requests
                if k == "update" and pid == port_id and h == host]
        self.assertTrue(sent, self.neutron.requests)
        return sent[-1]

    def _assert_offer_of(self, host, profile):
        got = offer.decode(profile)
        self.assertIsNotNone(got, profile)
        self.assertEqual(host, got.host)
        self.assertEqual(
            self.integration.offer_names(host, vnic_type="normal"),
            got.names())

    def _port(self, port_id=None):
        return self.neutron.show_port(
            port_id or self.neutron.port_1["id"])["port"]

    def test_attach_interface_then_delete_unbinds(self):
        server = self._boot(host="compute1")
        port_2 = self.neutron.port_2["id"]
        self._attach_interface(server, port_2)
        self._assert_offer_of("compute1", self._last(port_2, "compute1"))
        self.assertEqual("ovs", self._port(port_2)["binding:vif_type"])
        self.assertEqual(2, len(self.plugged))
        self._delete_server(server)
        for port_id in (self.neutron.port_1["id"], port_2):
            self.assertNotIn(offer.KEY, self._last(port_id, None))
            self.assertNotIn(offer.KEY, self._port(port_id)[
                "binding:profile"])

    def test_cold_migrate_binds_destination_with_its_offer(self):
        server = self._boot(host="compute1")
        server = self._migrate_server(server, host="compute2")
        self._assert_offer_of("compute2", self._last(
            self.neutron.port_1["id"], "compute2"))
        self.assertEqual("tap", self._port()["binding:vif_type"])
        self._confirm_resize(server)
        (iface,) = self._interfaces("compute2", server)
        self.assertEqual("ethernet", iface["type"])
        self.assertEqual("pref_tap", self.plugged[-1][0])

    def test_evacuate_binds_destination_with_its_offer(self):
        server = self._boot(host="compute1")
        self.computes["compute1"].stop()
        (service,) = self.api.get_services(host="compute1",
                                           binary="nova-compute")
        self.api.put_service_force_down(service["id"], True)
        self._evacuate_server(server, expected_host="compute2",
                              expected_state="ACTIVE")
        self._assert_offer_of("compute2", self._last(
            self.neutron.port_1["id"], "compute2"))
        self.assertEqual("tap", self._port()["binding:vif_type"])

    def test_unshelve_binds_with_the_new_hosts_offer(self):
        self.flags(shelved_offload_time=0)
        server = self._boot(host="compute1")
        server = self._shelve_server(server)
        server = self._unshelve_server(server)
        host = server["OS-EXT-SRV-ATTR:host"]
        self._assert_offer_of(host, self._last(self.neutron.port_1["id"],
                                               host))
