"""``os-vif-pref demo``: the whole negotiated path, for real, in a sandbox.

Every step is the code the services run, on a real kernel and a real
(private, userspace) Open vSwitch:

1. the host computes its preference list and offer (probes included),
   and Nova's side puts it in the port's ``binding:profile`` the way the
   Nova integration does (:func:`~os_vif_pref.nova.integration.add_offer`);
2. real Neutron binds two ports: its ``Ml2Plugin``, in this process on an
   in-memory sqlite database (:mod:`.demo_neutron`), with our
   ``pref_openvswitch`` mechanism driver (or the stock ``openvswitch`` one
   for "an old Neutron") and an Open vSwitch agent registered for this host;
3. the Nova side checks each binding against the offer stored on the port
   and converts it to an os-vif object, through the Nova integration's own
   check-and-convert (:func:`~os_vif_pref.nova.integration.checked_vif`);
4. ``os_vif.plug()`` plugs both through our plugins and the privsep daemon
   (a Linux bridge, or the OVS netdev bridge), each VIF's device standing
   for a guest whose end is in its own network namespace;
5. the two guests ping each other;
6. both are unplugged, the network torn down, and the sandbox compared with
   its state before: nothing may be left behind.

Cases: the host's preferred binding is served; it is not, so the second is
chosen; an old Neutron (no offer support) answers its default; an old Nova
sends no offer; Neutron answers a type outside the offer, which Nova refuses
(``OfferRefused``, a ``PortBindingFailed``) before anything is plugged.

Without Neutron installed, step 2 runs on an ML2-shaped port context with
drivers using :class:`~os_vif_pref.neutron.NegotiatingMechanismDriverMixin`
and step 3 calls :func:`~os_vif_pref.nova.check_binding` and
:func:`~os_vif_pref.nova.to_os_vif` directly; the output says which path
ran.

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
import types
from typing import Any
import uuid

from cliff import command
import os_vif
from os_vif import objects
from oslo_config import cfg

from os_vif_pref import exceptions, neutron, nova, offer, preference
from os_vif_pref.sandbox import ml2_context as ml2

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
LOG = logging.getLogger(__name__)
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


# --------------------------------------------------------------------------
# The sandbox


def _links() -> dict[str, tuple[Any, ...]]:
    from os_vif_pref.linux import net
    from os_vif_pref.sandbox import links

    net.flush_deleted()
    state = links.kernel_links()
    # vswitchd moves the bridge port's MTU in its own time.
    for name in (INT_BRIDGE, "ovs-netdev"):
        if name in state:
            kind, master, _mtu, up = state[name]
            state[name] = (kind, master, None, up)
    return state


class Sandbox:
    """A network namespace with a private OVS, os-vif and our options set
    for the demo, guest namespaces on demand; all undone by :meth:`close`.

    ``real_neutron``: also start real Neutron's ML2 plugin (a child
    process, :mod:`.demo_neutron`) and switch the Nova integration on for
    this host, when both are installed (``neutron_problem`` says why not).
    """

    def __init__(self, real_neutron: bool = False) -> None:
        self._stack = contextlib.ExitStack()
        self.ovs: Any = None
        self.guests: list[str] = []
        self.lock_dir: str | None = None
        self.want_neutron = real_neutron
        #: Real Neutron in this process (None: the ML2-shaped fallback,
        #: ``neutron_problem`` says why).
        self.neutron: Any = None
        self.neutron_problem: str | None = "not asked for"
        self.host = preference.default_host()
        self._overridden: set[str] = set()
        self._case_end: list[Callable[[], Any]] = []
        self._warm: tuple[Any, Any] | None = None

    def open(self) -> Sandbox:
        from os_vif_pref.sandbox import environment, privsep_conf

        try:
            if self.want_neutron:
                self.neutron_problem = real_path_problem()
            if self.neutron_problem is None:
                # Started first: it imports Neutron while the rest starts.
                from os_vif_pref.cli import demo_neutron

                self.neutron = self._stack.enter_context(
                    demo_neutron.NeutronProcess(bridge=INT_BRIDGE,
                                                mtu=NETWORK_MTU))
            privsep_conf.configure()
            os_vif.initialize()
            self.ovs = self._stack.enter_context(
                environment.private_ovs_environment(bridges=(INT_BRIDGE,)))
            self.lock_dir = tempfile.mkdtemp(prefix="ovp-demo-locks-")
            self._stack.callback(shutil.rmtree, self.lock_dir, True)
            self._override("os_vif_pref", "lock_path", self.lock_dir)
            self._override("os_vif_pref", "preference_order",
                           PREFERENCE_ORDER)
            self._override("os_vif_pref", "integration_bridge", INT_BRIDGE)
            if self.neutron is not None:
                self._start_nova_integration()
        except BaseException:
            self.close()
            raise
        return self

    def _start_nova_integration(self) -> None:
        from os_vif_pref.nova import integration

        # What nova-compute does at start with the option on (the runtime
        # hooks into Nova's own functions are not needed: the demo calls
        # the hook functions where Nova would).
        if not integration.switch_on(hosts=[self.host], install=False,
                                     refresh_interval=0):
            raise StepFailed("the Nova integration did not switch on")
        self._stack.callback(integration.switch_off)

    def warm(self, integration: Any, options: Any) -> Any:
        """The integration's preference list for these case options
        (computed again only when they change, as the refresher would)."""
        if self._warm is None or self._warm[0] != options:
            self._warm = (options, integration.warm(self.host))
        return self._warm[1]

    def on_case_end(self, fn: Callable[[], Any]) -> None:
        """Undo something at the end of the current case."""
        self._case_end.append(fn)

    def end_case(self) -> None:
        while self._case_end:
            fn = self._case_end.pop()
            try:
                fn()
            except Exception as exc:  # reported, never hides the result
                LOG.warning("demo: cleanup step failed: %s", exc)

    @contextlib.contextmanager
    def options(self, **values: Any) -> Iterator[None]:
        """``[os_vif_pref]`` options for one case, then back."""
        group = cfg.CONF.os_vif_pref
        saved = {k: group[k] for k in values}
        try:
            for key, value in values.items():
                cfg.CONF.set_override(key, value, group="os_vif_pref")
            yield
        finally:
            for key, value in saved.items():
                if key in self._overridden:     # the sandbox's own value
                    cfg.CONF.set_override(key, value, group="os_vif_pref")
                else:
                    cfg.CONF.clear_override(key, group="os_vif_pref")

    def _override(self, group: str, key: str, value: Any) -> None:
        cfg.CONF.set_override(key, value, group=group)
        self._overridden.add(key)
        self._stack.callback(cfg.CONF.clear_override, key, group=group)

    def close(self) -> None:
        from pyroute2 import netns

        self.end_case()
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

        from os_vif_pref.sandbox import netns as sandbox_netns

        ns = sandbox_netns.unique_name("ovpg")
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


@dataclasses.dataclass(frozen=True)
class RealNeutron:
    """How a case runs on real Neutron."""

    #: ``[ml2] mechanism_drivers``: ours, or the stock one (an old Neutron).
    driver: str
    #: What the host's Open vSwitch agent reports (demo_neutron.AGENTS).
    agent: str
    #: Catalogue entry Nova must end up plugging; None: Nova must refuse.
    expect: str | None
    title: str
    #: ``[os_vif_pref]`` options of the host for this case.
    options: tuple[tuple[str, Any], ...] = ()


@dataclasses.dataclass
class Case:
    name: str
    title: str
    driver: Callable[[offer.Offer], Any]
    #: Catalogue entry Nova must end up plugging; None: Nova must refuse.
    expect: str | None
    #: The case on real Neutron.
    real: RealNeutron
    #: Whether the port carries the host's offer (False: an old Nova).
    send_offer: bool = True

    def expected(self, real: bool) -> str | None:
        return self.real.expect if real else self.expect


def _outside(the_offer: offer.Offer) -> tuple[str, dict[str, Any]]:
    offered = {i.vif_type for i in the_offer}
    for candidate in ("vrouter", "ivs", "agilio_ovs", "vhostuser", "tap",
                      "macvtap"):
        if candidate not in offered:
            return candidate, {}
    raise RuntimeError("every known vif_type is offered")


#: Ordered so that real Neutron switches mechanism driver once (ours for
#: the first three, the stock one for the last two).
CASES = [
    Case("preferred", "the host's preferred binding is served",
         lambda o: NegotiatingDriver(
             served=[neutron.Served("bridge", {"port_filter": True}),
                     neutron.Served("ovs", {"port_filter": True,
                                            "ovs_hybrid_plug": False})],
             default=neutron.Served("bridge", {"port_filter": True})),
         expect="ovs",
         real=RealNeutron(
             "pref_openvswitch", "dpdk", "ovs",
             "a DPDK agent, where stock Neutron binds vhost-user (which "
             "this host does not offer): the host's preferred ovs is "
             "served")),
    Case("second", "the preferred binding is not served: the second is "
         "chosen",
         lambda o: NegotiatingDriver(
             served=[neutron.Served("bridge", {"port_filter": True})],
             default=neutron.Served("bridge", {"port_filter": True})),
         expect="linux-bridge",
         real=RealNeutron(
             "pref_openvswitch", "netdev", "ovs",
             "the host prefers ovs-hybrid, the agent does no hybrid "
             "plugging: the second, ovs, is chosen",
             options=(("preference_order", ["ovs-hybrid", "ovs"]),))),
    Case("old-nova", "an old Nova (no offer sent): the driver's default",
         lambda o: NegotiatingDriver(
             served=[neutron.Served("ovs", {"port_filter": True,
                                            "ovs_hybrid_plug": False})],
             default=neutron.Served("ovs", {"port_filter": True,
                                            "ovs_hybrid_plug": False})),
         expect="ovs", send_offer=False,
         real=RealNeutron(
             "pref_openvswitch", "netdev", "ovs",
             "no offer: pref_openvswitch binds exactly as the stock "
             "driver")),
    Case("old-neutron", "an old Neutron (no offer support) answers its "
         "default",
         lambda o: LegacyDriver("bridge", {"port_filter": True}),
         expect="linux-bridge",
         real=RealNeutron(
             "openvswitch", "netdev", "ovs",
             "Neutron's stock openvswitch driver ignores the offer and "
             "binds ovs, which is offered")),
    Case("outside", "Neutron answers a type outside the offer: refused, "
         "nothing plugged",
         lambda o: LegacyDriver(*_outside(o)), expect=None,
         real=RealNeutron(
             "openvswitch", "dpdk", None,
             "Neutron's stock driver binds vhost-user on a DPDK agent; this "
             "host does not offer it ([os_vif_pref] disabled): refused",
             options=(("disabled", ["ovs-vhostuser"]),))),
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


def real_path_problem() -> str | None:
    """None if the demo can bind through real Neutron and convert through
    the Nova integration here, else why not (then: the fallback)."""
    from os_vif_pref.cli import demo_neutron

    problem = demo_neutron.available()
    if problem is None:
        try:
            import nova.exception  # noqa: F401 (the integration's faults)
        except ImportError as exc:
            problem = f"nova is not installed ({exc})"
    return problem


class _NovaInstance:
    """The parts of Nova's Instance the integration reads."""

    def __init__(self) -> None:
        self.uuid = str(uuid.uuid4())
        self.host = None
        self.flavor = types.SimpleNamespace(extra_specs={})
        self.image_meta: dict[str, Any] = {}


