"""Servers in the cloud, seen the way a test (or a vendor) needs to see them.

Each helper is bounded: a server that never goes ACTIVE, a guest whose
console never reports, a port that never binds end with an error naming
which and why (the server's fault, the console's tail), never a hang.
What is plugged is read from the host itself: the OVS ports on br-int,
the vhost-user sockets, the kernel's links, libvirt's domain XML.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
import contextlib
import dataclasses
import json
from pathlib import Path
import re
import sys
import time
from typing import Any

from os_vif_pref.testing.cloud import compute
from os_vif_pref.testing.cloud.launcher import Cloud
from os_vif_pref.testing.cloud.procs import CloudError, Procs, run, tail


class GuestError(AssertionError):
    """A server or guest did not reach the state a scenario waited for."""


@dataclasses.dataclass
class Guest:
    """A server with its ports, as booted by :func:`boot`."""

    server: Any
    ports: list[Any]
    ip: str

    @property
    def id(self) -> str:
        return str(self.server.id)


def _console(conn: Any, server_id: str) -> str:
    try:
        out = conn.compute.get_server_console_output(server_id)
    except Exception:  # noqa: BLE001 - a console not there yet is empty
        return ""
    return str(out.get("output", "") if isinstance(out, dict) else out)


def console(cloud: Cloud, guest: Guest | str) -> str:
    """The guest's serial console so far."""
    sid = guest.id if isinstance(guest, Guest) else guest
    return _console(cloud.admin(), sid)


def create_port(cloud: Cloud, ip: str, name: str) -> Any:
    """A port of project demo on the guests' network at address ``ip``.

    Neutron's default policy lets only an admin choose a fixed address on
    a network of another project, so the admin makes it (scoped to demo).
    """
    conn = cloud.admin("demo")
    return conn.network.create_port(
        name=name, network_id=cloud.info["network"],
        fixed_ips=[{"subnet_id": cloud.info["subnet"], "ip_address": ip}])


def boot(cloud: Cloud, name: str, ip: str, peers: Iterable[str] = (),
         hugepages: bool = False, extra_user_data: str = "",
         wait: bool = True, timeout: float = 240) -> Guest:
    """Boot a server with one port at ``ip`` that pings ``peers``."""
    conn = cloud.member()
    port = create_port(cloud, ip, f"{name}-port")
    user_data = f"peers={','.join(peers)}\n{extra_user_data}"
    import base64

    flavor = cloud.info["flavor_hugepages" if hugepages else "flavor"]
    server = conn.compute.create_server(
        name=name, image_id=cloud.info["image"], flavor_id=flavor,
        networks=[{"port": port.id}],
        user_data=base64.b64encode(user_data.encode()).decode())
    guest = Guest(server=server, ports=[port], ip=ip)
    if wait:
        try:
            wait_status(cloud, guest, "ACTIVE", timeout=timeout)
        except BaseException:
            # Nothing of a failed boot may stay (its fixed address above
            # all: the next boot at that address would get a 409).
            delete(cloud, guest)
            raise
    return guest


def wait_status(cloud: Cloud, guest: Guest, status: str,
                timeout: float = 240) -> Any:
    """Wait for ``status``; a server in ERROR (when not wanted) fails fast."""
    conn = cloud.admin()
    deadline = time.monotonic() + timeout
    server = None
    while time.monotonic() < deadline:
        server = conn.compute.get_server(guest.id)
        if server.status == status:
            guest.server = server
            return server
        if server.status == "ERROR" and status != "ERROR":
            raise GuestError(f"server {server.name} went to ERROR: "
                             f"{server.fault}")
        time.sleep(1)
    state = server.status if server is not None else "unknown"
    raise GuestError(f"server {guest.id} not {status} within {timeout:.0f} "
                     f"s (status {state}, task "
                     f"{getattr(server, 'task_state', None)})")


_BOOT = re.compile(r"^BOOT (\S+)", re.MULTILINE)


