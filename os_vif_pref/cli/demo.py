"""``os-vif-pref demo``: the whole negotiated path, for real, in a sandbox.

Every step is the code the services run, on a real kernel and a real
(private, userspace) Open vSwitch:

1. the host computes its preference list and offer (probes included);
2. a Neutron ML2 mechanism driver using
   :class:`~os_vif_pref.neutron.NegotiatingMechanismDriverMixin` binds two
   ports from that offer on an ML2-shaped port context;
3. the Nova side checks each binding against the offer and converts it to
   an os-vif object (:func:`~os_vif_pref.nova.to_os_vif`);
4. ``os_vif.plug()`` plugs both through our plugins and the privsep daemon
   (a Linux bridge, or the OVS netdev bridge), each VIF's device standing
   for a guest whose end is in its own network namespace;
5. the two guests ping each other;
6. both are unplugged, the network torn down, and the sandbox compared with
   its state before: nothing may be left behind.

Cases: the host's preferred binding is served; it is not, so the second is
chosen; an old Neutron (no offer support) answers its default; Neutron
answers a type outside the offer, which Nova refuses with
``BindingNotAcceptable`` before anything is plugged.

Needs root (namespaces, ``sudo privsep-helper``) and the Open vSwitch
binaries (openvswitch-switch); it starts and stops everything itself and
leaves nothing behind.  Exit status 0 only if every step held.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator, Mapping, Sequence
import contextlib
import dataclasses
import logging
import shutil
import tempfile
import time
from typing import Any
import uuid

from cliff import command
import os_vif
from os_vif import objects
from oslo_config import cfg

from os_vif_pref import exceptions, neutron, nova, offer, preference
from os_vif_pref.testing import ml2

try:  # the [neutron] extra; the mixin itself does not need it
    from neutron_lib.plugins.ml2 import api as ml2_api
    _DriverBase: Any = ml2_api.MechanismDriver
except ImportError:  # pragma: no cover - neutron-lib is a test dependency
    ml2_api = None
    _DriverBase = object

#: The host's configured preference in the demo: OVS first, then the Linux
#: bridge (everything else usable follows in catalogue order).
PREFERENCE_ORDER = ["ovs", "linux-bridge"]
INT_BRIDGE = "br-int"
NETWORK_MTU = 1400
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
                 vnic_type: str = "normal") -> dict[str, Any]:
    """A Neutron port as the server holds it before binding, bound to the
    host its offer names (Neutron ignores an offer for another host)."""
    b = uuid.uuid4().bytes
    the_offer, _ = offer.read_offer(profile)
    host = getattr(the_offer, "host", None) or "demo-host"
    return {
        "id": str(uuid.uuid4()), "network_id": network_id,
        "mac_address": f"fa:16:3e:{b[0]:02x}:{b[1]:02x}:{b[2]:02x}",
        "status": "DOWN", "admin_state_up": True, "fixed_ips": [],
        "binding:host_id": host, "binding:vnic_type": vnic_type,
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


# --------------------------------------------------------------------------
# The sandbox


def _links() -> dict[str, tuple[Any, ...]]:
    from os_vif_pref.linux import net
    from os_vif_pref.testing import conformance

    net.flush_deleted()
    state = conformance.kernel_links()
    # vswitchd moves the bridge port's MTU in its own time.
    for name in (INT_BRIDGE, "ovs-netdev"):
        if name in state:
            kind, master, _mtu, up = state[name]
            state[name] = (kind, master, None, up)
    return state


class Sandbox:
    """A network namespace with a private OVS, os-vif and our options set
    for the demo, guest namespaces on demand; all undone by :meth:`close`.
    """

    def __init__(self) -> None:
        self._stack = contextlib.ExitStack()
        self.ovs: Any = None
        self.guests: list[str] = []
        self.lock_dir: str | None = None

    def open(self) -> Sandbox:
        from os_vif_pref.testing import conformance
        from os_vif_pref.testing import privsep as privsep_testing

        try:
            privsep_testing.configure()
            os_vif.initialize()
            self.ovs = self._stack.enter_context(
                conformance.private_ovs_environment(bridges=(INT_BRIDGE,)))
            self.lock_dir = tempfile.mkdtemp(prefix="ovp-demo-locks-")
            self._stack.callback(shutil.rmtree, self.lock_dir, True)
            self._override("os_vif_pref", "lock_path", self.lock_dir)
            self._override("os_vif_pref", "preference_order",
                           PREFERENCE_ORDER)
            self._override("os_vif_pref", "integration_bridge", INT_BRIDGE)
        except BaseException:
            self.close()
            raise
        return self

    def _override(self, group: str, key: str, value: Any) -> None:
        cfg.CONF.set_override(key, value, group=group)
        self._stack.callback(cfg.CONF.clear_override, key, group=group)

    def close(self) -> None:
        from pyroute2 import netns

        for name in self.guests:
            with contextlib.suppress(OSError):
                netns.remove(name)
        self.guests.clear()
        self._stack.close()

    def __enter__(self) -> Sandbox:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- state ---------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Kernel links of the sandbox and the OVS rows that plugs touch."""
        state: dict[str, Any] = {"links": _links()}
        for table in ("Bridge", "Port", "Interface"):
            state[table] = sorted(self.ovs.vsctl(
                "--bare", "--columns=name", "list", table).split())
        return state

    def ovs_ports(self) -> list[str]:
        return sorted(self.ovs.vsctl("list-ports", INT_BRIDGE).split())

    # -- the host's side ---------------------------------------------------
    def host_offer(self) -> tuple[preference.PreferenceList, offer.Offer]:
        plist = preference.compute(strict=False)
        return plist, plist.offer()

    # -- guests: what the hypervisor does ----------------------------------
    def attach_guest(self, vif: Any, cidr: str) -> str:
        """Give ``vif`` a device whose other end is a guest namespace with
        address ``cidr`` (libvirt creates the VIF's device, not os-vif)."""
        from pyroute2 import IPRoute, NetNS, netns

        from os_vif_pref.testing import netns as netns_testing

        ns = netns_testing.unique_name("ovpg")
        netns.create(ns)
        self.guests.append(ns)
        peer = "g" + uuid.uuid4().hex[:8]
        with IPRoute() as ipr:
            ipr.link("add", ifname=vif.vif_name, kind="veth",
                     peer={"ifname": peer, "mtu": NETWORK_MTU},
                     mtu=NETWORK_MTU)
            idx = ipr.link_lookup(ifname=vif.vif_name)[0]
            ipr.link("set", index=idx, state="up")
            ipr.link("set", index=ipr.link_lookup(ifname=peer)[0],
                     net_ns_fd=ns)
        addr, prefix = cidr.split("/")
        with NetNS(ns) as guest:
            guest.link("set", index=1, state="up")
            gidx = guest.link_lookup(ifname=peer)[0]
            guest.addr("add", index=gidx, address=addr,
                       prefixlen=int(prefix))
            guest.link("set", index=gidx, state="up",
                       address=vif.address)
        return ns

    def detach_guest(self, vif: Any, ns: str) -> None:
        """The guest is gone: its device goes, and its namespace."""
        from pyroute2 import IPRoute, netns

        with IPRoute() as ipr:
            found = ipr.link_lookup(ifname=vif.vif_name)
            if found:
                ipr.link("del", index=found[0])
        with contextlib.suppress(OSError):
            netns.remove(ns)
        if ns in self.guests:
            self.guests.remove(ns)

    def remove_network(self, bridge: str) -> None:
        """The network is deleted: its (shared) Linux bridge goes."""
        from pyroute2 import IPRoute

        with IPRoute() as ipr:
            found = ipr.link_lookup(ifname=bridge)
            if found:
                ipr.link("del", index=found[0])


