"""The second compute host (``up --hosts 2``): compute2, apart as a machine.

compute1 is the DPDK host in the namespaces the cloud starts in.  compute2
runs Debian's *plain* ``ovs-vswitchd`` (netdev datapath, no DPDK: it
publishes no ``dpdkvhostuser*`` interface type, so stock Neutron binds
``ovs`` there), its own OVS agent, libvirtd + virtlogd (a private mount
namespace, like compute1's) and nova-compute (``host = compute2``), all
in a network namespace of its own, ``ovp-cloud-<suffix>`` (the suffix of
the cloud's socket directory, so two clouds never clash).  A second
userspace OVS in compute1's namespace fails ("failed to open datapath of
type netdev"), and two machines do not share a kernel network stack either.

Between the two namespaces, as between two machines:

* the hosts' own addresses, a /30 of 192.0.2.0/24 (RFC 5737) on a veth
  pair (``ovm<suffix>a`` at home, ``ovm<suffix>b`` in compute2's
  namespace): libvirtd's TCP listener (live migration), QEMU's migration
  stream, sshd (Nova's shared-storage probe of a cold migration);
* the provider network ``physnet1``: a second veth pair
  (``ovq<suffix>a``/``b``) between compute1's and compute2's ``br-phys``;
* the control plane: every control service listens on 127.0.0.1 of the
  home namespace.  A forwarder (:func:`forward`, one process) binds the
  same ports on compute2's 127.0.0.1 and relays each connection to the
  home namespace: sockets keep the namespace they were created in, so
  one process serves both sides.  compute2's services therefore use the
  very same URLs as compute1's (Keystone's catalogue holds 127.0.0.1),
  the way a management network is reached from a compute node.

Instances live in one ``instances_path`` both hosts see (shared storage,
as NFS would give).  Nova's libvirt driver decides whether a cold
migration's destination shares it by touching a file there over ssh
(``[libvirt] remote_filesystem_transport = ssh``): each host runs an
sshd on its own address with the cloud's private host key, and each
nova-compute finds an ``ssh`` first on its ``PATH`` that runs the
system's ssh with the cloud's own client configuration (its key, its
known hosts, the sshd's port): what an operator puts in nova's
``~/.ssh``, without touching root's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import contextlib
import ctypes
import dataclasses
import datetime
import os
from pathlib import Path
import select
import socket
import subprocess
import sys
import threading
import uuid

from os_vif_pref.testing.cloud import compute, configs, control, resources
from os_vif_pref.testing.cloud import layout as layout_mod
from os_vif_pref.testing.cloud.layout import Layout
from os_vif_pref.testing.cloud.procs import CloudError, Procs, run

#: compute2's name in Nova and Neutron.
HOST2 = "compute2"
#: Why compute2 is disabled while the one-host scenarios run.
DISABLED_REASON = ("os-vif-pref cloud: the one-host scenarios run on "
                   "compute1; the two-host ones enable compute2")
#: compute2's processes, as recorded in DIR/run (stop order: first ones
#: first).
SERVICES = ("h2_nova_compute", "h2_ovs_agent", "h2_libvirtd",
            "h2_ovs_vswitchd", "h2_ovsdb_server", "h2_sshd", "sshd",
            "h2_forward")
#: compute2 reserves more memory than compute1 (512 MiB): the scheduler's
#: RAM weigher then prefers compute1, so a server compute1 refuses is
#: tried there first and rescheduled to compute2 (the only ordering a
#: reschedule scenario needs; targeted boots name their host).
RESERVED_MB_HOST2 = "2560"
#: The control-plane ports compute2's namespace reaches (see module doc).
FORWARDED = ("mariadb", "rabbitmq", "keystone", "placement", "glance",
             "nova_api", "neutron_api")
SSHD = "/usr/sbin/sshd"
LIBVIRT_TCP_PORT = 16509


def enabled(lay: Layout) -> bool:
    return lay.hosts >= 2


def suffix(lay: Layout) -> str:
    return lay.sock_dir.name.split("-", 1)[-1]


def netns(lay: Layout) -> str:
    """compute2's network namespace (``ip netns`` name)."""
    return f"ovp-cloud-{suffix(lay)}"