def _real_steps(box: Sandbox, case: Case, report: Report
                ) -> tuple[list[Any], dict[str, Any]] | None:
    """Steps 1-3 through real Neutron and the Nova integration: the os-vif
    objects to plug and the network, or None when Nova refused."""
    from os_vif_pref.nova import faults, integration

    real, host, neutron_ = case.real, box.host, box.neutron
    report.out(f"  ({real.title})")
    with box.options(**dict(real.options)):
        plist = box.warm(integration, real.options)
        report.check(plist is not None and len(plist.usable) > 0,
                     "host offer: " + ", ".join(
                         e.name for e in (plist.usable if plist else ())))
        inst = _NovaInstance()
        profile: dict[str, Any] = {}
        if case.send_offer:
            profile = integration.add_offer({}, inst, "normal", host)
            report.check(offer.KEY in profile,
                         f"Nova sends it in binding:profile "
                         f"({offer.stored_size(profile)} characters as "
                         f"Neutron stores it)")
        else:
            report.ok("Nova sends no offer (an old Nova)")
    neutron_.use_driver(real.driver)
    neutron_.agent(host, real.agent)
    net = neutron_.network(f"demo-{case.name}")
    ports: list[dict[str, Any]] = []
    box.on_case_end(lambda: neutron_.delete_network(net["id"]))
    box.on_case_end(lambda: neutron_.delete_ports(ports))
    ports += [neutron_.bind(net["id"], host, profile) for _ in range(2)]
    p0 = ports[0]
    report.ok(f"Neutron (ML2 driver {real.driver}, {real.agent} agent) "
              f"bound both ports: vif_type={p0['binding:vif_type']} "
              f"vif_details={_short(p0['binding:vif_details'])}")
    network = {"id": net["id"], "name": net["name"], "mtu": net["mtu"]}
    nova_vifs = [nova.vif_from_neutron_port(p, network=network)
                 for p in ports]
    if real.expect is None:
        _expect_refusals(report, lambda v: integration.checked_vif(v, inst),
                         nova_vifs, faults.OfferRefused)
        return None
    stored = offer.decode(p0["binding:profile"])
    if stored is not None:
        items = [nova.check_binding(p, stored) for p in ports]
        report.check(all(i is not None and i.name == real.expect
                         for i in items),
                     f"Nova: both bindings are the offered {real.expect!r}"
                     f" (rank {stored.names().index(real.expect) + 1} of "
                     f"the offer stored on the port)")
    objs = [integration.checked_vif(vif, inst) for vif in nova_vifs]
    if stored is not None:
        report.check(all(o is not None for o in objs),
                     "the integration converted both bindings")
        return objs, network
    report.check(objs == [None, None],
                 "Nova: no offer stored on the port: the integration leaves "
                 "both to stock Nova (as today)")
    # Stock Nova converts these; the catalogue's converter without an offer
    # does the same, naming the plugin that can reach the sandbox's OVS.
    return [nova.to_os_vif(p, offer=None, network=network)
            for p in ports], network


