"""The compute host: OVS-DPDK, the OVS agent, libvirtd and nova-compute.

Open vSwitch is Debian's DPDK build of ``ovs-vswitchd`` (run by its full
path; the system's alternative stays the plain one), initialised without
hugepages (``--no-huge --legacy-mem``), so it publishes the
``dpdkvhostuser*`` interface types and stock Neutron binds every port on
this host as ``vhostuser``.  Its database and sockets live in the cloud's
socket directory; both daemons run in the foreground as our services.

libvirtd and virtlogd run in a private mount namespace where private
directories are bind-mounted over ``/run``, ``/etc/libvirt``,
``/var/lib/libvirt``, ``/var/log/libvirt`` and ``/var/cache/libvirt``:
libvirt has compiled-in paths for all of them, and the machine's own must
stay untouched.  Nova reaches libvirtd through a socket in a directory
both namespaces see.  QEMU runs as root without cgroups, namespaces or a
security driver, which is what a container without systemd allows.
"""

from __future__ import annotations

from collections.abc import Sequence
import contextlib
import json
import os
from pathlib import Path
import shutil
import signal
import subprocess
import time

from os_vif_pref.testing.cloud import configs
from os_vif_pref.testing.cloud.layout import Layout
from os_vif_pref.testing.cloud.procs import CloudError, Procs, alive, run

OVS_VSWITCHD_DPDK = "/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk"
#: How the distribution starts ovsdb-server and ovs-vswitchd (``ovs-ctl``'s
#: default ``--ovsdb-server-priority`` and ``--ovs-vswitchd-priority``):
#: niceness -10, ahead of the guests' QEMU and the services.  Every OVS of
#: the cloud starts so; under load, a vswitchd preempted between reading a
#: new tap's flags and writing them back undoes libvirt's "up" (see
#: pref_openvswitch's docstring).
OVS_NICE = ["nice", "-n", "-10"]
OVS_SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"
#: DPDK's runtime directory for our file prefix (removed at down).
DPDK_RUNTIME = Path("/var/run/dpdk")

#: 2 MiB pages reserved for the hugepages flavor while the cloud runs
#: (2 GiB).  Each nova-compute counts them all as its own; compute1 runs
#: up to four hugepages guests at once in the scenarios (the one-host
#: peer, P, a scenario's guest, a resized one of 384 MiB): 512 pages ran
#: out once in CI ("Requested instance NUMA topology cannot fit").
HUGEPAGES = 1024
NR_HUGEPAGES = Path("/proc/sys/vm/nr_hugepages")


def dpdk_prefix(lay: Layout) -> str:
    return "ovp" + lay.sock_dir.name.split("-", 1)[-1]


def vsctl(lay: Layout, *args: str, wait: bool = False) -> str:
    opts = [f"--db={lay.ovsdb_connection}", "--timeout=30"]
    if not wait:
        opts.append("--no-wait")
    return run(["ovs-vsctl", *opts, *args], what="ovs-vsctl " + args[0],
               env=ovs_env(lay), timeout=40)


def ovs_env(lay: Layout) -> dict[str, str]:
    d = str(lay.ovs_dir)
    return {"OVS_RUNDIR": d, "OVS_DBDIR": d, "OVS_LOGDIR": d,
            "OVS_SYSCONFDIR": d}


def start_ovs_dpdk(lay: Layout, procs: Procs) -> None:
    """ovsdb-server and the DPDK ovs-vswitchd with br-int and br-phys."""
    ovs = lay.ovs_dir
    ovs.mkdir(parents=True, exist_ok=True)
    lay.vhost_dir.mkdir(parents=True, exist_ok=True)
    db = ovs / "conf.db"
    if not db.exists():
        run(["ovsdb-tool", "create", str(db), OVS_SCHEMA],
            what="ovsdb-tool create")
    procs.start("ovsdb_server", [
        *OVS_NICE, "ovsdb-server", str(db),
        f"--remote=punix:{ovs / 'db.sock'}",
        f"--pidfile={ovs / 'ovsdb-server.pid'}",
        f"--unixctl={ovs / 'ovsdb-server.ctl'}", "--no-chdir"],
        env=ovs_env(lay))
    procs.wait("ovsdb_server", "its socket",
               lambda: (ovs / "db.sock").exists(), timeout=30)
    vsctl(lay, "init")
    prefix = dpdk_prefix(lay)
    vsctl(lay, "set", "Open_vSwitch", ".",
          "other_config:dpdk-init=true",
          f'other_config:dpdk-extra="--no-huge --legacy-mem --no-pci '
          f'-m 512 --file-prefix={prefix}"',
          # One shared pool of 262144 mbufs does not fit in DPDK's 512 MiB
          # without hugepages ("No buffer space available" on the first
          # vhost-user port): a pool per port, sized by its queues, does.
          "other_config:per-port-memory=true",
          "other_config:dpdk-lcore-mask=0x1",
          "other_config:pmd-cpu-mask=0x2",
          "other_config:pmd-maxsleep=10000")
    procs.start("ovs_vswitchd", [
        *OVS_NICE, OVS_VSWITCHD_DPDK, lay.ovsdb_connection,
        f"--pidfile={ovs / 'ovs-vswitchd.pid'}",
        f"--unixctl={ovs / 'ovs-vswitchd.ctl'}", "--no-chdir"],
        env=ovs_env(lay))

    def dpdk_ready() -> bool:
        out = vsctl(lay, "get", "Open_vSwitch", ".", "iface_types")
        return "dpdkvhostuserclient" in out
    procs.wait("ovs_vswitchd", "DPDK initialised (dpdkvhostuserclient in "
               "iface_types)", dpdk_ready, timeout=120, interval=0.5)
    for bridge in ("br-int", "br-phys"):
        vsctl(lay, "--may-exist", "add-br", bridge, "--", "set", "Bridge",
              bridge, "datapath_type=netdev", wait=True)


