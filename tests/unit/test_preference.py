"""The preference list on small catalogues and a fake prober."""

from __future__ import annotations

import json
import logging
import textwrap
from typing import Any

from os_vif.objects import host_info as hi
from oslo_config import cfg
import pytest

from os_vif_pref import catalogue, exceptions, offer, preference, probes
from os_vif_pref.testing import cli as cli_testing

CONF = cfg.CONF

ENTRY = """\
  - name: {name}
    preference: {pref}
    neutron:
      vif_type: {vif_type}
      vnic_types: [{vnics}]
    os_vif:
      object: {obj}
      versions: {{min: "1.0", max: "{vmax}"}}
{pp}    plugin: {plugin}
    requires: [{requires}]
{extra}"""


def entry(name: str, pref: int = 100, *, vif_type: str = "tap",
          vnics: str = "normal", obj: str = "VIFGeneric", vmax: str = "1.0",
          plugin: str = "p_generic", requires: str = "", pp: str = "",
          extra: str = "") -> str:
    if pp:
        pp = ("      port_profile:\n"
              f"        object: {pp}\n"
              "        versions: {min: \"1.0\", max: \"1.4\"}\n")
    return ENTRY.format(name=name, pref=pref, vif_type=vif_type,
                        vnics=vnics, obj=obj, vmax=vmax, pp=pp,
                        plugin=plugin, requires=requires,
                        extra=textwrap.indent(textwrap.dedent(extra), "    "))


def make_cat(tmp_path, *entries: str) -> catalogue.Catalogue:
    path = tmp_path / "cat.yaml"
    path.write_text("format: 1\nentries:\n" + "".join(entries))
    cat = catalogue.load([[str(path)]], plugin_choice={})
    assert not cat.errors, [str(e) for e in cat.errors]
    return cat


def plugin_info(name: str, *vifs: tuple[str, str, str],
                profiles: dict[str, tuple[str, str, str]] | None = None,
                ) -> Any:
    """An os-vif HostPluginInfo: (object, min, max) per VIF, and per
    object an optional (port profile, min, max)."""
    profiles = profiles or {}
    infos = []
    for obj, lo, hi_ in vifs:
        pps = []
        if obj in profiles:
            pname, plo, phi = profiles[obj]
            pps.append(hi.HostPortProfileInfo(
                profile_object_name=pname, min_version=plo, max_version=phi))
        infos.append(hi.HostVIFInfo(vif_object_name=obj, min_version=lo,
                                    max_version=hi_,
                                    supported_port_profiles=pps))
    return hi.HostPluginInfo(plugin_name=name, vif_info=infos)


class FakeProber:
    """Everything present unless listed in ``missing``; plugins given."""

    def __init__(self, plugins: dict[str, Any] | None = None,
                 missing: dict[str, str] | None = None) -> None:
        self.plugins = plugins if plugins is not None else {
            "p_generic": plugin_info("p_generic", ("VIFGeneric", "1.0",
                                                   "1.0")),
            "p_bridge": plugin_info("p_bridge", ("VIFBridge", "1.0", "1.0"),
                                    ("VIFOpenVSwitch", "1.0", "1.0"),
                                    profiles={"VIFOpenVSwitch": (
                                        "VIFPortProfileOpenVSwitch", "1.0",
                                        "1.1")}),
        }
        self.missing = missing or {}
        self.asked: list[str] = []

    def probe(self, caps):
        out = {}
        for cap in caps:
            self.asked.append(cap)
            if cap.startswith("plugin:"):
                info = self.plugins.get(cap[7:])
                out[cap] = (probes.ProbeResult(cap, True, info) if info
                            else probes.ProbeResult(cap, False, None,
                                                    "not installed"))
            elif cap in self.missing:
                out[cap] = probes.ProbeResult(cap, False, None,
                                              self.missing[cap])
            else:
                out[cap] = probes.ProbeResult(cap, True, "yes")
        return out


@pytest.fixture(autouse=True)
def clean_config():
    yield
    for opt in ("preference_order", "disabled", "keep_deprecated"):
        CONF.clear_override(opt, group="os_vif_pref")


def names(plist: preference.PreferenceList, usable: bool | None = None):
    return [r.name for r in plist
            if usable is None or r.usable == usable]


