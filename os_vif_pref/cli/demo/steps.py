"""The steps of one case, in order: offer, bind, check and convert, plug,
ping, unplug and compare (see the package docstring).

:func:`run_case` runs them through real Neutron and the Nova integration
(``_real_steps``) or the fallback (``_fallback_steps``); :func:`run` runs
the cases in one sandbox.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
import time
import types
from typing import Any
import uuid

import os_vif
from os_vif import objects

from os_vif_pref import exceptions, nova, offer
from os_vif_pref.cli.demo.cases import Case
from os_vif_pref.cli.demo.ml2_fallback import bind, neutron_port
from os_vif_pref.cli.demo.report import Report, StepFailed
from os_vif_pref.cli.demo.sandbox import (
    INT_BRIDGE,
    NETWORK_MTU,
    Sandbox,
    _links,
)


def _instance() -> objects.instance_info.InstanceInfo:
    return objects.instance_info.InstanceInfo(
        uuid=str(uuid.uuid4()), name="demo-" + uuid.uuid4().hex[:6],
        project_id="demo")

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
