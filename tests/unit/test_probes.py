"""Probes on faked host files and a fake ovsdb-server: results, never raising.

The real host (kernel, private OVS) is in tests/functional/test_probes_ovs.py.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import gzip
import json
import os
import socket
import threading
from typing import Any

from oslo_config import cfg
import pytest

from os_vif_pref import probes

CONF = cfg.CONF


# --------------------------------------------------------------------------
# kernel link kinds
# --------------------------------------------------------------------------

@pytest.fixture
def fake_kernel(tmp_path, monkeypatch):
    """A fake /sys/module, kernel config, /lib/modules and /dev/net/tun."""
    sysmod = tmp_path / "sys_module"
    sysmod.mkdir()
    moddir = tmp_path / "lib_modules"
    release = os.uname().release
    (moddir / release).mkdir(parents=True)
    kernel = probes.kernel
    monkeypatch.setattr(kernel, "SYS_MODULE", str(sysmod))
    monkeypatch.setattr(kernel, "MODULES_DIR", str(moddir))
    monkeypatch.setattr(kernel, "PROC_CONFIG", str(tmp_path / "config.gz"))
    monkeypatch.setattr(kernel, "TUN_DEVICE", "/dev/null")  # a char device

    class K:
        def config(self, text: str) -> None:
            with gzip.open(tmp_path / "config.gz", "wt") as f:
                f.write(text)

        def loaded(self, module: str) -> None:
            (sysmod / module).mkdir()

        def modules_dep(self, text: str) -> None:
            (moddir / release / "modules.dep").write_text(text)

    return K()


def test_kernel_links_from_sysfs_and_config(fake_kernel, monkeypatch):
    fake_kernel.loaded("bridge")
    fake_kernel.config("CONFIG_TUN=y\nCONFIG_VETH=m\n# CONFIG_MACVTAP is not"
                       " set\nCONFIG_BRIDGE=m\n")
    fake_kernel.modules_dep(
        "kernel/drivers/net/veth.ko:\nkernel/net/bridge/bridge.ko:\n")
    res = probes.probe_kernel_links(1.0)
    assert res["kernel_link:bridge"].ok
    assert res["kernel_link:bridge"].value == "loaded"
    assert res["kernel_link:tun"].value == "built in"
    assert res["kernel_link:veth"].value == "module"
    mv = res["kernel_link:macvtap"]
    assert not mv.ok and "built without CONFIG_MACVTAP" in mv.reason


def test_module_not_installed(fake_kernel):
    fake_kernel.config("CONFIG_TUN=y\nCONFIG_VETH=m\nCONFIG_MACVTAP=y\n"
                       "CONFIG_BRIDGE=y\n")
    fake_kernel.modules_dep("kernel/net/bridge/bridge.ko:\n")
    veth = probes.probe_kernel_links(1.0)["kernel_link:veth"]
    assert not veth.ok
    assert "CONFIG_VETH=m but veth.ko is not installed" in veth.reason


def test_tun_needs_the_character_device(fake_kernel, monkeypatch, tmp_path):
    fake_kernel.config("CONFIG_TUN=y\n")
    monkeypatch.setattr(probes.kernel, "TUN_DEVICE", str(tmp_path / "nope"))
    tun = probes.probe_kernel_links(1.0)["kernel_link:tun"]
    assert not tun.ok and "nope" in tun.reason
    (tmp_path / "plain").write_text("")
    monkeypatch.setattr(probes.kernel, "TUN_DEVICE", str(tmp_path / "plain"))
    tun = probes.probe_kernel_links(1.0)["kernel_link:tun"]
    assert not tun.ok and "not a character device" in tun.reason


def test_unreadable_config_falls_back_to_a_namespace_test(fake_kernel,
                                                          monkeypatch):
    asked = []

    def fake_netns(kinds, timeout):
        asked.append(list(kinds))
        return {f"kernel_link:{k}": probes.ProbeResult(
            f"kernel_link:{k}", True, "created in a test namespace")
            for k in kinds}

    monkeypatch.setattr(probes.kernel, "probe_links_in_netns", fake_netns)
    monkeypatch.setattr(probes.kernel, "_kernel_config", lambda release: None)
    fake_kernel.loaded("bridge")
    res = probes.probe_kernel_links(1.0)
    assert asked == [["tun", "veth", "macvtap"]]
    assert res["kernel_link:bridge"].value == "loaded"
    assert res["kernel_link:veth"].value == "created in a test namespace"


# --------------------------------------------------------------------------
# a fake ovsdb-server
# --------------------------------------------------------------------------

OVS_REPLY = [
    {"rows": [{"datapath_types": ["set", ["netdev", "system"]],
               "iface_types": ["set", ["geneve", "internal", "tap",
                                       "dpdkvhostuserclient"]],
               "ovs_version": "3.1.0"}]},
    {"rows": [{"name": "br-int", "datapath_type": "netdev"},
              {"name": "br-ex", "datapath_type": ""}]},
]


class FakeOvsdb:
    """A unix-socket server answering the probe's transact.

    ``mode``: ``answer`` (with an echo first and the reply split in two
    writes), ``silent`` (accepts, never answers), ``error`` (JSON-RPC
    error), ``close`` (hangs up).
    """

    def __init__(self, path: str, mode: str = "answer",
                 reply: Any = None) -> None:
        self.path = path
        self.mode = mode
        self.reply = OVS_REPLY if reply is None else reply
        self.requests: list[Any] = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(4)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.05)
        conns = []
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            conns.append(conn)
            if self.mode == "silent":
                continue
            with contextlib.suppress(OSError, ValueError):
                conn.settimeout(2)
                req = json.loads(conn.recv(65536))
                self.requests.append(req)
                if self.mode == "close":
                    conn.close()
                    continue
                if self.mode == "error":
                    out = {"id": req["id"], "result": None,
                           "error": "unknown database"}
                    conn.sendall(json.dumps(out).encode())
                    continue
                conn.sendall(json.dumps({"id": "echo", "method": "echo",
                                         "params": []}).encode())
                data = json.dumps({"id": req["id"], "result": self.reply,
                                   "error": None}).encode()
                conn.sendall(data[:20])
                conn.sendall(data[20:])
        for c in conns:
            c.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.sock.close()


@pytest.fixture
def fake_ovsdb(tmp_path) -> Iterator[Any]:
    servers: list[FakeOvsdb] = []

    def start(mode: str = "answer", reply: Any = None) -> FakeOvsdb:
        srv = FakeOvsdb(str(tmp_path / f"db{len(servers)}.sock"), mode,
                        reply)
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.close()


def test_ovsdb_answers(fake_ovsdb):
    srv = fake_ovsdb()
    res = probes.probe_ovs("unix:" + srv.path, "br-int", 2.0,
                           ["ovs_iface:dpdkvhostuserclient",
                            "ovs_iface:dpdkvhostuser",
                            "ovs_datapath:netdev"])
    assert res["ovsdb"].ok and "3.1.0" in res["ovsdb"].value
    assert res["ovs_bridge"].ok and "netdev" in res["ovs_bridge"].value
    assert res["ovs_datapath:netdev"].ok
    assert res["ovs_datapath:system"].ok  # reported, not asked
    assert res["ovs_iface:dpdkvhostuserclient"].ok
    missing = res["ovs_iface:dpdkvhostuser"]
    assert not missing.ok
    assert "does not support 'dpdkvhostuser'" in missing.reason
    assert srv.requests[0]["method"] == "transact"


def test_ovsdb_missing_bridge_and_no_vswitchd(fake_ovsdb):
    reply = [{"rows": [{"datapath_types": ["set", []],
                        "iface_types": ["set", []],
                        "ovs_version": ["set", []]}]},
             {"rows": [{"name": "br-ex", "datapath_type": "system"}]}]
    srv = fake_ovsdb(reply=reply)
    res = probes.probe_ovs("unix:" + srv.path, "br-int", 2.0,
                           ["ovs_datapath:netdev"])
    assert res["ovsdb"].ok
    assert not res["ovs_bridge"].ok
    assert "no bridge 'br-int' (bridges: br-ex)" in res["ovs_bridge"].reason
    assert "ovs-vswitchd is not running" in res["ovs_datapath:netdev"].reason


@pytest.mark.parametrize("mode, words", [
    ("silent", "no answer from ovsdb-server"),
    ("close", "closed the connection"),
    ("error", "unknown database"),
])
def test_ovsdb_failures_are_results(fake_ovsdb, mode, words):
    srv = fake_ovsdb(mode)
    res = probes.probe_ovs("unix:" + srv.path, "br-int", 0.2,
                           ["ovs_datapath:netdev"])
    for cap in ("ovsdb", "ovs_bridge", "ovs_datapath:netdev"):
        assert not res[cap].ok
        assert words in res[cap].reason, res[cap].reason


@pytest.mark.parametrize("connection, words", [
    ("unix:/nonexistent/db.sock", "No such file"),
    ("ssl:127.0.0.1:6640", "not ssl:"),
    ("tcp:nonsense", "cannot parse"),
])
def test_ovsdb_unreachable(connection, words):
    res = probes.probe_ovs(connection, "br-int", 0.2, ())
    assert not res["ovsdb"].ok and words in res["ovsdb"].reason


def test_ovsdb_tcp(tmp_path):
    # A TCP listener that never answers: cut off by the timeout.
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    try:
        port = srv.getsockname()[1]
        res = probes.probe_ovs(f"tcp:127.0.0.1:{port}", "br-int", 0.1, ())
        assert "no answer" in res["ovsdb"].reason
    finally:
        srv.close()


# --------------------------------------------------------------------------
# files, devices, plugins
# --------------------------------------------------------------------------

def test_socket_dir(tmp_path):
    assert probes.probe_socket_dir(str(tmp_path)).ok
    res = probes.probe_socket_dir(str(tmp_path / "nope"))
    assert not res.ok and "is not a directory" in res.reason


def test_sriov(tmp_path, monkeypatch):
    monkeypatch.setattr(probes.devices, "SYS_NET", str(tmp_path))
    (tmp_path / "eth0").mkdir()
    assert not probes.probe_sriov().ok
    dev = tmp_path / "ens1f0" / "device"
    dev.mkdir(parents=True)
    (dev / "sriov_totalvfs").write_text("0\n")
    assert not probes.probe_sriov().ok
    dev2 = tmp_path / "ens2f0" / "device"
    dev2.mkdir(parents=True)
    (dev2 / "sriov_totalvfs").write_text("8\n")
    res = probes.probe_sriov()
    assert res.ok and res.value == "ens2f0:8"


class _EP:
    def __init__(self, name: str, target: Any) -> None:
        self.name = name
        self.value = f"fake:{name}"
        self._target = target

    def load(self) -> Any:
        if isinstance(self._target, Exception):
            raise self._target
        return self._target


class _Info:
    plugin_name = "x"
    vif_info: list[Any] = []


def test_plugin_probe():
    class Good:
        @classmethod
        def load(cls, name):
            return cls()

        def describe(self):
            return _Info()

    class BadDescribe(Good):
        def describe(self):
            raise RuntimeError("boom")

    eps = {"good": _EP("good", Good), "broken": _EP("broken",
                                                    ImportError("no mod")),
           "bad": _EP("bad", BadDescribe)}
    assert probes.probe_plugin("good", eps).ok
    assert isinstance(probes.probe_plugin("good", eps).value, _Info)
    res = probes.probe_plugin("broken", eps)
    assert not res.ok and "does not load: ImportError: no mod" in res.reason
    res = probes.probe_plugin("bad", eps)
    assert not res.ok and "describe() failed: RuntimeError: boom" in \
        res.reason
    res = probes.probe_plugin("absent", eps)
    assert not res.ok and "is not installed" in res.reason


def test_real_plugins_are_found():
    res = probes.probe_plugin("pref_tap")
    assert res.ok and res.value.plugin_name == "pref_tap"


# --------------------------------------------------------------------------
# the cached prober
# --------------------------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def prober(monkeypatch):
    calls: list[str] = []

    def fake_run(self, fam, key, wanted):
        calls.append(fam)
        if fam == "sriov":
            raise RuntimeError("sysfs exploded")
        return {c: probes.ProbeResult(c, True, key) for c in wanted}

    monkeypatch.setattr(probes.Prober, "_run", fake_run)
    clock = Clock()
    p = probes.Prober(clock=clock)
    p.calls = calls  # type: ignore[attr-defined]
    p.clock_obj = clock  # type: ignore[attr-defined]
    return p


def test_prober_caches_for_the_ttl(prober):
    CONF.set_override("probe_cache_ttl", 10, group="os_vif_pref")
    try:
        caps = ["ovsdb", "ovs_bridge", "kernel_link:veth"]
        first = prober.probe(caps)
        assert sorted(prober.calls) == ["kernel_link", "ovsdb"]
        assert not first["ovsdb"].cached
        again = prober.probe(caps)
        assert sorted(prober.calls) == ["kernel_link", "ovsdb"]
        assert again["ovsdb"].cached and again["ovsdb"].ok
        prober.clock_obj.now += 11
        prober.probe(caps)
        assert len(prober.calls) == 4
    finally:
        CONF.clear_override("probe_cache_ttl", group="os_vif_pref")


def test_prober_reprobes_when_the_config_changes(prober):
    prober.probe(["ovsdb"])
    CONF.set_override("probe_ovsdb_connection", "unix:/elsewhere",
                      group="os_vif_pref")
    try:
        res = prober.probe(["ovsdb"])
    finally:
        CONF.clear_override("probe_ovsdb_connection", group="os_vif_pref")
    assert prober.calls == ["ovsdb", "ovsdb"]
    assert res["ovsdb"].value[0] == "unix:/elsewhere"


def test_prober_asks_again_for_new_capabilities(prober):
    prober.probe(["ovsdb"])
    res = prober.probe(["ovs_iface:dpdkvhostuserclient"])
    assert prober.calls == ["ovsdb", "ovsdb"]
    assert res["ovs_iface:dpdkvhostuserclient"].ok


def test_prober_never_raises(prober):
    res = prober.probe(["sriov", "warp_drive", "kernel_link:wormhole",
                        "plugin:"])
    assert not res["sriov"].ok
    assert "probe failed: sysfs exploded" in res["sriov"].reason
    for cap in ("warp_drive", "kernel_link:wormhole", "plugin:"):
        assert not res[cap].ok and "unknown capability" in res[cap].reason


def test_default_ovsdb_connection_is_the_plugins():
    from os_vif_pref.plugins import ovs as ovs_plugin

    probes.ovsdb._ovs_opts(CONF)
    group = ovs_plugin.CONFIG_GROUP
    CONF.set_override("ovsdb_connection", "unix:/plugin.sock", group=group)
    try:
        assert probes.ovsdb._ovs_connection() == "unix:/plugin.sock"
        CONF.set_override("probe_ovsdb_connection", "tcp:1.2.3.4:6640",
                          group="os_vif_pref")
        assert probes.ovsdb._ovs_connection() == "tcp:1.2.3.4:6640"
    finally:
        CONF.clear_override("ovsdb_connection", group=group)
        CONF.clear_override("probe_ovsdb_connection", group="os_vif_pref")


def test_probe_result_to_dict():
    d = probes.ProbeResult("x", True, object(), duration=0.0015).to_dict()
    assert d["duration_ms"] == 1.5 and isinstance(d["value"], str)


# --------------------------------------------------------------------------
# virt_vif: what the virt driver configures
# --------------------------------------------------------------------------

@pytest.fixture
def virt_conf():
    yield CONF
    CONF.clear_override("virt_driver", "os_vif_pref")


def test_libvirt_classes_are_read_from_novas_source():
    from nova.virt.libvirt import vif as libvirt_vif

    names, where = probes.libvirt_vif_classes()
    assert where.endswith("LibvirtGenericVIFDriver._get_config_os_vif")
    assert set(names) == set(probes.KNOWN_LIBVIRT_VIFS)
    # The real isinstance tests, counted independently.
    import inspect

    src = inspect.getsource(
        libvirt_vif.LibvirtGenericVIFDriver._get_config_os_vif)
    assert all(f"isinstance(vif, osv_vifs.{n})" in src for n in names)


def test_libvirt_classes_follow_the_source():
    src = '''
class LibvirtGenericVIFDriver:
    def _get_config_os_vif(self, instance, vif):
        if isinstance(vif, osv_vifs.VIFGeneric):
            pass
        elif isinstance(vif, osv_vifs.VIFDirect):
            pass
'''
    assert probes.libvirt_vif_classes(src)[0] == ("VIFGeneric", "VIFDirect")
    known, where = probes.libvirt_vif_classes("def broken(:")
    assert known == probes.KNOWN_LIBVIRT_VIFS and "known list" in where
    known, where = probes.libvirt_vif_classes("class Other: pass")
    assert known == probes.KNOWN_LIBVIRT_VIFS and "no Libvirt" in where


def test_libvirt_classes_without_nova(monkeypatch):
    monkeypatch.setattr(probes.virt, "_libvirt_vif_source", lambda: None)
    names, where = probes.libvirt_vif_classes()
    assert names == probes.KNOWN_LIBVIRT_VIFS and "not installed" in where


def test_virt_vif_under_libvirt(virt_conf):
    res = probes.Prober().probe(
        ["virt_vif:VIFOpenVSwitch", "virt_vif:VIFHostDevice",
         "virt_vif:VIFDirect", "virt_vif:VIFNestedDPDK"])
    assert res["virt_vif:VIFOpenVSwitch"].ok
    assert res["virt_vif:VIFHostDevice"].ok
    for cap in ("virt_vif:VIFDirect", "virt_vif:VIFNestedDPDK"):
        assert not res[cap].ok
        assert "Unsupported VIF type" in res[cap].reason
        assert "VIFOpenVSwitch" in res[cap].reason


@pytest.mark.parametrize("option,driver,ok", [
    (None, "libvirt", False), ("libvirt", "libvirt", False),
    ("fake", "fake", True), ("any", "any", True),
    ("vmwareapi", "vmwareapi", False)])
def test_virt_driver_option(virt_conf, option, driver, ok):
    CONF.set_override("virt_driver", option, "os_vif_pref")
    assert probes.virt_driver() == driver
    res = probes.Prober().probe(["virt_vif:VIFDirect"])["virt_vif:VIFDirect"]
    assert res.ok == ok
    if driver == "vmwareapi":
        assert "not known" in res.reason


def test_virt_driver_from_novas_compute_driver():
    conf = cfg.ConfigOpts()
    conf.register_opts(probes.probe_opts, group="os_vif_pref")
    assert probes.virt_driver(conf) == "libvirt"  # Nova's option absent
    conf.register_opt(cfg.StrOpt("compute_driver"))
    conf.set_override("compute_driver", "fake.FakeDriver")
    assert probes.virt_driver(conf) == "fake"
    conf.set_override("virt_driver", "libvirt", "os_vif_pref")
    assert probes.virt_driver(conf) == "libvirt"


def test_every_entry_requires_its_object_implicitly():
    from os_vif_pref import catalogue

    cat = catalogue.load([catalogue.bundled_files()], plugin_choice={})
    for e in cat.entries + cat.disabled:
        assert f"virt_vif:{e.vif_object}" in e.requires, e.name
        assert len(set(e.requires)) == len(e.requires)
    assert probes.known("virt_vif:VIFDirect")