# --------------------------------------------------------------------------
# order
# --------------------------------------------------------------------------

def test_order_is_preference_then_name(tmp_path):
    cat = make_cat(tmp_path, entry("b", 100, vif_type="t1"),
                   entry("a", 100, vif_type="t2"),
                   entry("c", 300, vif_type="t3"),
                   entry("d", 50, vif_type="t4"))
    plist = preference.compute(cat, FakeProber())
    assert names(plist) == ["c", "a", "b", "d"]
    assert [r.position for r in plist] == [1, 2, 3, 4]
    assert offer.decode(plist.profile()).names() == ["c", "a", "b", "d"]


def test_config_order_overrides(tmp_path):
    cat = make_cat(tmp_path, *(entry(n, p, vif_type=n) for n, p in
                               [("a", 10), ("b", 20), ("c", 30), ("d", 40)]))
    CONF.set_override("preference_order", ["b", "a"], group="os_vif_pref")
    plist = preference.compute(cat, FakeProber())
    assert names(plist) == ["b", "a", "d", "c"]


def test_unknown_configured_names_are_named(tmp_path):
    cat = make_cat(tmp_path, entry("a"))
    for option in ("preference_order", "disabled", "keep_deprecated"):
        CONF.set_override(option, ["a", "nope", "zzz"], group="os_vif_pref")
        with pytest.raises(exceptions.UnknownConfiguredEntry) as exc:
            preference.compute(cat, FakeProber())
        assert f"[os_vif_pref] {option}" in str(exc.value)
        assert "nope, zzz" in str(exc.value) and "known: a" in str(exc.value)
        # Not strict: logged, the list is still computed.
        assert names(preference.compute(cat, FakeProber(), strict=False)) \
            == ["a"]
        CONF.clear_override(option, group="os_vif_pref")


def test_disabled_by_config_and_by_catalogue(tmp_path):
    cat = make_cat(tmp_path, entry("a", vif_type="xa"),
                   entry("b", vif_type="xb"),
                   entry("c", vif_type="xc", extra="enabled: false"))
    CONF.set_override("disabled", ["a"], group="os_vif_pref")
    plist = preference.compute(cat, FakeProber())
    assert names(plist) == ["a", "b", "c"]
    assert names(plist, usable=True) == ["b"]
    assert plist.get("a").reasons == ("disabled by [os_vif_pref] disabled",)
    assert "enabled: false in the catalogue" in plist.get("c").reasons[0]


def test_deprecated_left_out_unless_kept(tmp_path, caplog):
    cat = make_cat(
        tmp_path, entry("new", vif_type="t_new"),
        entry("old", vif_type="t_old", extra="""\
            deprecated:
              replacement: new
              reason: Going away.
            """))
    plist = preference.compute(cat, FakeProber())
    old = plist.get("old")
    assert not old.usable
    assert "deprecated (use 'new' instead): Going away." in old.reasons[0]
    assert "keep_deprecated" in old.reasons[0]
    CONF.set_override("keep_deprecated", ["old"], group="os_vif_pref")
    preference._warned.discard("old")
    with caplog.at_level(logging.WARNING, logger=preference.__name__):
        plist = preference.compute(cat, FakeProber())
    old = plist.get("old")
    assert old.usable and "use 'new' instead" in old.warnings[0]
    assert "use 'new' instead" in caplog.text


# --------------------------------------------------------------------------
# plugins and probes
# --------------------------------------------------------------------------

def test_failed_requirement_makes_entry_unusable(tmp_path):
    cat = make_cat(tmp_path, entry("a", vif_type="xa", requires="ovsdb"),
                   entry("b", vif_type="xb",
                         requires='"kernel_link:tun", sriov'))
    prober = FakeProber(missing={"sriov": "no VFs"})
    plist = preference.compute(cat, prober)
    assert names(plist, usable=True) == ["a"]
    assert plist.get("b").reasons == ("needs sriov: no VFs",)
    assert {"ovsdb", "kernel_link:tun", "sriov", "plugin:p_generic"} <= set(
        prober.asked)