def since(text: str, before: str) -> str:
    """What the console printed after the snapshot ``before``.

    Nova's libvirt driver writes the serial log with ``append='off'``: a
    guest started again (hard reboot, stop/start) begins a new file, whose
    first lines may well equal the old ones.  The guest prints a random
    ``BOOT <id>`` first: another id (or none yet) is a new console.
    """
    old = _BOOT.search(before)
    new = _BOOT.search(text)
    if old is not None and (new is None or new.group(1) != old.group(1)):
        return text
    return text[len(before):] if text.startswith(before) else text


def wait_console(cloud: Cloud, guest: Guest, pattern: str,
                 timeout: float = 120, before: str = "") -> float:
    """Wait for a console line matching ``pattern`` printed after
    ``before`` (a snapshot of :func:`console`); return the seconds waited.

    On timeout the console's tail is quoted.
    """
    conn = cloud.admin()
    regex = re.compile(pattern, re.MULTILINE)
    start = time.monotonic()
    text = ""
    while time.monotonic() - start < timeout:
        text = _console(conn, guest.id)
        if regex.search(since(text, before)):
            return time.monotonic() - start
        time.sleep(1)
    tail = "\n".join("    " + line for line in text.splitlines()[-12:])
    raise GuestError(f"guest {guest.server.name}: no console line "
                     f"/{pattern}/ within {timeout:.0f} s; console tail:\n"
                     f"{tail}")


def peer_ok(cloud: Cloud, guest: Guest, peer: str, timeout: float = 150,
            before: str = "") -> float:
    """Wait until ``guest`` reports ``PEER <peer> OK`` (after ``before``).

    On timeout the error also carries the host's OVS state and logs
    (:func:`ovs_diagnostics`).
    """
    try:
        return wait_console(cloud, guest, rf"^PEER {re.escape(peer)} OK",
                            timeout=timeout, before=before)
    except GuestError as exc:
        raise GuestError(f"{exc}\n{ovs_diagnostics(cloud)}") from None


def peer_never_ok(cloud: Cloud, guest: Guest, peer: str,
                  watch: float = 45) -> int:
    """Assert ``guest`` reports only FAIL for ``peer`` for ``watch`` s.

    Waits for the guest to be up (``GUEST READY``) first, then watches;
    returns how many FAIL lines it saw.
    """
    wait_console(cloud, guest, r"^GUEST READY", timeout=180)
    time.sleep(watch)
    text = console(cloud, guest)
    if re.search(rf"^PEER {re.escape(peer)} OK", text, re.MULTILINE):
        raise GuestError(f"guest {guest.server.name} reached {peer}")
    fails = len(re.findall(rf"^PEER {re.escape(peer)} FAIL", text,
                           re.MULTILINE))
    if not fails:
        raise GuestError(f"guest {guest.server.name} printed no PEER line "
                         f"for {peer}: is the guest running at all?")
    return fails


def port(cloud: Cloud, port_id: str) -> Any:
    return cloud.admin().network.get_port(port_id)


def binding(cloud: Cloud, port_id: str) -> tuple[str, dict[str, Any],
                                                 dict[str, Any]]:
    """(vif_type, vif_details, profile) of a port, as Neutron stores it."""
    p = port(cloud, port_id)
    return (p.binding_vif_type, dict(p.binding_vif_details or {}),
            dict(p.binding_profile or {}))


