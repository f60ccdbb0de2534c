"""Faults, for real: the privsep daemon killed, ovsdb-server restarted,
devices removed behind the plugins' back, a full file system where we
write, and two processes plugging the same port at once.

What must hold each time: the next operation works, or fails at once with
a clear error; the final state is the intended one; nothing is left over.
(ovsdb-server restarts *during* plugs are covered by
tests/functional/ovs/test_ovs_plug.py::test_reconnects_after_ovsdb_server_restart;
here it restarts between a plug and its unplug.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import uuid

import os_vif
from os_vif import exception as osv_exception
from os_vif import objects
from oslo_config import cfg
from pyroute2 import IPRoute
import pytest

from os_vif_pref import locking
from os_vif_pref.linux import net
from os_vif_pref.plugins import linux_bridge
from os_vif_pref.plugins import ovs as ovs_plugin
from os_vif_pref.testing import conformance
from os_vif_pref.testing import netns as netns_testing

pytestmark = pytest.mark.functional

LB = linux_bridge.CFG_GROUP


def _instance() -> objects.instance_info.InstanceInfo:
    return objects.instance_info.InstanceInfo(uuid=str(uuid.uuid4()),
                                              name="fault")


def _mac() -> str:
    b = uuid.uuid4().bytes
    return f"fa:16:3e:{b[0]:02x}:{b[1]:02x}:{b[2]:02x}"


def _links() -> dict:
    net.flush_deleted()
    return conformance.kernel_links()


def _remove_behind_our_back(*names: str) -> None:
    """Delete devices with plain netlink, not through the code under test."""
    with IPRoute() as ipr:
        for name in names:
            found = ipr.link_lookup(ifname=name)
            if found:
                ipr.link("del", index=found[0])


@pytest.fixture
def osvif(test_netns):
    os_vif.initialize()
    yield
    for key in ("create_tap",):
        cfg.CONF.clear_override(key, group=LB)


def _tap_vif() -> objects.vif.VIFGeneric:
    return objects.vif.VIFGeneric(
        id=str(uuid.uuid4()), address=_mac(), plugin="pref_tap",
        vif_name="tfg" + conformance.unique_suffix(),
        network=objects.network.Network(id=str(uuid.uuid4()), mtu=1400))


def _bridge_vif(bridge: str) -> objects.vif.VIFBridge:
    return objects.vif.VIFBridge(
        id=str(uuid.uuid4()), address=_mac(), plugin="pref_linux_bridge",
        bridge_name=bridge, vif_name="tfb" + conformance.unique_suffix(),
        network=objects.network.Network(id=str(uuid.uuid4()), bridge=bridge,
                                        mtu=1400))


# ---------------------------------------------------------------------------
# the privsep daemon killed between calls

_KILL_SCRIPT = textwrap.dedent("""
    import json, os, signal, sys, time
    from pyroute2 import IPRoute
    from os_vif_pref.linux import net
    from os_vif_pref.testing import netns as nt

    out = {}
    def names():
        with IPRoute() as ipr:
            return sorted(m.get("ifname") for m in ipr.get_links())
    with nt.TestNetns(sys.argv[1]):
        first = net.daemon_pid()
        net.create_tap("tkill0")
        os.kill(first, signal.SIGKILL)
        # The call right after the kill: works or fails, but returns.
        try:
            out["next_call"] = ["ok", net.create_tap("tkill1")]
        except Exception as e:
            out["next_call"] = ["error", type(e).__name__, str(e)]
        out["then"] = net.create_tap("tkill2")
        second = net.daemon_pid()
        out["new_daemon"] = second != first
        out["survivor"] = net.device_exists("tkill0")
        # Killed between retiring a device and reaping it: the next
        # daemon adopts and deletes it once it deletes anything.
        net.delete_net_devs(["tkill0"])
        os.kill(second, signal.SIGKILL)
        time.sleep(0.2)
        out["retired_left"] = [n for n in names()
                               if n.startswith(net.RETIRED_PREFIX)]
        for _ in range(3):
            try:
                net.delete_net_devs(["tkill1", "tkill2"])
                break
            except OSError:
                continue
        net.flush_deleted()
        out["final"] = names()
    print("RESULT " + json.dumps(out))