@pytest.mark.parametrize("info, words", [
    (None, "not installed"),
    (plugin_info("other_name", ("VIFGeneric", "1.0", "1.0")),
     "describes itself as 'other_name'"),
    (plugin_info("p_generic", ("VIFBridge", "1.0", "1.0")),
     "does not describe VIFGeneric (it describes: VIFBridge)"),
    (plugin_info("p_generic", ("VIFGeneric", "2.0", "2.1")),
     "describes VIFGeneric 2.0..2.1; the entry needs 1.0..1.0"),
])
def test_plugin_must_describe_the_entry(tmp_path, info, words):
    cat = make_cat(tmp_path, entry("a"))
    plugins = {} if info is None else {"p_generic": info}
    plist = preference.compute(cat, FakeProber(plugins=plugins))
    r = plist.get("a")
    assert not r.usable and any(words in why for why in r.reasons), r.reasons


def test_versions_are_narrowed_to_the_plugin(tmp_path):
    cat = make_cat(
        tmp_path,
        entry("o", obj="VIFOpenVSwitch", plugin="p_bridge", vif_type="ovs",
              pp="VIFPortProfileOpenVSwitch"),
        entry("g", obj="VIFBridge", plugin="p_bridge", vif_type="br",
              pp="VIFPortProfileOpenVSwitch"))
    plist = preference.compute(cat, FakeProber())
    o = plist.get("o")
    assert o.usable
    assert o.entry.port_profile.versions == catalogue.VersionRange("1.0",
                                                                   "1.1")
    item = offer.decode(plist.profile()).get("o")
    assert item.port_profile_versions == catalogue.VersionRange("1.0", "1.1")
    g = plist.get("g")
    assert not g.usable
    assert "does not describe port profile VIFPortProfileOpenVSwitch" in \
        g.reasons[0]


def test_host_info_in_preference_order(tmp_path):
    cat = make_cat(
        tmp_path,
        entry("zz-first", 900, plugin="z_plugin", vif_type="z"),
        entry("bridge", 500, obj="VIFBridge", plugin="p_bridge",
              vif_type="br"),
        entry("ovs", 600, obj="VIFOpenVSwitch", plugin="p_bridge",
              vif_type="ovs", pp="VIFPortProfileOpenVSwitch"),
        entry("generic", 100, vif_type="g"))
    prober = FakeProber()
    prober.plugins["z_plugin"] = plugin_info("z_plugin",
                                             ("VIFGeneric", "1.0", "1.0"))
    info = preference.compute(cat, prober).host_info()
    assert [p.plugin_name for p in info.plugin_info] == [
        "z_plugin", "p_bridge", "p_generic"]
    bridge = info.plugin_info[1]
    assert [v.vif_object_name for v in bridge.vif_info] == [
        "VIFOpenVSwitch", "VIFBridge"]
    pps = bridge.vif_info[0].supported_port_profiles
    assert [(p.profile_object_name, p.max_version) for p in pps] == [
        ("VIFPortProfileOpenVSwitch", "1.1")]
    # Upstream sorts by name and so loses the order.
    assert sorted(p.plugin_name for p in info.plugin_info) != [
        p.plugin_name for p in info.plugin_info]
    # os-vif's own lookup works on it.
    assert info.get_plugin("p_bridge").get_vif("VIFBridge").max_version == \
        "1.0"


# --------------------------------------------------------------------------
# instances
# --------------------------------------------------------------------------

VHU = entry("vhu", 600, vif_type="vhostuser", obj="VIFGeneric", extra="""\
    instance:
      hugepages: required
      exclude_vif_models: [e1000]
    """)
SMALL = entry("small-only", 500, vif_type="s", extra="""\
    instance:
      hugepages: forbidden
    """)
DIRECT = entry("direct", 400, vif_type="d", vnics="direct, macvtap")
PLAIN = entry("plain", 100, vif_type="p")