def _fallback_steps(box: Sandbox, case: Case, report: Report
                    ) -> tuple[list[Any], dict[str, Any]] | None:
    """Steps 1-3 without Neutron installed: an ML2-shaped port context and
    the Nova side's check and conversion called directly."""
    _plist, the_offer = box.host_offer()
    report.check(len(the_offer) > 0,
                 f"host offer: {', '.join(the_offer.names())}")
    network = {"id": str(uuid.uuid4()), "name": f"demo-{case.name}",
               "mtu": NETWORK_MTU}
    profile = ({offer.KEY: offer.encode(the_offer)} if case.send_offer
               else {})
    driver = case.driver(the_offer)
    ports = [bind(driver, neutron_port(network["id"], profile,
                                       host=box.host))
             for _ in range(2)]
    p0 = ports[0]
    report.ok(f"Neutron bound both ports: vif_type="
              f"{p0['binding:vif_type']} vif_details="
              f"{p0['binding:vif_details']}")
    nova_offer = the_offer if case.send_offer else None
    if case.expect is None:
        _expect_refusals(report, lambda p: nova.check_binding(p, nova_offer),
                         ports, nova.BindingNotAcceptable)
        return None
    items = [nova.check_binding(port, nova_offer) for port in ports]
    if nova_offer is not None:
        report.check(all(i is not None and i.name == case.expect
                         for i in items),
                     f"Nova: both bindings are the offered {case.expect!r}")
    else:
        report.ok("Nova: no offer was sent, nothing to check (as today)")
    return [nova.to_os_vif(port, offer=nova_offer, network=network)
            for port in ports], network