""")


def test_privsep_daemon_killed_between_calls(test_netns):
    # In a child process: without the fix it hangs, and must not take
    # this test session's privsep channel with it.
    ns = netns_testing.unique_name("ovpkill")
    try:
        proc = subprocess.run([sys.executable, "-c", _KILL_SCRIPT, ns],
                              capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("a privileged call after the daemon was killed hung")
    finally:
        # A hung child was killed before it could remove its namespace.
        if ns in netns_testing.list_namespaces():
            subprocess.run(["ip", "netns", "del", ns], check=False)
    lines = [ln for ln in proc.stdout.splitlines()
             if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    out = json.loads(lines[-1][len("RESULT "):])
    # The call right after the kill either worked or said why not.
    assert out["next_call"][0] == "ok" or (
        "privsep daemon connection lost" in out["next_call"][2]), out
    assert out["then"] is True and out["new_daemon"] and out["survivor"]
    assert out["retired_left"], "the kill did not catch a retired device"
    assert out["final"] == ["lo"]


_FLUSH_SCRIPT = textwrap.dedent("""
    import json, os, signal, sys, time
    from pyroute2 import IPRoute
    from os_vif_pref.linux import net
    from os_vif_pref.testing import netns as nt

    with nt.TestNetns(sys.argv[1]):
        net.create_tap("tflush0")
        pid = net.daemon_pid()
        net.delete_net_devs(["tflush0"])   # retired, reaped moments later
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
        for _ in range(3):                 # the first call may see the loss
            try:
                net.flush_deleted()
                break
            except OSError:
                continue
        with IPRoute() as ipr:
            left = sorted(m.get("ifname") for m in ipr.get_links())
    print("RESULT " + json.dumps(left))