# --------------------------------------------------------------------------
# Cases


@dataclasses.dataclass
class Case:
    name: str
    title: str
    driver: Callable[[offer.Offer], Any]
    #: Catalogue entry Nova must end up plugging; None: Nova must refuse.
    expect: str | None
    #: Whether the port carries the host's offer (False: an old Nova).
    send_offer: bool = True


def _outside(the_offer: offer.Offer) -> tuple[str, dict[str, Any]]:
    offered = {i.vif_type for i in the_offer}
    for candidate in ("vrouter", "ivs", "agilio_ovs", "vhostuser", "tap",
                      "macvtap"):
        if candidate not in offered:
            return candidate, {}
    raise RuntimeError("every known vif_type is offered")


CASES = [
    Case("preferred", "the host's preferred binding is served",
         lambda o: NegotiatingDriver(
             served=[neutron.Served("bridge", {"port_filter": True}),
                     neutron.Served("ovs", {"port_filter": True,
                                            "ovs_hybrid_plug": False})],
             default=neutron.Served("bridge", {"port_filter": True})),
         expect="ovs"),
    Case("second", "the preferred binding is not served: the second is "
         "chosen",
         lambda o: NegotiatingDriver(
             served=[neutron.Served("bridge", {"port_filter": True})],
             default=neutron.Served("bridge", {"port_filter": True})),
         expect="linux-bridge"),
    Case("old-neutron", "an old Neutron (no offer support) answers its "
         "default",
         lambda o: LegacyDriver("bridge", {"port_filter": True}),
         expect="linux-bridge"),
    Case("old-nova", "an old Nova (no offer sent): the driver's default",
         lambda o: NegotiatingDriver(
             served=[neutron.Served("ovs", {"port_filter": True,
                                            "ovs_hybrid_plug": False})],
             default=neutron.Served("ovs", {"port_filter": True,
                                            "ovs_hybrid_plug": False})),
         expect="ovs", send_offer=False),
    Case("outside", "Neutron answers a type outside the offer: refused, "
         "nothing plugged",
         lambda o: LegacyDriver(*_outside(o)), expect=None),
]