def links(lay: Layout) -> dict[str, str]:
    """The veth pairs' names: ``mgmt``/``phys`` home ends, ``*2`` compute2."""
    s = suffix(lay)
    return {"mgmt": f"ovm{s}a", "mgmt2": f"ovm{s}b",
            "phys": f"ovq{s}a", "phys2": f"ovq{s}b"}


def in_ns(lay: Layout) -> list[str]:
    """The prefix running a command in compute2's namespace."""
    return ["ip", "netns", "exec", netns(lay)]


@dataclasses.dataclass
class Host2Layout(Layout):
    """compute2's view of the cloud: its own OVS, vhost and libvirt dirs.

    Everything else (ports, settings, the directory) is the cloud's, so
    the configuration functions that write compute1's files write
    compute2's from this view.
    """

    @classmethod
    def of(cls, lay: Layout) -> Host2Layout:
        return cls(**{f.name: getattr(lay, f.name)
                      for f in dataclasses.fields(Layout)})

    @property
    def ovs_dir(self) -> Path:
        return self.sock_dir / "h2" / "ovs"

    @property
    def vhost_dir(self) -> Path:
        return self.sock_dir / "h2" / "vhost"

    @property
    def libvirt_run(self) -> Path:
        return self.sock_dir / "h2" / "libvirt" / "run" / "libvirt"


# -- the network between the hosts -------------------------------------------

def _ip(*args: str) -> None:
    run(["ip", *args], what="ip " + " ".join(args))


def _pick_host_net() -> int:
    """The first /30 of 192.0.2.0/24 no interface here uses."""
    out = subprocess.run(["ip", "-4", "-o", "addr", "show"],
                         capture_output=True, text=True, check=False).stdout
    used = {line.split()[3].split("/")[0] for line in out.splitlines()
            if len(line.split()) > 3}
    for base in range(0, 256, 4):
        if not {f"{layout_mod.HOSTS_PREFIX}.{base + i}"
                for i in (1, 2)} & used:
            return base
    raise CloudError("no free /30 left in 192.0.2.0/24 for the hosts")


def setup_network(lay: Layout) -> None:
    """compute2's namespace, both veth pairs and the hosts' addresses."""
    if lay.host_net is None:
        lay.host_net = _pick_host_net()
        lay.save()
    ns, names = netns(lay), links(lay)
    _ip("netns", "add", ns)
    _ip("-n", ns, "link", "set", "lo", "up")
    for kind in ("mgmt", "phys"):
        _ip("link", "add", names[kind], "type", "veth", "peer", "name",
            names[kind + "2"], "netns", ns)
        _ip("link", "set", names[kind], "up")
        _ip("-n", ns, "link", "set", names[kind + "2"], "up")
    _ip("addr", "add", f"{lay.host_addr(1)}/30", "dev", names["mgmt"])
    _ip("-n", ns, "addr", "add", f"{lay.host_addr(2)}/30", "dev",
        names["mgmt2"])


def remove_network(lay: Layout) -> None:
    """Delete compute2's namespace and the veths' home ends (idempotent)."""
    ns = netns(lay)
    if Path(f"/run/netns/{ns}").exists():
        subprocess.run(["ip", "netns", "delete", ns], check=False,
                       capture_output=True)
    compute.delete_links([links(lay)["mgmt"], links(lay)["phys"]])


def leftovers(lay: Layout) -> list[str]:
    left = []
    if Path(f"/run/netns/{netns(lay)}").exists():
        left.append(f"netns {netns(lay)}")
    left += [f"link {links(lay)[k]}" for k in ("mgmt", "phys")
             if Path(f"/sys/class/net/{links(lay)[k]}").exists()]
    return left


# -- the control plane, seen from compute2 ----------------------------------

_CLONE_NEWNET = 0x40000000


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _pump(a: socket.socket, b: socket.socket) -> None:
    try:
        while True:
            ready, _, _ = select.select([a, b], [], [], 3600)
            if not ready:
                return
            for src in ready:
                dst = b if src is a else a
                data = src.recv(65536)
                if not data:
                    return
                dst.sendall(data)
    except OSError:
        return
    finally:
        a.close()
        b.close()