def _expect_refusals(report: Report, check: Callable[[Any], Any],
                     bindings: Sequence[Any],
                     refusal: type[Exception]) -> None:
    """Nova must refuse every one of ``bindings`` with ``refusal``."""
    for binding in bindings:
        try:
            check(binding)
        except refusal as exc:
            report.ok(f"Nova refused it: {str(exc)[:160]}...")
        else:
            report.check(False, "Nova accepted a binding outside the offer")


def _short(details: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in details.items() if k != "bound_drivers"}


def run_case(box: Sandbox, case: Case, report: Report, n: int) -> None:
    """One case, end to end; every step reported, the first failure stops
    the case (cleanup still runs)."""
    from os_vif_pref.sandbox import netns as sandbox_netns

    report.out(f"[{case.name}] {case.title}")
    before = box.snapshot()
    try:
        steps = _real_steps if box.neutron is not None else _fallback_steps
        got = steps(box, case, report)
        if got is None:
            report.check(box.snapshot() == before, "nothing was plugged")
            return
        vifs, _network = got
        report.ok(f"converted: {vifs[0].obj_name()} (plugin "
                  f"{vifs[0].plugin}, version {vifs[0].VERSION})")
        guests: list[str] = []
        plugged: list[Any] = []
        bridges = set()
        inst = _instance()
        try:
            for i, vif in enumerate(vifs):
                guests.append(box.attach_guest(vif,
                                               f"10.251.{n}.{i + 1}/24"))
                os_vif.plug(vif, inst)
                plugged.append(vif)
            links = _links()
            for vif in vifs:
                if isinstance(vif, objects.vif.VIFOpenVSwitch):
                    report.check(vif.vif_name in box.ovs_ports(),
                                 f"{vif.vif_name} is a port of "
                                 f"{INT_BRIDGE}")
                else:
                    bridges.add(vif.bridge_name)
                    report.check(links[vif.vif_name][1] == vif.bridge_name,
                                 f"{vif.vif_name} is a port of Linux bridge "
                                 f"{vif.bridge_name}")
            got_n = sandbox_netns.ping(guests[0], f"10.251.{n}.2", count=3)
            report.check(got_n == 3,
                         f"guest 1 -> guest 2: {got_n}/3 echo replies")
            got_n = sandbox_netns.ping(guests[1], f"10.251.{n}.1", count=3)
            report.check(got_n == 3,
                         f"guest 2 -> guest 1: {got_n}/3 echo replies")
        finally:
            for vif in plugged:
                os_vif.unplug(vif, inst)
            for vif, ns in zip(vifs, guests, strict=False):
                box.detach_guest(vif, ns)
            for bridge in bridges:
                box.remove_network(bridge)
        after = box.snapshot()
        report.check(after == before, "unplugged; nothing left behind")
    finally:
        box.end_case()