""")


def test_flush_after_daemon_killed_reaps_what_it_retired(test_netns):
    ns = netns_testing.unique_name("ovpflush")
    try:
        proc = subprocess.run([sys.executable, "-c", _FLUSH_SCRIPT, ns],
                              capture_output=True, text=True, timeout=60)
    finally:
        if ns in netns_testing.list_namespaces():
            subprocess.run(["ip", "netns", "del", ns], check=False)
    lines = [ln for ln in proc.stdout.splitlines()
             if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    assert json.loads(lines[-1][len("RESULT "):]) == ["lo"]


# ---------------------------------------------------------------------------
# devices removed behind our back


def test_tap_removed_behind_our_back(osvif):
    before = _ovs_links()
    vif = _tap_vif()
    os_vif.plug(vif, _instance())
    _remove_behind_our_back(vif.vif_name)
    os_vif.unplug(vif, _instance())          # absent: fine
    assert _ovs_links() == before
    os_vif.plug(vif, _instance())            # and it comes back
    assert _links()[vif.vif_name] == ("tun", None, 1400, True)
    os_vif.unplug(vif, _instance())
    assert _ovs_links() == before


def test_bridge_and_tap_removed_behind_our_back(osvif):
    cfg.CONF.set_override("create_tap", True, group=LB)
    before = _ovs_links()
    vif = _bridge_vif("tfbr0")
    os_vif.plug(vif, _instance())
    _remove_behind_our_back(vif.vif_name, "tfbr0")
    os_vif.unplug(vif, _instance())
    assert _ovs_links() == before
    os_vif.plug(vif, _instance())            # bridge and tap recreated
    state = _links()
    assert state["tfbr0"][0] == "bridge"
    assert state[vif.vif_name] == ("tun", "tfbr0", 1400, True)
    os_vif.unplug(vif, _instance())
    net.delete_net_devs(["tfbr0"])
    assert _ovs_links() == before


def test_macvtap_source_removed_behind_our_back(osvif):
    before = _ovs_links()
    net.create_veth_pair("tfsrc0", "tfsrc0p")
    vif = objects.vif.VIFDirect(
        id=str(uuid.uuid4()), address=_mac(), plugin="pref_macvtap",
        vif_name="tfm" + conformance.unique_suffix(),
        dev_address="0000:00:00.0", vlan_name="tfsrc0", mode="bridge")
    os_vif.plug(vif, _instance())
    # The kernel takes the macvtap down with its source device.
    _remove_behind_our_back("tfsrc0")
    os_vif.unplug(vif, _instance())
    assert _ovs_links() == before
    with pytest.raises(osv_exception.PlugException,
                       match="tfsrc0: no such device"):
        os_vif.plug(vif, _instance())
    assert _ovs_links() == before


# ---------------------------------------------------------------------------
# OVS: a tap removed behind our back; ovsdb-server restarted


@pytest.fixture(scope="module")
def fault_ovs(test_netns):
    with conformance.private_ovs_environment() as server:
        yield server


def _ovs_vif() -> objects.vif.VIFOpenVSwitch:
    port_id = str(uuid.uuid4())
    return objects.vif.VIFOpenVSwitch(
        id=port_id, address=_mac(), plugin="pref_ovs",
        vif_name=("tap" + port_id)[:14], bridge_name="br-int",
        network=objects.network.Network(id=str(uuid.uuid4()),
                                        bridge="br-int", mtu=1450),
        port_profile=objects.vif.VIFPortProfileOpenVSwitch(
            interface_id=port_id, create_port=True, create_tap=True,
            datapath_type="netdev"),
        has_traffic_filtering=True)


def _ovs_links() -> dict:
    """Links, without the OVS bridge's internal port MTU: vswitchd lowers
    it to the smallest port MTU and raises it again in its own time (also
    during later tests of this module, while the private OVS still runs)."""
    state = _links()
    for name in ("br-int", "ovs-netdev"):
        if name in state:
            kind, master, _mtu, up = state[name]
            state[name] = (kind, master, None, up)
    return state


def _ports(server) -> list[str]:
    return sorted(server.vsctl("list-ports", "br-int").split())


def test_ovs_tap_removed_behind_our_back(fault_ovs):
    before, ports = _ovs_links(), _ports(fault_ovs)
    vif = _ovs_vif()
    os_vif.plug(vif, _instance())
    _remove_behind_our_back(vif.vif_name)
    os_vif.unplug(vif, _instance())
    assert _ovs_links() == before and _ports(fault_ovs) == ports
    os_vif.plug(vif, _instance())
    assert vif.vif_name in _links() and vif.vif_name in _ports(fault_ovs)
    ofport = fault_ovs.vsctl("get", "Interface", vif.vif_name, "ofport")
    assert int(ofport) > 0          # vswitchd opened the new tap
    os_vif.unplug(vif, _instance())
    assert _ovs_links() == before and _ports(fault_ovs) == ports


def test_ovsdb_server_restarted_between_plug_and_unplug(fault_ovs):
    before, ports = _ovs_links(), _ports(fault_ovs)
    vif = _ovs_vif()
    os_vif.plug(vif, _instance())
    fault_ovs.restart_ovsdb_server()
    os_vif.unplug(vif, _instance())
    assert _ovs_links() == before and _ports(fault_ovs) == ports


# ---------------------------------------------------------------------------
# a full file system where we write (lock files; CLI output)


@pytest.fixture
def full_fs():
    """A tmpfs with no free inode: creating any file fails ENOSPC."""
    path = tempfile.mkdtemp(prefix="ovp-full-")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,nr_inodes=1",
                    "tmpfs", path], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", path], check=True)
        os.rmdir(path)


def test_lock_file_on_full_disk_is_a_clean_error(osvif, full_fs):
    before = _ovs_links()
    vif = _tap_vif()
    cfg.CONF.set_override("lock_path", full_fs, group=locking.GROUP)
    try:
        plugin = os_vif._EXT_MANAGER["pref_tap"].obj
        with pytest.raises(locking.LockFailed,
                           match="No space left on device"):
            plugin.plug(vif, _instance())
        with pytest.raises(osv_exception.PlugException,
                           match="No space left on device"):
            os_vif.plug(vif, _instance())
        assert _ovs_links() == before            # nothing half-plugged
    finally:
        cfg.CONF.clear_override("lock_path", group=locking.GROUP)
    os_vif.plug(vif, _instance())            # space again: works
    assert vif.vif_name in _links()
    os_vif.unplug(vif, _instance())
    assert _ovs_links() == before


@pytest.mark.parametrize("argv", [["catalogue", "list"],
                                  ["catalogue", "schema"],
                                  ["preferences"]])
@pytest.mark.parametrize("env", [None, {"PATH": "/usr/bin:/bin"}],
                         ids=["user-env", "bare-env"])
def test_cli_output_to_a_full_device_fails_clearly(argv, env):
    # bare-env: with no locale variables a failed flush at interpreter exit
    # once went unnoticed (exit 0, output lost).
    exe = os.path.join(sys.prefix, "bin", "os-vif-pref")
    with open("/dev/full", "w") as full:
        proc = subprocess.run([exe, *argv], stdout=full, env=env,
                              stderr=subprocess.PIPE, text=True, timeout=60)
    assert proc.returncode != 0
    assert "No space left on device" in proc.stderr
    assert "Traceback" not in proc.stderr


# ---------------------------------------------------------------------------
# two processes plugging the same port at once

_RACE_SCRIPT = textwrap.dedent("""
    import json, os, sys, time
    import os_vif
    from os_vif import objects
    from oslo_config import cfg
    from os_vif_pref.linux import net
    from os_vif_pref.testing import privsep as privsep_testing

    args = json.loads(sys.argv[1])
    privsep_testing.configure()
    os_vif.initialize()
    for group, key, value in args["overrides"]:
        cfg.CONF.set_override(key, value, group=group)
    objects.register_all()
    vif = objects.base.VersionedObject.obj_from_primitive(args["vif"])
    inst = objects.instance_info.InstanceInfo(uuid=args["instance"],
                                              name="race")
    net.daemon_pid()                       # daemon up before the start
    if vif.plugin == "pref_ovs":
        os_vif._EXT_MANAGER["pref_ovs"].obj.ovsdb.api
    errors = []
    def barrier(name):
        # Both processes arrive, then both go (files in a shared dir).
        open(os.path.join(args["dir"], f"{name}-{os.getpid()}"), "w").close()
        while len([f for f in os.listdir(args["dir"])
                   if f.startswith(name + "-")]) < 2:
            time.sleep(0.0005)
    barrier("start")
    for _ in range(args["rounds"]):
        for op in ("plug", "unplug"):
            try:
                getattr(os_vif, op)(vif, inst)
            except Exception as e:
                errors.append(f"{op}: {e}")
    barrier("final")
    try:
        os_vif.plug(vif, inst)
    except Exception as e:
        errors.append(f"final plug: {e}")
    print("RESULT " + json.dumps(errors))