def forward(ns: str, ports: Sequence[int]) -> None:
    """Listen on ``ports`` of 127.0.0.1 in ``ns``; relay to the home's.

    Runs until killed (the launcher's ``h2_forward`` service).
    """
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    _setns(target)
    listeners = []
    for port in ports:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(64)
        listeners.append(sock)
    _setns(home)  # connections are made from here: the home namespace
    print(f"forwarding {list(ports)} from {ns}", flush=True)
    while True:
        ready, _, _ = select.select(listeners, [], [])
        for lsock in ready:
            conn, _ = lsock.accept()
            port = lsock.getsockname()[1]
            try:
                out = socket.create_connection(("127.0.0.1", port),
                                               timeout=10)
                out.settimeout(None)
            except OSError as exc:
                print(f"port {port}: {exc}", flush=True)
                conn.close()
                continue
            threading.Thread(target=_pump, args=(conn, out),
                             daemon=True).start()


def start_forwarder(lay: Layout, procs: Procs) -> None:
    ports = [str(lay.ports[n]) for n in FORWARDED]
    procs.start("h2_forward", [lay.python, "-m", __name__, "forward",
                               netns(lay), *ports])
    procs.wait("h2_forward", "its listeners in compute2's namespace",
               lambda: "forwarding" in procs.log("h2_forward").read_text(),
               timeout=30)


# -- ssh between the hosts ----------------------------------------------------

def ssh_dir(lay: Layout) -> Path:
    return lay.root / "ssh"


def ssh_path_env(lay: Layout) -> dict[str, str]:
    """nova-compute's environment: the cloud's ``ssh`` first on PATH."""
    if not enabled(lay):
        return {}
    return {"PATH": f"{ssh_dir(lay) / 'bin'}{os.pathsep}"
                    f"{os.environ.get('PATH', '')}"}