@pytest.mark.parametrize("instance, offered", [
    # Without a vnic_type the port's is unknown: no vnic filter.
    ({}, ["small-only", "direct", "plain"]),
    ({"vnic_type": "normal"}, ["small-only", "plain"]),
    ({"mem_page_size": "large"}, ["vhu", "direct", "plain"]),
    ({"mem_page_size": "small", "vnic_type": "normal"},
     ["small-only", "plain"]),
    ({"hugepages": True, "vif_model": "e1000", "vnic_type": "normal"},
     ["plain"]),
    ({"flavor": {"extra_specs": {"hw:mem_page_size": "2MB"}},
      "image": {"properties": {"hw_vif_model": "virtio"}},
      "port": {"binding:vnic_type": "normal"}}, ["vhu", "plain"]),
    ({"image": {"properties": {"hw_mem_page_size": "1GB"}},
      "vnic_type": "normal"}, ["vhu", "plain"]),
    ({"port": {"binding:vnic_type": "direct"}}, ["direct"]),
    ({"vnic_type": "macvtap", "mem_page_size": "large"}, ["direct"]),
])
def test_instance_rules(tmp_path, instance, offered):
    cat = make_cat(tmp_path, VHU, SMALL, DIRECT, PLAIN)
    host = preference.compute(cat, FakeProber())
    assert names(host, usable=True) == ["vhu", "small-only", "direct",
                                        "plain"]
    plist = host.for_instance(instance)
    assert names(plist, usable=True) == offered
    assert offer.decode(plist.profile()).names() == offered
    assert plist.permitted_vif_types() == (["VIFGeneric"] if offered else [])


def test_instance_reasons_are_readable(tmp_path):
    cat = make_cat(tmp_path, VHU, DIRECT)
    plist = preference.compute(cat, FakeProber(), instance={
        "vif_model": "e1000", "vnic_type": "normal"})
    assert plist.get("vhu").reasons == (
        "needs guest memory on hugepages (hw:mem_page_size); the instance "
        "has none", "not available for vif model 'e1000' (hw_vif_model)")
    assert plist.get("direct").reasons == (
        "the port asks for vnic_type 'normal'; this binding serves direct, "
        "macvtap",)


@pytest.mark.parametrize("bad, words", [
    ([], "expected a JSON/YAML object"),
    ({"vnic_type": "warp"}, "not one of Neutron's"),
    ({"vif_model": 3}, "expected a string"),
])
def test_instance_bad_input(bad, words):
    with pytest.raises(exceptions.InvalidArgument, match=words):
        preference.InstanceInfo.from_dict(bad)


# --------------------------------------------------------------------------
# the real catalogue and plugins
# --------------------------------------------------------------------------

def test_bundled_catalogue_with_real_plugins():
    """Our plugins describe exactly their entries; upstream's are checked."""
    cat = catalogue.load([catalogue.bundled_files()], plugin_choice={})
    everything_present = FakeProber(plugins={})
    real: dict[str, Any] = {}
    for name in {e.plugin for e in cat.entries}:
        res = probes.probe_plugin(name)
        if res.ok:
            real[name] = res.value
    everything_present.plugins = real
    plist = preference.compute(cat, everything_present)
    for name in ("ovs", "ovs-hybrid", "ovs-vhostuser", "linux-bridge",
                 "tap", "macvtap", "ovs-remote-managed", "vhostuser-noop"):
        assert plist.get(name).usable, plist.get(name).reasons
    # Upstream's noop plugin describes only VIFVHostUser: chosen by the
    # operator for remote-managed ports, the mismatch makes it unusable.
    upstream = catalogue.load([catalogue.bundled_files()],
                              plugin_choice={"ovs-remote-managed": "noop"})
    everything_present.plugins["noop"] = probes.probe_plugin("noop").value
    rm = preference.compute(upstream, everything_present).get(
        "ovs-remote-managed")
    assert not rm.usable and "'noop' does not describe VIFHostDevice" in \
        rm.reasons[0]
    assert not plist.get("vrouter").usable  # plugin not installed here
    assert len(json.dumps(plist.profile())) < 8 * 1024


def test_startup_check_logs_unusable(tmp_path, caplog):
    cat = make_cat(tmp_path, entry("a", plugin="absent"))
    with caplog.at_level(logging.INFO, logger=preference.__name__):
        plist = preference.startup_check(cat, FakeProber())
    assert not plist.usable
    assert "Binding a is not offered: not installed" in caplog.text
    assert "No binding of the catalogue is usable" in caplog.text


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------

run = cli_testing.run


