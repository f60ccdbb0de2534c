"""Probes and the preference list against the real kernel and a private OVS.

The private ovsdb-server/ovs-vswitchd run inside the session's test network
namespace, with their own bridge name (``br-probe``) so they never collide
with the OVS plugin tests' ``br-int``.  Expectations are read back from OVS
with ``ovs-vsctl`` and from the kernel, never hard-coded.
"""

from __future__ import annotations

from collections.abc import Iterator
import io
import json
import os
import socket
import tempfile

from oslo_config import cfg
import pytest

from os_vif_pref import catalogue, offer, preference, probes
from os_vif_pref.cli import main as cli_main
from os_vif_pref.testing import private_ovs

pytestmark = pytest.mark.functional

BRIDGE = "br-probe"


@pytest.fixture(scope="module")
def ovs(test_netns: str) -> Iterator[private_ovs.PrivateOVS]:
    with private_ovs.PrivateOVS(bridges=(BRIDGE,)) as server:
        yield server


@pytest.fixture
def conf(ovs: private_ovs.PrivateOVS) -> Iterator[cfg.ConfigOpts]:
    """A private ConfigOpts: never disturbs the process-wide overrides
    other functional tests rely on."""
    from os_vif_pref.plugins import ovs as ovs_plugin

    c = cfg.ConfigOpts()
    c.register_opts(probes.probe_opts, group="os_vif_pref")
    c.register_opts(preference.preference_opts, group="os_vif_pref")
    c.register_opts(ovs_plugin.OvsPlugin.CONFIG_OPTS,
                    group=ovs_plugin.CONFIG_GROUP)
    c([])
    with tempfile.TemporaryDirectory(prefix="vhu-") as vhu:
        c.set_override("ovsdb_connection", ovs.connection,
                       group=ovs_plugin.CONFIG_GROUP)
        c.set_override("vhostuser_socket_dir", vhu,
                       group=ovs_plugin.CONFIG_GROUP)
        c.set_override("probe_ovs_bridge", BRIDGE, group="os_vif_pref")
        c.set_override("probe_timeout", 5.0, group="os_vif_pref")
        yield c


def vsctl_set(ovs: private_ovs.PrivateOVS, column: str) -> list[str]:
    out = json.loads(ovs.vsctl("--format=json", "--data=json", "--columns="
                               + column, "list", "Open_vSwitch"))
    value = out["data"][0][0]
    return sorted(value[1] if isinstance(value, list) and value[0] == "set"
                  else [value])


def test_ovs_capabilities_match_what_vswitchd_reports(ovs, conf):
    prober = probes.Prober(conf=conf)
    ifaces = vsctl_set(ovs, "iface_types")
    datapaths = vsctl_set(ovs, "datapath_types")
    assert "netdev" in datapaths
    res = prober.probe(["ovsdb", "ovs_bridge", "ovs_datapath:netdev",
                        "ovs_iface:dpdkvhostuserclient"])
    assert res["ovsdb"].ok, res["ovsdb"].reason
    assert ovs.connection in res["ovsdb"].value
    assert res["ovs_bridge"].ok
    assert res["ovs_bridge"].value == f"{BRIDGE} (datapath netdev)"
    assert res["ovs_datapath:netdev"].ok
    dpdk = res["ovs_iface:dpdkvhostuserclient"]
    assert dpdk.ok == ("dpdkvhostuserclient" in ifaces)
    if not dpdk.ok:
        assert "does not support 'dpdkvhostuserclient'" in dpdk.reason
    everything = prober.probe_all()
    for t in ifaces:
        assert everything[f"ovs_iface:{t}"].ok
    for t in datapaths:
        assert everything[f"ovs_datapath:{t}"].ok


def test_bridge_missing_names_the_bridges(ovs, conf):
    conf.set_override("probe_ovs_bridge", "br-absent", group="os_vif_pref")
    res = probes.Prober(conf=conf).probe(["ovs_bridge"])["ovs_bridge"]
    assert not res.ok
    assert "no bridge 'br-absent'" in res.reason and BRIDGE in res.reason


