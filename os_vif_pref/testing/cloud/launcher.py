"""Bring a whole cloud up, reconfigure it, and take it down again.

:func:`up` starts every service in dependency order (independent steps in
parallel threads), printing which service it waits for; on any failure it
names the service and quotes its log, stops what it started and re-raises.
:func:`down` stops every process recorded in the directory (also those of a
test that crashed), removes the kernel links OVS left, DPDK's runtime
files, the socket directory and the hugepages it reserved.
:func:`reconfigure` is how the tests switch between stock and ours: it
rewrites the configuration files and restarts only the services that read
what changed.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
import contextlib
import dataclasses
import datetime
import os
from pathlib import Path
import sys
import time
from typing import Any

from os_vif_pref.testing.cloud import (
    compute,
    control,
    infra,
    ovn,
    resources,
)
from os_vif_pref.testing.cloud import hosts as hosts_mod
from os_vif_pref.testing.cloud.layout import Layout, Settings
from os_vif_pref.testing.cloud.procs import CloudError, Procs

#: Services that ignore SIGTERM (os-ken's controller thread of the OVS
#: agent stays in accept()): killed after this many seconds.
_QUICK_KILL = {"ovs_agent": 3.0, "nova_compute": 15.0}


class Progress:
    """Prints what the launcher does and how long each step took."""

    def __init__(self, out: Any = None) -> None:
        self.out = out if out is not None else sys.stderr
        self.start = time.monotonic()
        self.steps: dict[str, float] = {}

    def say(self, text: str) -> None:
        elapsed = time.monotonic() - self.start
        print(f"[{elapsed:6.1f}s] {text}", file=self.out, flush=True)

    @contextlib.contextmanager
    def step(self, name: str) -> Any:
        self.say(f"{name} ...")
        t0 = time.monotonic()
        yield
        self.steps[name] = time.monotonic() - t0
        self.say(f"{name}: done in {self.steps[name]:.1f} s")


def _parallel(*jobs: Callable[[], Any]) -> list[Any]:
    with ThreadPoolExecutor(len(jobs)) as pool:
        futures = [pool.submit(job) for job in jobs]
        errors = []
        results = []
        for future in futures:
            try:
                results.append(future.result())
            except Exception as exc:  # noqa: BLE001 - all are reported
                errors.append(exc)
        if errors:
            if len(errors) == 1:
                raise errors[0]
            raise CloudError("\n".join(str(e) for e in errors))
        return results


@dataclasses.dataclass
class Cloud:
    """A running cloud: its layout, its processes and what it registered."""

    lay: Layout
    procs: Procs
    info: dict[str, Any]
    timings: dict[str, float]

    @property
    def root(self) -> Path:
        return self.lay.root

    @classmethod
    def attach(cls, root: Path) -> Cloud:
        lay = Layout.load(root)
        info = resources.load_info(lay)
        return cls(lay, Procs(lay.root), info, {})

    def admin(self, project: str = "admin") -> Any:
        return control.admin_connection(self.lay, project)

    def member(self) -> Any:
        return control.member_connection(self.lay)

    def reconfigure(self, progress: Progress | None = None,
                    **changes: Any) -> None:
        """Apply ``changes`` to the settings; restart who reads them."""
        reconfigure(self.lay, self.procs, progress=progress, **changes)

    def down(self) -> None:
        down(self.lay.root)


def up(root: Path, progress: Progress | None = None,
       settings: Settings | None = None, hosts: int = 1) -> Cloud:
    """Start a cloud in ``root`` (an empty or new directory).

    ``hosts=2`` adds compute2 (plain OVS, its own namespace: hosts.py).
    """
    progress = progress or Progress()
    lay = Layout.create(root, hosts=hosts)
    if settings is not None:
        lay.settings = settings
        lay.save()
    procs = Procs(lay.root)
    progress.say(f"cloud in {lay.root} (sockets in {lay.sock_dir})")
    try:
        if hosts_mod.enabled(lay):
            with progress.step("compute2's namespace, its wires, sshd"):
                hosts_mod.start_infra(lay, procs)
        with progress.step("MariaDB, RabbitMQ, OVS-DPDK, libvirtd, "
                           "guest image"):
            compute.reserve_hugepages(lay)
            jobs: list[Callable[[], Any]] = [
                lambda: infra.start_mariadb(lay, procs),
                lambda: infra.start_rabbitmq(lay, procs),
                lambda: compute.start_ovs_dpdk(lay, procs),
                lambda: compute.start_libvirt(
                    lay, procs, extra_conf=hosts_mod.libvirt_extra(lay, 1)),
                *_host2_jobs(lay, procs),
            ]
            if lay.settings.backend == "ovn":
                jobs.append(lambda: ovn.start_central(lay, procs))
            image = _parallel(*jobs, resources.build_image)[-1]
        if hosts_mod.enabled(lay):
            hosts_mod.connect_physnet(lay)
        control.write_configs(lay)
        with progress.step("Keystone (bootstrap) and the schemas"):
            def keystone() -> None:
                control.bootstrap_keystone(lay)
                control.start_wsgi(lay, procs, "keystone")
                control.wait_http(lay, procs, "keystone", "/v3")
                control.register_services(lay)
            _parallel(keystone, lambda: control.sync_databases(lay))
        with progress.step("Placement, Glance, Nova and Neutron servers"):
            control.start_wsgi(lay, procs, "placement")
            control.start_wsgi(lay, procs, "glance")
            control.start_nova_services(lay, procs)
            control.start_neutron_server(lay, procs)
            for name in ("placement", "glance", "nova_api", "neutron_api"):
                progress.say(f"  waiting for {name}")
                control.wait_http(lay, procs, name, timeout=180)
        with progress.step("the compute host: OVS agent and nova-compute"):
            if lay.settings.backend == "ovn":
                ovn.start_controller(lay, procs)
            else:
                compute.start_ovs_agent(lay, procs)
            compute.start_nova_compute(lay, procs)
            if hosts_mod.enabled(lay):
                hosts_mod.start_ovs_agent(lay, procs)
                hosts_mod.start_nova_compute(lay, procs)
            resources.wait_compute_ready(lay, procs, progress.say)
            if hosts_mod.enabled(lay):
                hosts_mod.wait_ready(lay, procs, progress.say)
        with progress.step("guest image, network and flavors"):
            info = resources.register(lay, image)
            if lay.settings.backend == "ovn":
                ovn.adapt_network(lay, info)
        resources.write_openrc(lay)
    except BaseException as exc:
        progress.say(f"FAILED: {exc}")
        progress.say("stopping what was started")
        with contextlib.suppress(Exception):
            down(lay.root, quiet=True)
        raise
    progress.say(f"cloud is up in {time.monotonic() - progress.start:.1f} s;"
                 f" openrc: {lay.root / 'openrc'}")
    return Cloud(lay, procs, info, dict(progress.steps))


def _host2_jobs(lay: Layout, procs: Procs) -> list[Callable[[], Any]]:
    if not hosts_mod.enabled(lay):
        return []
    return [lambda: hosts_mod.start_ovs(lay, procs),
            lambda: hosts_mod.start_libvirt(lay, procs)]


def reconfigure(lay: Layout, procs: Procs, progress: Progress | None = None,
                **changes: Any) -> None:
    """Change settings and restart only the services that read them."""
    progress = progress or Progress()
    old = dataclasses.replace(lay.settings)
    lay.settings = dataclasses.replace(lay.settings, **changes)
    lay.save()
    if lay.settings.neutron_driver != old.neutron_driver:
        progress.say(f"neutron-server: mechanism_drivers = "
                     f"{lay.settings.neutron_driver}")
        control.write_neutron_configs(lay)
        restart_neutron_server(lay, procs)
    nova_changed = (
        lay.settings.nova_integration != old.nova_integration
        or lay.settings.preference_order != old.preference_order
        or lay.settings.disabled != old.disabled
        or lay.settings.host_options != old.host_options)
    if nova_changed:
        progress.say(f"nova-compute: nova_integration = "
                     f"{lay.settings.nova_integration}, preference_order = "
                     f"{lay.settings.preference_order!r}, disabled = "
                     f"{lay.settings.disabled!r}")
        jobs = [lambda: restart_nova_compute(lay, procs)]
        if hosts_mod.enabled(lay):
            jobs.append(lambda: hosts_mod.restart_nova_compute(lay, procs))
        _parallel(*jobs)


def restart_neutron_server(lay: Layout, procs: Procs) -> None:
    procs.stop("neutron_api")
    procs.stop("neutron_rpc")
    control.start_neutron_server(lay, procs)
    control.wait_http(lay, procs, "neutron_api", timeout=180)
    resources.wait_agent_alive(lay, procs)


def restart_nova_compute(lay: Layout, procs: Procs) -> None:
    procs.stop("nova_compute", term_wait=_QUICK_KILL["nova_compute"])
    # Only now: the old process may report once more while it stops.
    since = datetime.datetime.now(datetime.timezone.utc)
    compute.start_nova_compute(lay, procs)
    resources.wait_compute_restarted(lay, procs, since)


def down(root: Path, quiet: bool = False) -> list[str]:
    """Stop everything of the cloud in ``root``; return what was stopped."""
    try:
        lay = Layout.load(root)
    except FileNotFoundError:
        if not quiet:
            print(f"no cloud in {root}", file=sys.stderr)
        return []
    procs = Procs(lay.root)
    stopped = procs.names()
    links: list[str] = []
    if procs.running("ovsdb_server"):
        links = compute.ovs_links(lay)
    # ovn-controller before the bridges go: it would create br-int again.
    for first in ("nova_compute", "ovs_agent", "ovn_controller"):
        procs.stop(first, term_wait=_QUICK_KILL.get(first, 10.0))
    hosts_mod.stop_first(lay, procs)
    compute.kill_guests(lay)
    procs.stop("libvirtd")
    hosts_mod.stop_rest(lay, procs)
    if procs.running("ovsdb_server") and procs.running("ovs_vswitchd"):
        for bridge in ("br-int", "br-phys"):
            with contextlib.suppress(CloudError):
                compute.vsctl(lay, "--if-exists", "del-br", bridge, wait=True)
    procs.stop_all(kill_after=_QUICK_KILL)
    (lay.root / "links-at-down.txt").write_text("\n".join(links) + "\n")
    compute.delete_links([*links, "br-int", "br-phys"])
    if lay.hosts >= 2:
        hosts_mod.remove_network(lay)
    compute.remove_dpdk_runtime(lay)
    compute.release_hugepages(lay)
    lay.forget()
    left = [n for n in stopped if procs.running(n)]
    if left:
        raise CloudError(f"still running after down: {', '.join(left)}")
    if not quiet:
        print(f"stopped: {', '.join(stopped) or 'nothing'}", file=sys.stderr)
    return stopped


def leftovers(lay: Layout) -> list[str]:
    """What of the cloud in ``lay`` is still around (empty after down)."""
    left = []
    procs = Procs(lay.root)
    left += [f"process {n}" for n in procs.names() if procs.running(n)]
    left += [f"qemu pid {p}" for p in compute.qemu_pids(lay)]
    marker = str(lay.sock_dir)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            cmd = (entry / "cmdline").read_bytes().decode("utf-8", "replace")
            if marker in cmd or str(lay.root) in cmd:
                left.append(f"pid {entry.name}: {cmd[:80]!r}")
    for name in ("br-int", "br-phys", *_recorded_links(lay)):
        if Path(f"/sys/class/net/{name}").exists():
            left.append(f"link {name}")
    if lay.sock_dir.exists():
        left.append(f"directory {lay.sock_dir}")
    if lay.hosts >= 2:
        left += hosts_mod.leftovers(lay)
    if (compute.DPDK_RUNTIME / compute.dpdk_prefix(lay)).exists():
        left.append(f"DPDK runtime {compute.dpdk_prefix(lay)}")
    with contextlib.suppress(OSError):
        mounts = Path("/proc/mounts").read_text()
        left += [f"mount {line.split()[1]}" for line in mounts.splitlines()
                 if marker in line]
    if (lay.hugepages_before is not None
            and not compute.hugepages_holders(lay)):
        with contextlib.suppress(OSError, ValueError):
            now = int(compute.NR_HUGEPAGES.read_text())
            if now != lay.hugepages_before:
                left.append(f"nr_hugepages {now} (was "
                            f"{lay.hugepages_before})")
    return left


def _recorded_links(lay: Layout) -> list[str]:
    path = lay.root / "links-at-down.txt"
    return path.read_text().split() if path.exists() else []