class StepFailed(Exception):
    pass


@dataclasses.dataclass
class Report:
    lines: list[str] = dataclasses.field(default_factory=list)
    failures: int = 0
    out: Callable[[str], None] = print

    def ok(self, text: str) -> None:
        self.lines.append("  ok    " + text)
        self.out("  ok    " + text)

    def fail(self, text: str) -> None:
        self.failures += 1
        self.lines.append("  FAIL  " + text)
        self.out("  FAIL  " + text)

    def check(self, held: bool, text: str) -> None:
        (self.ok if held else self.fail)(text)
        if not held:
            raise StepFailed(text)


def _instance() -> objects.instance_info.InstanceInfo:
    return objects.instance_info.InstanceInfo(
        uuid=str(uuid.uuid4()), name="demo-" + uuid.uuid4().hex[:6],
        project_id="demo")


def run_case(box: Sandbox, case: Case, report: Report, n: int) -> None:
    """One case, end to end; every step reported, the first failure stops
    the case (cleanup still runs)."""
    from os_vif_pref.testing import netns as netns_testing

    report.out(f"[{case.name}] {case.title}")
    before = box.snapshot()
    _plist, the_offer = box.host_offer()
    report.check(len(the_offer) > 0,
                 f"host offer: {', '.join(the_offer.names())}")
    network = {"id": str(uuid.uuid4()), "name": f"demo-{case.name}",
               "mtu": NETWORK_MTU}
    profile = ({offer.KEY: offer.encode(the_offer)} if case.send_offer
               else {})
    driver = case.driver(the_offer)
    ports = [bind(driver, neutron_port(network["id"], profile))
             for _ in range(2)]
    p0 = ports[0]
    report.ok(f"Neutron bound both ports: vif_type="
              f"{p0['binding:vif_type']} vif_details="
              f"{p0['binding:vif_details']}")
    nova_offer = the_offer if case.send_offer else None
    if case.expect is None:
        for port in ports:
            try:
                nova.check_binding(port, nova_offer)
            except nova.BindingNotAcceptable as exc:
                report.ok(f"Nova refused it: {str(exc)[:160]}...")
            else:
                report.check(False, "Nova accepted a binding outside the "
                                    "offer")
        report.check(box.snapshot() == before, "nothing was plugged")
        return
    vifs = []
    items = [nova.check_binding(port, nova_offer) for port in ports]
    if nova_offer is not None:
        report.check(all(i is not None and i.name == case.expect
                         for i in items),
                     f"Nova: both bindings are the offered {case.expect!r}")
    else:
        report.ok("Nova: no offer was sent, nothing to check (as today)")
    for port in ports:
        vifs.append(nova.to_os_vif(port, offer=nova_offer, network=network))
    report.ok(f"converted: {vifs[0].obj_name()} (plugin {vifs[0].plugin}, "
              f"version {vifs[0].VERSION})")
    guests: list[str] = []
    plugged: list[Any] = []
    bridges = set()
    inst = _instance()
    try:
        for i, vif in enumerate(vifs):
            guests.append(box.attach_guest(vif, f"10.251.{n}.{i + 1}/24"))
            os_vif.plug(vif, inst)
            plugged.append(vif)
        links = _links()
        for vif in vifs:
            if isinstance(vif, objects.vif.VIFOpenVSwitch):
                report.check(vif.vif_name in box.ovs_ports(),
                             f"{vif.vif_name} is a port of {INT_BRIDGE}")
            else:
                bridges.add(vif.bridge_name)
                report.check(links[vif.vif_name][1] == vif.bridge_name,
                             f"{vif.vif_name} is a port of Linux bridge "
                             f"{vif.bridge_name}")
        got = netns_testing.ping(guests[0], f"10.251.{n}.2", count=3)
        report.check(got == 3, f"guest 1 -> guest 2: {got}/3 echo replies")
        got = netns_testing.ping(guests[1], f"10.251.{n}.1", count=3)
        report.check(got == 3, f"guest 2 -> guest 1: {got}/3 echo replies")
    finally:
        for vif in plugged:
            os_vif.unplug(vif, inst)
        for vif, ns in zip(vifs, guests, strict=False):
            box.detach_guest(vif, ns)
        for bridge in bridges:
            box.remove_network(bridge)
    after = box.snapshot()
    report.check(after == before, "unplugged; nothing left behind")