""")

ROUNDS = 25


def _race(vif, overrides: list, tmp: str) -> list[str]:
    """Two processes plug/unplug ``vif`` ROUNDS times, then both plug it;
    returns every error they met."""
    arg = json.dumps({
        "vif": vif.obj_to_primitive(), "instance": str(uuid.uuid4()),
        "overrides": overrides, "rounds": ROUNDS, "dir": tmp})
    procs = [subprocess.Popen([sys.executable, "-c", _RACE_SCRIPT, arg],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    errors: list[str] = []
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        lines = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
        assert proc.returncode == 0 and lines, err[-3000:]
        errors += json.loads(lines[-1][len("RESULT "):])
    return errors


def test_two_processes_plug_the_same_tap(osvif, tmp_path):
    before = _ovs_links()
    vif = _tap_vif()
    assert _race(vif, [], str(tmp_path)) == []
    assert _links()[vif.vif_name] == ("tun", None, 1400, True)
    os_vif.unplug(vif, _instance())
    assert _ovs_links() == before


def test_two_processes_plug_the_same_bridge_port(osvif, tmp_path):
    before = _ovs_links()
    vif = _bridge_vif("tfrbr0")
    assert _race(vif, [[LB, "create_tap", True]], str(tmp_path)) == []
    cfg.CONF.set_override("create_tap", True, group=LB)
    state = _links()
    assert state[vif.vif_name] == ("tun", "tfrbr0", 1400, True)
    os_vif.unplug(vif, _instance())
    net.delete_net_devs(["tfrbr0"])
    assert _ovs_links() == before


def test_two_processes_plug_the_same_ovs_port(fault_ovs, tmp_path):
    before, ports = _ovs_links(), _ports(fault_ovs)
    vif = _ovs_vif()
    group = ovs_plugin.CONFIG_GROUP
    errors = _race(vif, [[group, "ovsdb_connection", fault_ovs.connection],
                         [group, "ovsdb_timeout", 20]], str(tmp_path))
    assert errors == []
    assert _ports(fault_ovs) == sorted(ports + [vif.vif_name])
    assert fault_ovs.vsctl("--bare", "--columns=name", "find", "Interface",
                           f"name={vif.vif_name}").split() == [vif.vif_name]
    iface_id = fault_ovs.vsctl("get", "Interface", vif.vif_name,
                               "external_ids:iface-id").strip().strip('"')
    assert iface_id == vif.id
    assert _links()[vif.vif_name][0] == "tun"
    os_vif.unplug(vif, _instance())
    assert _ovs_links() == before and _ports(fault_ovs) == ports


def test_lock_serialises_threads_and_processes(tmp_path):
    """The lock itself: a holder in another process makes us wait, and a
    timeout is a clean LockFailed (no device involved)."""
    cfg.CONF.set_override("lock_path", str(tmp_path), group=locking.GROUP)
    try:
        path = locking.lock_file("tlock0", str(tmp_path))
        holder = subprocess.Popen(
            [sys.executable, "-c",
             "import fcntl,sys,time; f=open(sys.argv[1],'a'); "
             "fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); "
             "sys.stdin.readline()", path],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout.readline().strip() == "held"
            with pytest.raises(locking.LockFailed, match="lock_timeout"):
                with locking.port_lock(["tlock0"], timeout=0.2):
                    pass
        finally:
            holder.stdin.close()
            holder.wait(timeout=30)
        with locking.port_lock(["tlock0"], timeout=5):
            pass
        # A hostile key cannot leave the directory.
        with locking.port_lock(["../../x", "a/b\0c"], timeout=5):
            pass
        assert all(os.path.dirname(p) == str(tmp_path)
                   for p in (str(q) for q in tmp_path.iterdir()))
    finally:
        cfg.CONF.clear_override("lock_path", group=locking.GROUP)



def test_replug_of_a_tap_the_hypervisor_holds_open(osvif):
    import fcntl
    import struct

    vif = _tap_vif()
    os_vif.plug(vif, _instance())
    # What QEMU does with a managed='no' tap: attach to it and keep it.
    fd = os.open("/dev/net/tun", os.O_RDWR)
    try:
        fcntl.ioctl(fd, 0x400454CA, struct.pack(
            "16sH", vif.vif_name.encode(), 0x0002 | 0x1000 | 0x4000))
        try:
            os_vif.plug(vif, _instance())      # nova-compute restarted
        finally:
            assert _links()[vif.vif_name] == ("tun", None, 1400, True)
    finally:
        os.close(fd)
        os_vif.unplug(vif, _instance())