def write_ovs_agent_config(lay: Layout) -> None:
    configs.write(lay.etc("neutron") / "openvswitch_agent.ini",
                  configs.ovs_agent(lay))


def start_ovs_agent(lay: Layout, procs: Procs) -> None:
    write_ovs_agent_config(lay)
    etc = lay.etc("neutron")
    procs.start("ovs_agent", [
        lay.bin("neutron-openvswitch-agent"),
        "--config-file", str(etc / "neutron.conf"),
        "--config-file", str(etc / "openvswitch_agent.ini")],
        env=ovs_env(lay))


def _libvirt_private(lay: Layout) -> Path:
    return lay.libvirt_run.parents[1]


#: In each running cloud's socket directory: the machine's nr_hugepages
#: before the first of the running clouds raised it.
HUGEPAGES_MARK = "hugepages-before"


def hugepages_holders(lay: Layout) -> dict[Path, int]:
    """The other running clouds that reserved 2 MiB pages, with the value
    each recorded as the machine's own.

    ``nr_hugepages`` is one setting for the machine: a cloud that restored
    it at ``down`` while another still ran took that cloud's hugepages away
    (its hugepages servers then fail "Requested instance NUMA topology
    cannot fit the given host NUMA topology"; seen with two clouds here).
    """
    out = {}
    for mark in lay.sock_dir.parent.glob("ovpc-*/" + HUGEPAGES_MARK):
        if mark.parent == lay.sock_dir:
            continue
        with contextlib.suppress(OSError, ValueError):
            out[mark.parent] = int(mark.read_text())
    return out


def reserve_hugepages(lay: Layout) -> None:
    """Reserve 2 MiB pages for the hugepages flavor; restored at down by the
    last running cloud (the machine's value, not one a cloud had set)."""
    with contextlib.suppress(OSError):
        before = int(NR_HUGEPAGES.read_text())
        if lay.hugepages_before is None:
            others = hugepages_holders(lay)
            lay.hugepages_before = (min(others.values()) if others
                                    else before)
            lay.save()
        (lay.sock_dir / HUGEPAGES_MARK).write_text(
            f"{lay.hugepages_before}\n")
        if before < HUGEPAGES:
            NR_HUGEPAGES.write_text(f"{HUGEPAGES}\n")


def release_hugepages(lay: Layout) -> None:
    """Give the pages back, unless another running cloud still uses them."""
    with contextlib.suppress(OSError):
        (lay.sock_dir / HUGEPAGES_MARK).unlink(missing_ok=True)
    if lay.hugepages_before is not None and not hugepages_holders(lay):
        with contextlib.suppress(OSError):
            NR_HUGEPAGES.write_text(f"{lay.hugepages_before}\n")