def run(cases: Sequence[Case], out: Callable[[str], None] = print
        ) -> Report:
    report = Report(out=out)
    start = time.monotonic()
    with Sandbox() as box:
        out(f"sandbox: private OVS at {box.ovs.connection}")
        for n, case in enumerate(cases, start=1):
            try:
                run_case(box, case, report, n)
            except StepFailed:
                pass
            except (exceptions.OsVifPrefException, os_vif.exception
                    .ExceptionBase, OSError) as exc:
                report.fail(f"{case.name}: {type(exc).__name__}: {exc}")
    out(f"{'all steps held' if not report.failures else 'FAILED'} "
        f"({report.failures} failure(s), "
        f"{time.monotonic() - start:.1f} s)")
    return report


class Demo(command.Command):
    """Run the whole negotiated path for real in a sandbox (root)."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument(
            "--case", action="append", choices=[c.name for c in CASES],
            help="Run only this case (repeatable); default: all.")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> int:
        from os_vif_pref.testing import private_ovs

        cases = [c for c in CASES
                 if not parsed_args.case or c.name in parsed_args.case]
        reason = private_ovs.available()
        if reason:
            self.app.stderr.write(f"error: cannot run the demo: {reason}\n")
            return 2

        if self.app.options.verbose_level <= 1:
            # Per-VIF INFO lines from os-vif and privsep drown the steps.
            for name in ("os_vif", "oslo.privsep", "oslo_privsep",
                         "os_vif_pref"):
                logging.getLogger(name).setLevel(logging.WARNING)

        def out(line: str) -> None:
            self.app.stdout.write(line + "\n")
            self.app.stdout.flush()

        try:
            report = run(cases, out)
        except (exceptions.OsVifPrefException, OSError,
                private_ovs.PrivateOVSError) as exc:
            self.app.stderr.write(f"error: {exc}\n")
            return 2
        return 1 if report.failures else 0


def iter_case_names() -> Iterator[str]:
    return (c.name for c in CASES)
