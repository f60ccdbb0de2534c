"""What the steps run in: a namespace with a private OVS, our options, guests.

:class:`Sandbox` starts and undoes everything (real Neutron's child process
and the Nova integration too, when both are installed:
:func:`real_path_problem` says why not), so that a case only binds, checks,
plugs and pings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
import contextlib
import logging
import shutil
import tempfile
from typing import Any
import uuid

import os_vif
from oslo_config import cfg

from os_vif_pref import offer, preference
from os_vif_pref.cli.demo.report import StepFailed

#: The host's configured preference in the demo: OVS first, then the Linux
#: bridge (everything else usable follows in catalogue order).
PREFERENCE_ORDER = ["ovs", "linux-bridge"]
INT_BRIDGE = "br-int"
LOG = logging.getLogger(__name__)
NETWORK_MTU = 1400


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
    process, :mod:`.real_neutron`) and switch the Nova integration on for
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
                from os_vif_pref.cli.demo import real_neutron

                self.neutron = self._stack.enter_context(
                    real_neutron.NeutronProcess(bridge=INT_BRIDGE,
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


def real_path_problem() -> str | None:
    """None if the demo can bind through real Neutron and convert through
    the Nova integration here, else why not (then: the fallback)."""
    from os_vif_pref.cli.demo import real_neutron

    problem = real_neutron.available()
    if problem is None:
        try:
            import nova.exception  # noqa: F401 (the integration's faults)
        except ImportError as exc:
            problem = f"nova is not installed ({exc})"
    return problem