@pytest.fixture
def fake_host(tmp_path, monkeypatch):
    cat = make_cat(tmp_path, VHU, SMALL, DIRECT, PLAIN,
                   entry("gone", 50, vif_type="gone", plugin="absent"))
    monkeypatch.setattr(catalogue, "get_catalogue", lambda: cat)
    prober = FakeProber()
    monkeypatch.setattr(probes, "default_prober", lambda: prober)
    return cat


def test_cli_preferences_json(fake_host):
    rc, out, _ = run("preferences", "-f", "json")
    assert rc == 0
    rows = json.loads(out)
    assert [r["Name"] for r in rows] == ["vhu", "small-only", "direct",
                                         "plain", "gone"]
    gone = rows[-1]
    assert gone["Usable"] is False and gone["Why"] == "not installed"
    rc, out, _ = run("preferences", "--usable", "-f", "value", "-c", "Name")
    assert out.split() == ["vhu", "small-only", "direct", "plain"]


def test_cli_profile_and_instance(fake_host, tmp_path):
    rc, out, _ = run("preferences", "--profile")
    assert rc == 0
    assert offer.from_json(out).names() == ["vhu", "small-only", "direct",
                                            "plain"]
    inst = tmp_path / "inst.yaml"
    inst.write_text("flavor:\n  extra_specs:\n    hw:mem_page_size: large\n"
                    "vnic_type: normal\n")
    rc, out, _ = run("preferences", "--profile", "--instance", str(inst))
    assert offer.from_json(out).names() == ["vhu", "plain"]
    rc, out, _ = run("preferences", "--instance", str(inst), "-f", "json")
    small = next(r for r in json.loads(out) if r["Name"] == "small-only")
    assert "cannot be used with hugepages" in small["Why"]
    rc, out, _ = run("preferences", "--host-info")
    data = json.loads(out)
    assert data["versioned_object.name"] == "HostInfo"


def test_cli_errors(fake_host, tmp_path):
    rc, _, err = run("preferences", "--instance", str(tmp_path / "none"))
    assert rc != 0 and "No such file" in err
    CONF.set_override("disabled", ["nope"], group="os_vif_pref")
    rc, _, err = run("preferences")
    assert rc != 0
    assert "[os_vif_pref] disabled names entries the catalogue does not " \
        "have: nope" in err


def test_cli_probe(fake_host):
    rc, out, _ = run("probe", "ovsdb", "bogus", "-f", "json")
    assert rc == 0
    rows = {r["Capability"]: r for r in json.loads(out)}
    assert rows["ovsdb"]["OK"] is True
    assert set(rows) == {"ovsdb", "bogus"}


HOST9 = "cmp-9." + "example." * 24      # long enough for the option's min


def test_profile_is_cut_to_the_byte_budget(tmp_path, caplog):
    cat = make_cat(tmp_path, *(entry(f"e{i}", 100 - i, vif_type=f"t{i}")
                               for i in range(6)))
    plist = preference.compute(cat, FakeProber())
    # The offer is every usable entry, for this host; the profile (what
    # Nova sends) is where the budget applies, in offer.encode only.
    assert len(plist.offer()) == 6
    assert plist.offer().host == preference.default_host()
    assert plist.offer(HOST9).host == HOST9
    full = plist.profile(HOST9)
    assert offer.decode(full).names() == [f"e{i}" for i in range(6)]
    assert offer.decode(full).host == HOST9
    four = offer.stored_size({offer.KEY: offer.encode(
        plist.offer(HOST9).items[:4], host=HOST9)})
    with caplog.at_level(logging.WARNING, logger=offer.__name__):
        cut = plist.profile(HOST9, budget=four)
    assert offer.decode(cut).names() == ["e0", "e1", "e2", "e3"]
    assert offer.stored_size(cut) == four
    assert "left out: e4, e5" in caplog.text
    CONF.set_override("offer_budget_bytes", four, group="os_vif_pref")
    try:
        assert plist.profile(HOST9) == cut
    finally:
        CONF.clear_override("offer_budget_bytes", group="os_vif_pref")


def test_default_host_is_novas_host_option():
    import socket

    conf = cfg.ConfigOpts()
    assert preference.default_host(conf) == socket.gethostname()
    conf.register_opt(cfg.StrOpt("host", default="nova-host"))
    assert preference.default_host(conf) == "nova-host"