def setup_ssh(lay: Layout, procs: Procs) -> None:
    """Keys, client configuration, and an sshd on each host's address."""
    d = ssh_dir(lay)
    (d / "bin").mkdir(parents=True, exist_ok=True)
    for key in ("host_key", "client_key"):
        if not (d / key).exists():
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C",
                 f"os-vif-pref-cloud-{key}", "-f", str(d / key)],
                what="ssh-keygen")
    if "ssh" not in lay.ports:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            lay.ports["ssh"] = s.getsockname()[1]
        lay.save()
    port = lay.ports["ssh"]
    (d / "authorized_keys").write_text((d / "client_key.pub").read_text())
    host_pub = " ".join((d / "host_key.pub").read_text().split()[:2])
    (d / "known_hosts").write_text("".join(
        f"[{lay.host_addr(i)}]:{port} {host_pub}\n" for i in (1, 2)))
    (d / "ssh_config").write_text(
        "Host *\n"
        f"  Port {port}\n  User root\n"
        f"  IdentityFile {d / 'client_key'}\n  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {d / 'known_hosts'}\n"
        "  StrictHostKeyChecking yes\n  BatchMode yes\n"
        "  ConnectTimeout 10\n")
    wrapper = d / "bin" / "ssh"
    wrapper.write_text("#!/bin/sh\n# The cloud's own client configuration "
                       "(nova-compute's ~/.ssh).\n"
                       f'exec /usr/bin/ssh -F {d / "ssh_config"} "$@"\n')
    wrapper.chmod(0o755)
    for index, name, prefix in ((1, "sshd", []), (2, "h2_sshd", in_ns(lay))):
        conf = d / f"sshd_config.{index}"
        conf.write_text(
            f"ListenAddress {lay.host_addr(index)}:{port}\n"
            f"HostKey {d / 'host_key'}\n"
            f"AuthorizedKeysFile {d / 'authorized_keys'}\n"
            "PidFile none\nPermitRootLogin prohibit-password\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "UsePAM no\nStrictModes no\nUseDNS no\n")
        # sshd wants /run/sshd (its privilege separation directory): a
        # private tmpfs over /run in its own mount namespace, so nothing
        # of the machine's /run changes.
        script = (f"mount -t tmpfs ovp-sshd /run && mkdir /run/sshd && "
                  f"exec {SSHD} -D -e -f {conf}")
        procs.start(name, [*prefix, "unshare", "-m", "--propagation",
                           "private", "sh", "-c", script])
    for index, name in ((1, "sshd"), (2, "h2_sshd")):
        addr = lay.host_addr(index)

        def ssh_ok(addr: str = addr) -> bool:
            return subprocess.run(
                [str(wrapper), addr, "true"], capture_output=True,
                timeout=20, check=False).returncode == 0
        procs.wait(name, f"ssh root@{addr}:{port} true", ssh_ok,
                   timeout=60, interval=0.5)


# -- compute2's services ------------------------------------------------------

def start_ovs(lay: Layout, procs: Procs) -> None:
    """ovsdb-server and the plain ovs-vswitchd in compute2's namespace."""
    h2 = Host2Layout.of(lay)
    ovs = h2.ovs_dir
    ovs.mkdir(parents=True, exist_ok=True)
    h2.vhost_dir.mkdir(parents=True, exist_ok=True)
    db = ovs / "conf.db"
    if not db.exists():
        run(["ovsdb-tool", "create", str(db), compute.OVS_SCHEMA],
            what="ovsdb-tool create (compute2)")
    env = compute.ovs_env(h2)
    procs.start("h2_ovsdb_server", [
        *in_ns(lay), *compute.OVS_NICE, "ovsdb-server", str(db),
        f"--remote=punix:{ovs / 'db.sock'}",
        f"--pidfile={ovs / 'ovsdb-server.pid'}",
        f"--unixctl={ovs / 'ovsdb-server.ctl'}", "--no-chdir"], env=env)
    procs.wait("h2_ovsdb_server", "its socket (compute2)",
               lambda: (ovs / "db.sock").exists(), timeout=30)
    compute.vsctl(h2, "init")
    procs.start("h2_ovs_vswitchd", [
        *in_ns(lay), *compute.OVS_NICE, "ovs-vswitchd",
        h2.ovsdb_connection,
        f"--pidfile={ovs / 'ovs-vswitchd.pid'}",
        f"--unixctl={ovs / 'ovs-vswitchd.ctl'}", "--no-chdir"], env=env)

    def ready() -> bool:
        return "netdev" in compute.vsctl(h2, "get", "Open_vSwitch", ".",
                                         "datapath_types")
    procs.wait("h2_ovs_vswitchd", "compute2's OVS reporting its datapath "
               "types", ready, timeout=60, interval=0.5)
    for bridge in ("br-int", "br-phys"):
        compute.vsctl(h2, "--may-exist", "add-br", bridge, "--", "set",
                      "Bridge", bridge, "datapath_type=netdev", wait=True)


def connect_physnet(lay: Layout) -> None:
    """The provider network's wire: a veth between the two br-phys."""
    names = links(lay)
    compute.vsctl(lay, "--may-exist", "add-port", "br-phys", names["phys"],
                  wait=True)
    compute.vsctl(Host2Layout.of(lay), "--may-exist", "add-port", "br-phys",
                  names["phys2"], wait=True)


def libvirt_extra(lay: Layout, index: int) -> str:
    """libvirtd.conf lines for migration: TCP on the host's address, and
    a host UUID of its own (libvirt refuses to migrate to the "same host",
    which two libvirtds on one machine otherwise are)."""
    if not enabled(lay):
        return ""
    host_uuid = uuid.uuid5(uuid.NAMESPACE_DNS,
                           f"{suffix(lay)}.compute{index}.os-vif-pref")
    return (f'listen_tcp = 1\nlisten_tls = 0\nlisten_addr = '
            f'"{lay.host_addr(index)}"\ntcp_port = "{LIBVIRT_TCP_PORT}"\n'
            f'auth_tcp = "none"\nhost_uuid = "{host_uuid}"\n')


def start_libvirt(lay: Layout, procs: Procs) -> None:
    compute.start_libvirt(Host2Layout.of(lay), procs, name="h2_libvirtd",
                          prefix=in_ns(lay), extra_conf=libvirt_extra(lay, 2),
                          hostname=HOST2)


def nova_conf(lay: Layout) -> Path:
    h2 = Host2Layout.of(lay)
    return configs.write(
        lay.etc("nova-compute2") / "nova.conf",
        configs.nova_compute(h2, host=HOST2, extra={
            # Its own state (Nova keeps the node's UUID there: a shared
            # one reads as compute1 renamed).
            "DEFAULT": {"reserved_host_memory_mb": RESERVED_MB_HOST2,
                        "state_path": str(lay.data("nova-compute2"))}}))


def start_nova_compute(lay: Layout, procs: Procs) -> None:
    conf = nova_conf(lay)
    procs.start("h2_nova_compute", [*in_ns(lay), lay.bin("nova-compute"),
                                    "--config-file", str(conf)],
                env=ssh_path_env(lay))


def start_ovs_agent(lay: Layout, procs: Procs) -> None:
    h2 = Host2Layout.of(lay)
    etc = lay.etc("neutron")
    ini = configs.write(etc / "openvswitch_agent2.ini",
                        configs.ovs_agent(h2, host=HOST2))
    procs.start("h2_ovs_agent", [
        *in_ns(lay), lay.bin("neutron-openvswitch-agent"),
        "--config-file", str(etc / "neutron.conf"), "--config-file",
        str(ini)], env=compute.ovs_env(h2))


def start_infra(lay: Layout, procs: Procs) -> None:
    """What compute2 needs before the control plane: the namespace, its
    wires, the forwarder, sshd on both hosts."""
    setup_network(lay)
    start_forwarder(lay, procs)
    setup_ssh(lay, procs)


def wait_ready(lay: Layout, procs: Procs, say: Callable[[str], None]) -> None:
    """compute2 reporting and mapped, its agent alive; then disabled."""
    say("  waiting for compute2's nova-compute to report")
    procs.wait("h2_nova_compute", "its service record (compute2)",
               lambda: resources.compute_service(lay, HOST2) is not None,
               timeout=240, interval=1)
    nova_conf_ctl = str(lay.etc("nova") / "nova.conf")

    def discovered() -> bool:
        run([lay.bin("nova-manage"), "--config-file", nova_conf_ctl,
             "cell_v2", "discover_hosts"],
            what="nova-manage cell_v2 discover_hosts")
        conn = control.admin_connection(lay)
        names = {h.name for h in conn.compute.hypervisors()}
        return len(names) >= 2
    procs.wait("h2_nova_compute", "compute2's hypervisor visible in the API",
               discovered, timeout=180, interval=2)
    resources.wait_agent_alive(lay, procs, host=HOST2, name="h2_ovs_agent")
    set_enabled(lay, False)


def set_enabled(lay: Layout, on: bool) -> None:
    """Enable compute2's nova-compute, or disable it with our reason."""
    conn = control.admin_connection(lay)
    svc = resources.compute_service(lay, HOST2)
    if svc is None:
        raise CloudError("compute2's nova-compute has no service record")
    if on:
        conn.compute.enable_service(svc)
    else:
        conn.compute.disable_service(svc, disabled_reason=DISABLED_REASON)


def restart_nova_compute(lay: Layout, procs: Procs) -> None:
    procs.stop("h2_nova_compute", term_wait=15.0)
    since = datetime.datetime.now(datetime.timezone.utc)
    start_nova_compute(lay, procs)
    resources.wait_compute_restarted(lay, procs, since, host=HOST2,
                                     name="h2_nova_compute")


def stop_first(lay: Layout, procs: Procs) -> None:
    """compute2's nova-compute and agent, before the guests are killed."""
    for name in ("h2_nova_compute", "h2_ovs_agent"):
        procs.stop(name, term_wait=3.0 if "agent" in name else 15.0)


def stop_rest(lay: Layout, procs: Procs) -> None:
    """compute2's libvirtd and bridges (its taps go with the namespace)."""
    procs.stop("h2_libvirtd")
    h2 = Host2Layout.of(lay)
    if procs.running("h2_ovsdb_server") and procs.running("h2_ovs_vswitchd"):
        for bridge in ("br-int", "br-phys"):
            with contextlib.suppress(CloudError):
                compute.vsctl(h2, "--if-exists", "del-br", bridge, wait=True)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2 or args[0] != "forward":
        print("usage: python -m os_vif_pref.testing.cloud.hosts forward NS "
              "PORT...", file=sys.stderr)
        return 2
    forward(args[1], [int(p) for p in args[2:]])
    return 0


if __name__ == "__main__":
    sys.exit(main())