def test_unreachable_and_hung_ovsdb(conf, tmp_path):
    conf.set_override("probe_timeout", 0.3, group="os_vif_pref")
    conf.set_override("probe_ovsdb_connection",
                      f"unix:{tmp_path}/gone.sock", group="os_vif_pref")
    res = probes.Prober(conf=conf).probe(["ovsdb", "ovs_bridge"])
    assert not res["ovsdb"].ok and "No such file" in res["ovsdb"].reason
    # A socket that accepts and never answers (a wedged ovsdb-server).
    path = os.path.join(tempfile.mkdtemp(prefix="hung-"), "db.sock")
    hung = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        hung.bind(path)
        hung.listen(1)
        conf.set_override("probe_ovsdb_connection", "unix:" + path,
                          group="os_vif_pref")
        res = probes.Prober(conf=conf).probe(["ovsdb"])["ovsdb"]
        assert not res.ok and "no answer from ovsdb-server" in res.reason
        assert "within 0.3s" in res.reason
    finally:
        hung.close()
        os.unlink(path)
        os.rmdir(os.path.dirname(path))


def test_kernel_link_kinds_agree_with_a_namespace_test():
    """The cheap static probe and the real one (devices created in a
    throw-away namespace) give the same answer on this kernel."""
    static = probes.probe_kernel_links(5.0)
    real = probes.probe_links_in_netns(list(probes.LINK_KINDS) + [
        "nosuchkind"], 5.0)
    for kind in probes.LINK_KINDS:
        cap = f"kernel_link:{kind}"
        assert static[cap].ok == real[cap].ok, (static[cap], real[cap])
    assert real["kernel_link:bridge"].ok and real["kernel_link:veth"].ok
    nope = real["kernel_link:nosuchkind"]
    assert not nope.ok and "no 'nosuchkind' link kind" in nope.reason


def test_preference_list_on_this_host(ovs, conf):
    cat = catalogue.load([catalogue.bundled_files()], plugin_choice={})
    prober = probes.Prober(conf=conf)
    plist = preference.compute(cat, prober, conf=conf)
    dpdk = "dpdkvhostuserclient" in vsctl_set(ovs, "iface_types")
    for name in ("ovs", "ovs-hybrid", "linux-bridge", "tap"):
        assert plist.get(name).usable, plist.get(name).reasons
    # Nova's libvirt driver (the default virt driver) cannot configure
    # macvtap's VIFDirect: not offered (probes virt_vif:CLASS).
    mvt = plist.get("macvtap")
    assert not mvt.usable and any("virt_vif:VIFDirect" in r
                                  for r in mvt.reasons), mvt.reasons
    vhu = plist.get("ovs-vhostuser")
    assert vhu.usable == dpdk
    if not dpdk:
        assert any("ovs_iface:dpdkvhostuserclient" in r
                   for r in vhu.reasons)
    usable = [r.name for r in plist if r.usable]
    assert usable.index("ovs") < usable.index("ovs-hybrid") < usable.index(
        "linux-bridge")
    # The payload round-trips and is what the list says.
    assert offer.decode(plist.profile()).names() == usable
    # The HostInfo has pref_ovs first (upstream's would sort it by name).
    info = plist.host_info()
    assert info.plugin_info[0].plugin_name in {
        e.plugin for e in cat.entries if e.name == usable[0]}
    # vhost-user is not offered to an instance without hugepages.
    inst = plist.for_instance({"vnic_type": "normal"})
    assert not inst.get("ovs-vhostuser").usable


def test_cli_probe_and_preferences_with_a_config_file(ovs, tmp_path):
    conf_file = tmp_path / "os-vif-pref.conf"
    conf_file.write_text(
        "[os_vif_pref]\n"
        f"probe_ovsdb_connection = {ovs.connection}\n"
        f"probe_ovs_bridge = {BRIDGE}\n"
        "preference_order = tap\n")
    before = probes.prober._default
    probes.prober._default = None  # a fresh cache for this configuration
    try:
        out, err = io.StringIO(), io.StringIO()
        app = cli_main.OsVifPrefApp()
        app.stdout, app.stderr = out, err
        rc = app.run(["--config-file", str(conf_file), "probe", "-f",
                      "json"])
        assert rc == 0, err.getvalue()
        rows = {r["Capability"]: r for r in json.loads(out.getvalue())}
        assert rows["ovsdb"]["OK"] and rows["ovs_bridge"]["OK"]
        assert rows["ovsdb"]["Time (ms)"] > 0
        out = io.StringIO()
        app = cli_main.OsVifPrefApp()
        app.stdout, app.stderr = out, err
        rc = app.run(["--config-file", str(conf_file), "preferences",
                      "--profile"])
        assert rc == 0, err.getvalue()
        names = offer.from_json(out.getvalue()).names()
        assert names[0] == "tap" and "ovs" in names
    finally:
        probes.prober._default = before
        cfg.CONF([], project="os-vif-pref", default_config_files=[],
                 default_config_dirs=[])
