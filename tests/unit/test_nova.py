"""Nova side: check_binding, to_os_vif, version negotiation, migrate_check.

The equality with Nova's own converter is in tests/compat; here are the
behaviours Nova does not have (our entries, offers, versions, errors).
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

import pytest

from os_vif_pref import catalogue, exceptions, naming, neutron, nova, offer
from os_vif_pref.testing import cli as cli_testing

CAT = catalogue.load(plugin_choice={})
PORT_ID = "3f2a6a2c-1111-4222-8333-444455556666"
NET_ID = "9d7e2d3c-aaaa-4bbb-8ccc-ddddeeeeffff"


def port(vif_type: str = "ovs", vnic: str = "normal",
         **details: Any) -> dict[str, Any]:
    return {"id": PORT_ID, "network_id": NET_ID,
            "mac_address": "fa:16:3e:11:22:33", "status": "ACTIVE",
            "admin_state_up": True, "fixed_ips": [],
            "binding:vif_type": vif_type, "binding:vnic_type": vnic,
            "binding:vif_details": details, "binding:profile": {}}


def make_offer(*names: str) -> offer.Offer:
    return offer.from_entries((CAT.get(n) for n in names), host="compute-1")


def convert(p: dict, **kw: Any) -> Any:
    return nova.to_os_vif(p, catalogue=CAT, **kw)


# --------------------------------------------------------------------------
# check_binding
# --------------------------------------------------------------------------

def test_check_binding_without_offer_is_today() -> None:
    assert nova.check_binding(port("anything"), None) is None
    assert nova.check_binding(port("ovs"), {"other": 1}) is None


def test_check_binding_accepts_the_offered_item() -> None:
    o = make_offer("ovs", "ovs-hybrid")
    assert nova.check_binding(port(ovs_hybrid_plug=True), o).name == (
        "ovs-hybrid")
    assert nova.check_binding(port(), o).name == "ovs"
    # The binding:profile form is read too.
    prof = {offer.KEY: offer.encode(o)}
    assert nova.check_binding(port(), prof).name == "ovs"


def test_check_binding_refuses_with_both_sides_named() -> None:
    o = make_offer("ovs", "linux-bridge")
    with pytest.raises(nova.BindingNotAcceptable) as err:
        nova.check_binding(port(ovs_hybrid_plug=True), o)
    msg = str(err.value)
    assert PORT_ID in msg and "ovs_hybrid_plug" in msg
    assert "ovs (ovs/normal" in msg and "linux-bridge (bridge" in msg
    with pytest.raises(nova.BindingNotAcceptable, match="binding_failed"):
        nova.check_binding(port("binding_failed"), o)


def test_check_binding_required_details() -> None:
    o = make_offer("ovs-vhostuser")
    p = port("vhostuser", vhostuser_ovs_plug=True)
    with pytest.raises(nova.BindingNotAcceptable, match="vhostuser_socket"):
        nova.check_binding(p, o)
    p["binding:vif_details"]["vhostuser_socket"] = "/run/x"
    assert nova.check_binding(p, o).name == "ovs-vhostuser"


def test_check_binding_nova_vif_dict() -> None:
    vif = {"id": PORT_ID, "type": "tap", "vnic_type": "normal",
           "details": {}}
    assert nova.check_binding(vif, make_offer("tap")).name == "tap"


# --------------------------------------------------------------------------
# to_os_vif: our own entries (Nova has no conversion for them)
# --------------------------------------------------------------------------

def test_linux_bridge_port() -> None:
    obj = convert(port("bridge", port_filter=True),
                  network={"id": NET_ID, "name": "n", "mtu": 1450})
    assert obj.obj_name() == "VIFBridge"
    assert obj.plugin == "pref_linux_bridge"
    assert obj.vif_name == "tap3f2a6a2c-11"
    assert obj.bridge_name == "brq" + NET_ID[:11]
    assert obj.network.should_provide_bridge is True
    assert obj.network.mtu == 1450 and obj.network.label == "n"
    assert obj.has_traffic_filtering and obj.active


def test_tap_and_macvtap_ports() -> None:
    tap = convert(port("tap"))
    assert (tap.obj_name(), tap.plugin, tap.vif_name) == (
        "VIFGeneric", "pref_tap", "tap3f2a6a2c-11")
    mvt = convert(port("macvtap", "macvtap", macvtap_source="eth1.100",
                       macvtap_mode="vepa"))
    assert (mvt.obj_name(), mvt.mode, mvt.vlan_name) == (
        "VIFDirect", "vepa", "eth1.100")
    with pytest.raises(nova.MissingBindingValue, match="macvtap_source"):
        convert(port("macvtap"))


def test_nova_vif_dict_and_neutron_port_meet() -> None:
    a = convert(port(port_filter=True)).obj_to_primitive()
    vif = nova.vif_from_neutron_port(port(port_filter=True))
    b = convert(json.loads(json.dumps(vif))).obj_to_primitive()
    assert a == b


def test_ovs_port_fields() -> None:
    obj = convert(port(datapath_type="netdev", bridge_name="br-x"))
    assert obj.obj_name() == "VIFOpenVSwitch"
    assert obj.bridge_name == "br-x" == obj.network.bridge
    pp = obj.port_profile
    assert (pp.interface_id, pp.datapath_type, pp.create_port,
            pp.create_tap) == (PORT_ID, "netdev", True, False)


def test_integration_bridge_option() -> None:
    from oslo_config import cfg

    cfg.CONF.set_override("integration_bridge", "br-pref", "os_vif_pref")
    try:
        assert convert(port()).bridge_name == "br-pref"
    finally:
        cfg.CONF.clear_override("integration_bridge", "os_vif_pref")
    assert convert(port()).bridge_name == "br-int"


def test_plugin_choice_comes_from_the_catalogue() -> None:
    assert convert(port()).plugin == "pref_ovs"
    upstream = catalogue.load(plugin_choice={"ovs": "ovs"})
    assert nova.to_os_vif(port(), catalogue=upstream).plugin == "ovs"


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------

def test_unknown_vif_type_lists_known() -> None:
    with pytest.raises(nova.UnsupportedBinding) as err:
        convert(port("contrail_magic"))
    assert "contrail_magic" in str(err.value) and "ovs" in str(err.value)


def test_known_type_unknown_variant_lists_entries() -> None:
    with pytest.raises(nova.UnsupportedBinding, match="ovs-hybrid"):
        convert(port("ovs", "macvtap"))


def test_binding_failed_says_so() -> None:
    with pytest.raises(nova.UnsupportedBinding, match="could not bind"):
        convert(port("binding_failed"))


def test_forced_entry_contradicted_by_details() -> None:
    with pytest.raises(nova.BindingDetailsMismatch, match="ovs-hybrid"):
        convert(port(ovs_hybrid_plug=False), entry="ovs-hybrid")
    with pytest.raises(exceptions.CatalogueEntryNotFound):
        convert(port(), entry="nope")


def test_missing_vhostuser_socket() -> None:
    p = port("vhostuser", vhostuser_ovs_plug=True, vhostuser_socket="")
    with pytest.raises(nova.MissingBindingValue, match="vhostuser_socket"):
        convert(p)


def test_missing_pci_slot() -> None:
    with pytest.raises(nova.MissingBindingValue, match="pci_slot"):
        convert(port("ovs", "direct"))


def test_invalid_value_names_the_field() -> None:
    p = port("ovs", "direct")
    p["binding:profile"] = {"pci_slot": "not-a-pci-address"}
    with pytest.raises(nova.InvalidBindingValue,
                       match="(representor|dev)_address.*not-a-pci"):
        convert(p)


def test_over_long_devname() -> None:
    vif = nova.vif_from_neutron_port(port())
    vif["devname"] = "tap-this-is-far-too-long"
    with pytest.raises(naming.InvalidInterfaceName, match="bytes"):
        convert(vif)


@pytest.mark.parametrize("bad", [
    42, [], {}, {"id": PORT_ID},
    dict(port(), **{"binding:vif_details": "x"}),
    dict(port(), id=None),
    dict(port(), network_id=None),
    {"id": PORT_ID, "type": "ovs", "details": {}, "network": None},
])
def test_malformed_ports(bad: Any) -> None:
    with pytest.raises(nova.InvalidPort):
        convert(bad)


def test_vlan_without_number() -> None:
    vif = nova.vif_from_neutron_port(port())
    vif["network"]["meta"]["should_create_vlan"] = True
    with pytest.raises(nova.InvalidPort, match="vlan"):
        convert(vif)


def test_huge_offer_is_refused_fast() -> None:
    one = offer.encode(make_offer("ovs"))
    big = dict(one, i=[one["i"][0].replace("ovs ", f"e{i} ", 1)
                       for i in range(10_000)])
    t = time.perf_counter()
    with pytest.raises(exceptions.MalformedOffer, match="offer_max_items"):
        convert(port(), offer=big)
    with pytest.raises(exceptions.MalformedOffer):
        convert(port(), offer=dict(one, pad="x" * (1 << 20)))
    # Not a timing assertion on speed, only against a runaway (minutes).
    assert time.perf_counter() - t < 30


def test_to_os_vif_checks_the_offer() -> None:
    with pytest.raises(nova.BindingNotAcceptable):
        convert(port(), offer=make_offer("ovs-hybrid"))


# --------------------------------------------------------------------------
# Version negotiation
# --------------------------------------------------------------------------

def vhu_port() -> dict:
    return port("vhostuser", vhostuser_ovs_plug=True,
                vhostuser_socket="/run/vhu/s")


def vhu_offer(vif: tuple[str, str], pp: tuple[str, str],
              pp_obj: str = "VIFPortProfileOpenVSwitch") -> offer.Offer:
    item = offer.OfferItem.from_entry(CAT.get("ovs-vhostuser"))
    return offer.from_entries([dataclasses.replace(
        item, os_vif_versions=catalogue.VersionRange(*vif),
        port_profile_object=pp_obj,
        port_profile_versions=catalogue.VersionRange(*pp))],
        host="compute-1")


def test_newest_common_version_without_backlevel() -> None:
    obj = convert(vhu_port(), offer=vhu_offer(("1.0", "1.1"),
                                              ("1.0", "1.4")))
    assert obj.VERSION == "1.1" and obj.port_profile.VERSION == "1.4"
    assert obj.vif_name == "vhu3f2a6a2c-11"


def test_backlevelled_to_what_the_offer_accepts() -> None:
    obj = convert(vhu_port(), offer=vhu_offer(("1.0", "1.0"),
                                              ("1.0", "1.2")))
    prim = obj.obj_to_primitive()
    assert prim["versioned_object.version"] == "1.0"
    assert "vif_name" not in prim["versioned_object.data"]
    pp = prim["versioned_object.data"]["port_profile"]
    assert pp["versioned_object.version"] == "1.2"
    assert "create_port" not in pp["versioned_object.data"]
    assert pp["versioned_object.data"]["interface_id"] == PORT_ID
    # The object itself is consistent (what a 1.0 peer would have built).
    assert not obj.obj_attr_is_set("vif_name")


def test_profile_backlevel_to_1_0_drops_datapath_type() -> None:
    obj = convert(vhu_port(), offer=vhu_offer(("1.0", "1.1"),
                                              ("1.0", "1.0")))
    pp = obj.obj_to_primitive()["versioned_object.data"]["port_profile"]
    assert pp["versioned_object.version"] == "1.0"
    assert "datapath_type" not in pp["versioned_object.data"]


def test_offer_newer_than_installed_builds_installed() -> None:
    obj = convert(vhu_port(), offer=vhu_offer(("1.0", "1.9"),
                                              ("1.0", "1.9")))
    assert obj.VERSION == "1.1" and obj.port_profile.VERSION == "1.4"


@pytest.mark.parametrize("vif,pp,what", [
    (("2.0", "2.1"), ("1.0", "1.4"), "VIFVHostUser"),
    (("1.0", "1.1"), ("3.0", "3.0"), "VIFPortProfileOpenVSwitch"),
])
def test_no_common_version(vif, pp, what) -> None:
    with pytest.raises(nova.NoCommonVersion, match=what):
        convert(vhu_port(), offer=vhu_offer(vif, pp))


def test_offer_expecting_other_profile() -> None:
    with pytest.raises(nova.BindingDetailsMismatch, match="FPOpenVSwitch"):
        convert(vhu_port(), offer=vhu_offer(
            ("1.0", "1.1"), ("1.0", "1.4"), "VIFPortProfileFPOpenVSwitch"))


def test_negotiate_version_directly() -> None:
    r = catalogue.VersionRange
    assert nova.negotiate_version("X", "1.4", r("1.0", "1.4"),
                                  r("1.2", "1.3"), "e") == "1.3"
    assert nova.negotiate_version("X", "1.2", r("1.0", "1.4"),
                                  None, "e") == "1.2"
    with pytest.raises(nova.NoCommonVersion):
        nova.negotiate_version("X", "1.2", r("1.3", "1.4"), None, "e")


# --------------------------------------------------------------------------
# Live migration
# --------------------------------------------------------------------------

def test_migrate_same_binding() -> None:
    v = nova.migrate_check(port(), make_offer("ovs-vhostuser", "ovs"))
    assert (v.status, v.entry, v.ok) == ("same", "ovs", True)


def test_migrate_rebind_same_type_first() -> None:
    v = nova.migrate_check(port(), make_offer("linux-bridge", "ovs-hybrid"))
    assert v.status == "rebind" and v.bind_instead.name == "ovs-hybrid"
    assert not v.ok


def test_migrate_rebind_other_type() -> None:
    v = nova.migrate_check(port(), make_offer("tap", "linux-bridge"))
    assert v.bind_instead.name == "tap"
    assert "no binding of the same vif_type" in v.reason


def test_migrate_with_served_uses_the_chooser() -> None:
    v = nova.migrate_check(port(), make_offer("tap", "linux-bridge"),
                           served=[neutron.Served("bridge")])
    assert v.bind_instead.name == "linux-bridge"
    v = nova.migrate_check(port(), make_offer("tap"),
                           served=[neutron.Served("bridge")])
    assert v.status == "impossible"


def test_migrate_impossible_and_unknown() -> None:
    v = nova.migrate_check(port("ovs", "direct"), make_offer("tap"))
    assert v.status == "impossible" and "direct" in v.reason
    assert nova.migrate_check(port(), None).status == "unknown"
    assert nova.migrate_check(port(), None).to_dict()["bind_instead"] is None


# --------------------------------------------------------------------------
# os-vif-pref convert / migrate-check
# --------------------------------------------------------------------------

cli = cli_testing.run


def test_cli_convert_neutron_port(tmp_path) -> None:
    f = tmp_path / "port.json"
    f.write_text(json.dumps(port(port_filter=True)))
    net = tmp_path / "net.json"
    net.write_text(json.dumps({"id": NET_ID, "name": "n1", "mtu": 1400}))
    rc, out, err = cli("convert", str(f), "--network", str(net))
    assert rc == 0, err
    prim = json.loads(out)
    data = prim["versioned_object.data"]
    assert prim["versioned_object.name"] == "VIFOpenVSwitch"
    assert data["vif_name"] == "tap3f2a6a2c-11"
    assert data["network"]["versioned_object.data"]["mtu"] == 1400


def test_cli_convert_honours_offer_versions(tmp_path) -> None:
    off = tmp_path / "offer.json"
    off.write_text(json.dumps({offer.KEY: offer.encode(vhu_offer(
        ("1.0", "1.0"), ("1.0", "1.1")))}))
    rc, out, err = cli("convert", "-", "--offer", str(off),
                       stdin=json.dumps(vhu_port()))
    assert rc == 0, err
    prim = json.loads(out)
    assert prim["versioned_object.version"] == "1.0"
    assert prim["versioned_object.data"]["port_profile"][
        "versioned_object.version"] == "1.1"


@pytest.mark.parametrize("p,msg", [
    (port("nope"), "No enabled catalogue entry"),
    (port("vhostuser", vhostuser_ovs_plug=True), "vhostuser_socket"),
    ({"hello": 1}, "neither a Neutron port"),
    (dict(port(), **{"binding:profile": {offer.KEY: {"v": "2.0",
                                                     "i": "x"}}}),
     "Malformed"),
])
def test_cli_convert_errors_are_clear(p, msg) -> None:
    rc, out, err = cli("convert", "-", stdin=json.dumps(p))
    assert rc == 1 and msg in err and "Traceback" not in err
    assert out == ""


def test_cli_convert_missing_file() -> None:
    rc, _, err = cli("convert", "/nonexistent/port.json")
    assert rc == 1 and "No such file" in err


def test_cli_migrate_check(tmp_path) -> None:
    f = tmp_path / "port.json"
    f.write_text(json.dumps(port()))
    rc, out, _ = cli("migrate-check", str(f), "--offer", "-", "-f", "json",
                     stdin=json.dumps({offer.KEY: offer.encode(
                         make_offer("ovs-hybrid", "linux-bridge"))}))
    assert rc == 0
    data = json.loads(out)
    assert (data["status"], data["bind_instead"], data["vif_type"]) == (
        "rebind", "ovs-hybrid", "ovs")
    rc, out, _ = cli("migrate-check", str(f), "--offer", "-", "--serve",
                     "bridge", "-f", "json",
                     stdin=json.dumps({offer.KEY: offer.encode(
                         make_offer("ovs-hybrid", "linux-bridge"))}))
    assert json.loads(out)["bind_instead"] == "linux-bridge"
    rc, out, _ = cli("migrate-check", str(f), "--offer", "-", "-f", "json",
                     stdin=json.dumps(offer.encode(make_offer("ovs"))))
    assert json.loads(out)["status"] == "same"


# --------------------------------------------------------------------------
# Fuzzing: any JSON-shaped input converts or raises one of our errors
# --------------------------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(),
                         st.text(max_size=20))
JSON = st.recursive(JSON_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.text(max_size=10), inner, max_size=4)), max_leaves=12)
KEYS = ["id", "network_id", "mac_address", "status", "fixed_ips",
        "binding:vif_type", "binding:vnic_type", "binding:vif_details",
        "binding:profile", "devname", "network", "type", "details",
        "profile", "vnic_type", "ovs_interfaceid"]
DETAIL_KEYS = ["ovs_hybrid_plug", "vhostuser_socket", "vhostuser_ovs_plug",
               "vhostuser_fp_plug", "port_filter", "datapath_type",
               "bridge_name", "macvtap_source", "vhostuser_mode"]


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(base=st.sampled_from([
    port(), port(ovs_hybrid_plug=True), vhu_port(), port("tap"),
    port("bridge"), port("macvtap", macvtap_source="eth0"),
    port("ovs", "direct"), port("agilio_ovs", "virtio-forwarder"),
    dict(nova.vif_from_neutron_port(port()))]),
    top=st.dictionaries(st.sampled_from(KEYS), JSON, max_size=3),
    details=st.dictionaries(st.sampled_from(DETAIL_KEYS), JSON, max_size=3))
def test_fuzz_never_an_unexpected_exception(base, top, details) -> None:
    p = json.loads(json.dumps(base))
    p.update(top)
    for key in ("binding:vif_details", "details"):
        if isinstance(p.get(key), dict):
            p[key].update(details)
    try:
        obj = convert(p)
    except exceptions.OsVifPrefException as exc:
        assert str(exc)
        return
    assert obj.obj_to_primitive()


def test_operator_plugin_choice_through_config() -> None:
    from oslo_config import cfg

    assert nova.to_os_vif(port()).plugin == "pref_ovs"
    cfg.CONF.set_override("plugin_choice", {"ovs": "ovs"}, "os_vif_pref")
    try:
        assert nova.to_os_vif(port()).plugin == "ovs"
        assert nova.to_os_vif(port(ovs_hybrid_plug=True)).plugin == (
            "pref_ovs")
    finally:
        cfg.CONF.clear_override("plugin_choice", "os_vif_pref")
    assert nova.to_os_vif(port()).plugin == "pref_ovs"


# --------------------------------------------------------------------------
# nova_to_osvif_vif: the drop-in (compared with Nova branch by branch in
# tests/compat; here what holds without Nova's converter)
# --------------------------------------------------------------------------

def nova_vif(vif_type: str = "ovs", vnic: str = "normal",
             **details: Any) -> dict[str, Any]:
    return nova.vif_from_neutron_port(port(vif_type, vnic, **details))


@pytest.mark.parametrize("vif_type", sorted(
    nova.dropin.KNOWN_LEGACY_VIFS | nova.dropin.NOT_BOUND))
def test_dropin_returns_none_where_nova_does(vif_type: str) -> None:
    assert nova.nova_to_osvif_vif(nova_vif(vif_type), catalogue=CAT) is None


def test_dropin_constants_are_novas() -> None:
    from nova.network import model, os_vif_util

    assert nova.dropin.legacy_vif_types() == os_vif_util.LEGACY_VIFS
    assert nova.dropin.KNOWN_LEGACY_VIFS == os_vif_util.LEGACY_VIFS
    assert nova.dropin.NIC_NAME_LEN == model.NIC_NAME_LEN
    assert nova.dropin.NOT_BOUND == {model.VIF_TYPE_BINDING_FAILED,
                                     model.VIF_TYPE_UNBOUND}


def test_dropin_raises_novas_classes() -> None:
    from nova import exception

    with pytest.raises(exception.NovaException,
                       match="^Unsupported VIF type wibble$"):
        nova.nova_to_osvif_vif(nova_vif("wibble"), catalogue=CAT)
    with pytest.raises(exception.VifDetailsMissingVhostuserSockPath):
        nova.nova_to_osvif_vif(nova_vif("vhostuser", vhostuser_ovs_plug=True),
                               catalogue=CAT)
    with pytest.raises(NotImplementedError):
        nova.nova_to_osvif_vif(nova_vif("vrouter", "macvtap"), catalogue=CAT)


def test_dropin_fallback_exceptions_keep_novas_messages(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Without Nova, our stand-ins carry Nova's messages."""
    import builtins

    real_import = builtins.__import__

    def no_nova(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "nova" or name.startswith("nova."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    nova.dropin.nova_exceptions.cache_clear()
    monkeypatch.setattr(builtins, "__import__", no_nova)
    try:
        base, sock = nova.nova_exceptions()
        assert base is nova.dropin.NovaException
        assert issubclass(base, exceptions.OsVifPrefException)
        with pytest.raises(sock, match=(
                "^vhostuser_sock_path not present in vif_details for vif "
                f"{PORT_ID}$")):
            nova.nova_to_osvif_vif(
                nova_vif("vhostuser", vhostuser_ovs_plug=True),
                catalogue=CAT)
        with pytest.raises(base, match="^Linux bridge VIF type is no longer"):
            nova.nova_to_osvif_vif(
                nova_vif("bridge"), catalogue=catalogue.Catalogue(entries=()))
    finally:
        monkeypatch.undo()
        nova.dropin.nova_exceptions.cache_clear()


def test_dropin_uses_the_catalogue_plugin_and_converts_bridge() -> None:
    obj = nova.nova_to_osvif_vif(nova_vif("ovs"), catalogue=CAT)
    assert (obj.obj_name(), obj.plugin) == ("VIFOpenVSwitch",
                                           CAT.get("ovs").plugin)
    up = catalogue.load(plugin_choice={"ovs": "ovs"})
    assert nova.nova_to_osvif_vif(nova_vif("ovs"), catalogue=up).plugin == (
        "ovs")
    br = nova.nova_to_osvif_vif(nova_vif("bridge"), catalogue=CAT)
    assert (br.obj_name(), br.plugin) == ("VIFBridge", "pref_linux_bridge")


def test_dropin_disabled_entry_is_a_nova_exception() -> None:
    from nova import exception

    only_hybrid = catalogue.Catalogue(entries=(CAT.get("ovs-hybrid"),))
    with pytest.raises(exception.NovaException,
                       match="No enabled catalogue entry converts VIF type "
                             "ovs"):
        nova.nova_to_osvif_vif(nova_vif("ovs"), catalogue=only_hybrid)
    assert nova.nova_to_osvif_vif(
        nova_vif("ovs", ovs_hybrid_plug=True),
        catalogue=only_hybrid).obj_name() == "VIFBridge"


def test_dropin_nova_route_follows_novas_fall_through() -> None:
    r = nova.nova_route
    assert r("ovs", "macvtap") == (("ovs", "macvtap"), ("ovs", "normal"))
    assert r("ovs", "direct") == (("ovs", "direct"),)
    assert r("agilio_ovs", "vdpa") == (("agilio_ovs", "vdpa"),
                                       ("ovs", "vdpa"))
    assert r("ivs", "direct")[-1] == ("ivs", "normal")
    assert r("vrouter", "macvtap") == (("vrouter", "macvtap"),)