def delete(cloud: Cloud, guest: Guest, timeout: float = 120) -> None:
    """Delete the server and its ports; wait until it is gone."""
    conn = cloud.admin()
    conn.compute.delete_server(guest.id, ignore_missing=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if conn.compute.find_server(guest.id, ignore_missing=True) is None:
            break
        time.sleep(1)
    else:
        raise GuestError(f"server {guest.id} not deleted within {timeout} s")
    for p in guest.ports:
        conn.network.delete_port(p.id, ignore_missing=True)
    settle_ovs(cloud, guest.server.name)


#: Seconds :func:`settle_ovs` waited, per guest (read by the diagnostics).
SETTLE_TIMES: dict[str, float] = {}


def settle_ovs(cloud: Cloud, what: str, timeout: float = 300) -> float:
    """Wait until the host's ovs-vswitchd has applied every OVSDB change.

    Nova's delete returns once os-vif removed the port from OVSDB
    (``pref_ovs`` does not wait for ovs-vswitchd by default).  DPDK then
    tears the vhost-user port down in ovs-vswitchd's main thread, which
    under QEMU's emulation on this machine has been seen to take minutes;
    while it does, nothing else is reconfigured and the taps (polled by
    the main thread in the userspace datapath) pass no traffic.  A
    scenario that starts then fails for a reason that is not its own, so
    every delete waits here, bounded, naming the daemon's log when the
    bound is reached.  Returns the seconds waited.

    ovs-vsctl waits for ovs-vswitchd only after a change (it bumps
    ``next_cfg`` and waits until ``cur_cfg`` caught up, i.e. until the
    daemon applied everything written before), so the wait writes a
    marker of its own into ``external_ids``.
    """
    lay = cloud.lay
    start = time.monotonic()
    try:
        run(["ovs-vsctl", f"--db={lay.ovsdb_connection}",
             f"--timeout={int(timeout)}", "set", "Open_vSwitch", ".",
             f"external_ids:ovp-settled={time.time():.0f}"],
            what="ovs-vsctl (waiting for ovs-vswitchd)",
            env=compute.ovs_env(lay), timeout=timeout + 10)
    except CloudError as exc:
        log = Procs(lay.root).log("ovs_vswitchd")
        raise GuestError(
            f"after deleting {what}: ovs-vswitchd did not apply the unplug "
            f"within {timeout:.0f} s ({exc}); last lines of {log}:\n"
            f"{tail(log, 25)}") from exc
    waited = time.monotonic() - start
    SETTLE_TIMES[what] = waited
    if waited > 5:
        print(f"ovs-vswitchd took {waited:.1f} s to apply the unplug of "
              f"{what}", file=sys.stderr, flush=True)
    return waited


def ovs_diagnostics(cloud: Cloud) -> str:
    """What each compute host's OVS, kernel and agent say now, for a failed
    ping.

    A guest that cannot reach its peer is a symptom with several causes
    here (a port without its VLAN tag, missing flows, a datapath that
    lost a port, a busy ovs-vswitchd, a guest tap the kernel has down):
    the message carries the evidence so that a CI log alone tells which.
    With two hosts, compute2's part follows compute1's.
    """
    from os_vif_pref.testing.cloud import hosts

    views: list[tuple[str, Any, list[str], str]] = [
        ("compute1", cloud.lay, [], "")]
    if hosts.enabled(cloud.lay):
        views.append(("compute2", hosts.Host2Layout.of(cloud.lay),
                      hosts.in_ns(cloud.lay), "h2_"))
    parts = []
    for host, lay, prefix, proc_prefix in views:
        parts.append(f"=== {host}")
        parts.extend(_host_diagnostics(lay, prefix, proc_prefix))
    settle = ", ".join(f"{k} {v:.1f} s" for k, v in SETTLE_TIMES.items())
    parts.append(f"--- ovs-vsctl sync after deletes: {settle or 'none'}")
    return "\n".join(parts)


def _host_diagnostics(lay: Any, prefix: list[str],
                      proc_prefix: str) -> list[str]:
    env = compute.ovs_env(lay)
    ctl = str(lay.ovs_dir / "ovs-vswitchd.ctl")
    parts = []
    for title, argv in (
            ("interfaces (name, ofport, type, error)",
             ["ovs-vsctl", f"--db={lay.ovsdb_connection}", "--timeout=10",
              "--format=csv", "--columns=name,ofport,type,error", "list",
              "Interface"]),
            ("port tags", ["ovs-vsctl", f"--db={lay.ovsdb_connection}",
                           "--timeout=10", "--format=csv",
                           "--columns=name,tag", "list", "Port"]),
            # A guest tap the kernel has down (no UP in its flags) drops
            # everything both ways; vswitchd then logs "Network is down".
            ("guest taps in the kernel (flags, carrier)",
             [*prefix, "ip", "-o", "link", "show", "type", "tun"]),
            ("datapath", ["ovs-appctl", "-t", ctl, "--timeout=10",
                          "dpif/show"]),
            ("br-int flows", ["ovs-ofctl", "--timeout=10", "dump-flows",
                              f"unix:{lay.ovs_dir / 'br-int.mgmt'}",
                              "--names", "--no-stats"]),
            ("pmd", ["ovs-appctl", "-t", ctl, "--timeout=10",
                     "dpif-netdev/pmd-rxq-show"])):
        try:
            out = run(argv, what=argv[0], env=env, timeout=20)
        except CloudError as exc:
            out = str(exc)
        parts.append(f"--- {title}:\n{out.strip()}")
    procs = Procs(lay.root)
    for name in ("ovs_vswitchd", "ovs_agent"):
        log = procs.log(proc_prefix + name)
        parts.append(f"--- last lines of {log}:\n{tail(log, 15)}")
    return parts


# -- what is plugged on the host ---------------------------------------------

def ovs_ports(cloud: Cloud) -> dict[str, dict[str, Any]]:
    """br-int's guest ports: name -> {type, options, iface-id}."""
    out = compute.vsctl(cloud.lay, "--format=json",
                        "--columns=name,type,options,external_ids", "list",
                        "Interface")
    ports = {}
    for name, kind, options, ext in json.loads(out)["data"]:
        ext_ids = dict(ext[1]) if ext[0] == "map" else {}
        if "iface-id" not in ext_ids:
            continue
        ports[name] = {"type": kind,
                       "options": dict(options[1]) if options[0] == "map"
                       else {},
                       "iface-id": ext_ids["iface-id"]}
    return ports


def ovs_ports_of(cloud: Cloud, port_id: str) -> list[str]:
    """Names of the OVS interfaces bound to Neutron port ``port_id``."""
    return [n for n, p in ovs_ports(cloud).items()
            if p["iface-id"] == port_id]


def link_exists(name: str) -> bool:
    return Path(f"/sys/class/net/{name}").exists()


def host_links(cloud: Cloud) -> set[str]:
    """The kernel links of the cloud's host as ``cloud`` sees it (compute2's
    are in its own network namespace)."""
    from os_vif_pref.testing.cloud import hosts

    if not isinstance(cloud.lay, hosts.Host2Layout):
        return {p.name for p in Path("/sys/class/net").iterdir()}
    out = run([*hosts.in_ns(cloud.lay), "ip", "-o", "link", "show"],
              what="ip link show (compute2)", timeout=20)
    return {line.split(":")[1].strip().split("@")[0]
            for line in out.splitlines() if ":" in line}


def vhost_sockets(cloud: Cloud) -> list[str]:
    d = cloud.lay.vhost_dir
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def plugged_for(cloud: Cloud, port_id: str) -> list[str]:
    """Everything on the host that belongs to ``port_id``: OVS ports,
    kernel links and vhost-user sockets named after it."""
    short = port_id[:11]
    found = [f"ovs:{n}" for n in ovs_ports_of(cloud, port_id)]
    links = host_links(cloud)
    for prefix in ("tap", "vhu", "qvo", "qvb", "qbr"):
        if prefix + short in links:
            found.append(f"link:{prefix + short}")
    found += [f"socket:{s}" for s in vhost_sockets(cloud) if short in s]
    return found


@contextlib.contextmanager
def _domain(cloud: Cloud, guest: Guest) -> Iterator[Any]:
    """The guest's domain on the cloud's libvirtd (the connection closed
    after)."""
    import libvirt

    conn = libvirt.open(cloud.lay.libvirt_uri)
    try:
        yield conn.lookupByUUIDString(guest.id)
    finally:
        conn.close()


def domain_xml(cloud: Cloud, guest: Guest) -> str:
    """The running domain's XML, from the cloud's libvirtd."""
    with _domain(cloud, guest) as dom:
        return str(dom.XMLDesc(0))


def destroy_domain(cloud: Cloud, guest: Guest) -> None:
    """The guest dies as with its host: libvirt kills its QEMU, Nova is
    not asked."""
    with _domain(cloud, guest) as dom:
        dom.destroy()


def instance_events(cloud: Cloud, guest: Guest) -> list[dict[str, Any]]:
    """Every instance action event of the server (microversion 2.84+)."""
    conn = cloud.admin()
    events = []
    for action in conn.compute.server_actions(guest.id):
        full = conn.compute.get_server_action(action.request_id, guest.id)
        for event in full.events or []:
            events.append(dict(event) if not isinstance(event, dict)
                          else event)
    return events