def start_libvirt(lay: Layout, procs: Procs, *, name: str = "libvirtd",
                  prefix: Sequence[str] = (), extra_conf: str = "",
                  hostname: str | None = None) -> None:
    """libvirtd and virtlogd in their private mount namespace.

    ``name``, ``prefix`` (e.g. ``ip netns exec NS``), ``extra_conf``
    (libvirtd.conf lines: the TCP listener of a migration) and
    ``hostname`` (a UTS namespace of its own: Nova names the hypervisor,
    and Placement its resource provider, after libvirt's hostname, which
    must differ between hosts) serve the second host (hosts.py), whose
    private directories ``lay`` names.
    """
    priv = _libvirt_private(lay)
    dirs = {"run": "/run", "etc": "/etc/libvirt", "lib": "/var/lib/libvirt",
            "log": "/var/log/libvirt", "cache": "/var/cache/libvirt"}
    for sub in dirs:
        (priv / sub).mkdir(parents=True, exist_ok=True)
    etc = priv / "etc"
    if not (etc / "qemu.conf").exists() and Path("/etc/libvirt").is_dir():
        shutil.copytree("/etc/libvirt", etc, dirs_exist_ok=True,
                        symlinks=True)
    huge = priv / "hugepages"
    huge.mkdir(exist_ok=True)
    (etc / "libvirtd.conf").write_text(
        'unix_sock_dir = "/run/libvirt"\n'
        'unix_sock_group = "root"\nunix_sock_rw_perms = "0770"\n'
        'auth_unix_rw = "none"\nauth_unix_ro = "none"\n'
        'log_outputs = "3:stderr"\n' + extra_conf)
    (etc / "qemu.conf").write_text(
        'user = "root"\ngroup = "root"\ndynamic_ownership = 0\n'
        'remember_owner = 0\nsecurity_driver = "none"\n'
        'cgroup_controllers = [ ]\nnamespaces = [ ]\n'
        f'hugetlbfs_mount = "{huge}"\nstdio_handler = "logd"\n'
        'vnc_listen = "127.0.0.1"\n')
    (etc / "virtlogd.conf").write_text('log_outputs = "3:stderr"\n')
    mounts = "\n".join(f"mount --bind {priv / name} {target}"
                       for name, target in dirs.items())
    script = priv / "start.sh"
    script.write_text(
        "#!/bin/sh\n"
        "# libvirtd and virtlogd in a private mount namespace "
        "(unshare -m --propagation private).\n"
        "set -e\n"
        f"{mounts}\n"
        "mkdir -p /run/libvirt\n"
        + (f"hostname {hostname}\n" if hostname else "")
        + f"mount -t hugetlbfs -o pagesize=2M ovp-hugetlbfs {huge} || "
        "echo 'no hugetlbfs: the hugepages flavor will not fit'\n"
        "virtlogd &\n"
        'exec libvirtd "$@"\n')
    script.chmod(0o755)
    listen = ["--listen"] if "listen_tcp = 1" in extra_conf else []
    uts = ["-u"] if hostname else []
    procs.start(name, [*prefix, "unshare", "-m", *uts, "--propagation",
                       "private", str(script), *listen])
    sock = lay.libvirt_run / "libvirt-sock"
    procs.wait(name, f"its socket {sock}", sock.exists, timeout=60)


def write_compute_config(lay: Layout) -> Path:
    return configs.write(lay.etc("nova-compute") / "nova.conf",
                         configs.nova_compute(lay))


def start_nova_compute(lay: Layout, procs: Procs) -> None:
    conf = write_compute_config(lay)
    # With two hosts, the cloud's ssh (its key, known hosts and port;
    # hosts.py) comes first on PATH: Nova's shared-storage probe uses it.
    ssh_bin = lay.root / "ssh" / "bin"
    env = ({"PATH": f"{ssh_bin}{os.pathsep}{os.environ.get('PATH', '')}"}
           if lay.hosts >= 2 else None)
    procs.start("nova_compute", [lay.bin("nova-compute"),
                                 "--config-file", str(conf)], env=env)


def qemu_pids(lay: Layout) -> list[int]:
    """QEMU processes of this cloud's instances (found by their paths)."""
    marker = str(lay.data("instances"))
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().decode("utf-8", "replace")
        except OSError:
            continue
        if "qemu-system" in cmd and (marker in cmd
                                     or str(lay.sock_dir) in cmd):
            pids.append(int(entry.name))
    return pids


def kill_guests(lay: Layout) -> None:
    """SIGKILL every QEMU of this cloud left running (after a crash)."""
    pids = qemu_pids(lay)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)


def ovs_links(lay: Layout) -> list[str]:
    """Names of the OVS interfaces that are kernel devices (taps).

    A netdev bridge's tap (and a tap os-vif made for a guest) outlives
    ovs-vswitchd: ``down`` lists them first and removes what is left
    after the daemon stopped.
    """
    with contextlib.suppress(CloudError, ValueError, KeyError):
        out = vsctl(lay, "--format=json", "--columns=name,type", "list",
                    "Interface")
        return [name for name, kind in json.loads(out)["data"]
                if kind in ("", "tap", "internal", "system")]
    return []


def delete_links(names: list[str]) -> None:
    for name in names:
        if Path(f"/sys/class/net/{name}").exists():
            subprocess.run(["ip", "link", "del", name], check=False,
                           capture_output=True)


def remove_dpdk_runtime(lay: Layout) -> None:
    shutil.rmtree(DPDK_RUNTIME / dpdk_prefix(lay), ignore_errors=True)