def describe_path(box: Sandbox) -> list[str]:
    """Which path the demo runs, for its output."""
    if box.neutron is not None:
        return [f"neutron: real ML2 plugin (neutron "
                f"{box.neutron.wait_ready()}, in a child process, sqlite), "
                "drivers pref_openvswitch / openvswitch, an Open vSwitch "
                f"agent for host {box.host}",
                "nova: the Nova integration's add_offer and checked_vif"]
    return [f"neutron: ML2-shaped port context (fallback: "
            f"{box.neutron_problem})",
            "nova: check_binding and to_os_vif called directly"]


def run(cases: Sequence[Case], out: Callable[[str], None] = print, *,
        real_neutron: bool = True) -> Report:
    report = Report(out=out)
    start = time.monotonic()
    with Sandbox(real_neutron=real_neutron) as box:
        out(f"sandbox: private OVS at {box.ovs.connection}")
        for line in describe_path(box):
            out(line)
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
        parser.add_argument(
            "--ml2-context", action="store_true",
            help="Bind on an ML2-shaped port context even when Neutron is "
                 "installed (the path taken without it).")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> int:
        from os_vif_pref.sandbox import ovs as private_ovs

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
            report = run(cases, out,
                         real_neutron=not parsed_args.ml2_context)
        except (exceptions.OsVifPrefException, OSError,
                private_ovs.PrivateOVSError) as exc:
            self.app.stderr.write(f"error: {exc}\n")
            return 2
        return 1 if report.failures else 0


def iter_case_names() -> Iterator[str]:
    return (c.name for c in CASES)
