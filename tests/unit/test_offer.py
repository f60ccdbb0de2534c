"""The binding:profile wire format (version 2): sizes as Neutron stores
them, budget, round trips, tolerance of newer peers, bounds."""

from __future__ import annotations

import copy
import dataclasses
import json
import logging

from hypothesis import given, settings
from hypothesis import strategies as st
from oslo_config import cfg
import pytest

from os_vif_pref import catalogue, exceptions, offer, preference, probes

CONF = cfg.CONF
HOST = "compute-0001.example.org"

#: Nova's keys for an SR-IOV port (nova/network/neutron.py
#: _populate_neutron_binding_profile, _get_pci_device_profile and the
#: allocation of an extended resource request), generous values.
SRIOV_KEYS = {
    "pci_slot": "0000:81:10.7",
    "pci_vendor_info": "15b3:101e",
    "physical_network": "physnet-sriov-datacentre-0001",
    "capabilities": ["switchdev"],
    "allocation": {
        "4b1b9aa0-2a0b-4f8c-9a8e-0d2c1d7b0c11":
            "2f2c5c5e-7b35-4c9a-8a6e-5e1f0c4b9d22",
        "7c2e1f44-9d3a-4b6f-8e2d-1a0b3c4d5e66":
            "9e8d7c6b-5a49-4382-b7c6-d5e4f3a2b1c0"},
    "card_serial_number": "MT2116X09299",
    "pf_mac_address": "b8:ce:f6:12:34:56",
    "vf_num": 63,
}


@pytest.fixture(scope="module")
def cat() -> catalogue.Catalogue:
    return catalogue.load([catalogue.bundled_files()], strict=True,
                          plugin_choice={})


class DpdkHost:
    """A typical OVS-DPDK compute host: OVS with the netdev datapath and
    dpdkvhostuserclient ports, kernel bridges/veth/tun/macvtap, no SR-IOV;
    the os-vif plugins are the ones really installed here (os-vif's and
    this package's)."""

    def __init__(self) -> None:
        self.real = probes.default_prober()

    def probe(self, caps):
        plugins = [c for c in caps if c.startswith("plugin:")]
        out = dict(self.real.probe(plugins)) if plugins else {}
        for cap in caps:
            if cap in plugins:
                continue
            out[cap] = (probes.ProbeResult(cap, False, None, "no VFs")
                        if cap == "sriov" else
                        probes.ProbeResult(cap, True, "yes"))
        return out


def stored(value: dict) -> int:
    """Characters as Neutron stores ``{KEY: value}`` (ML2's
    jsonutils.dumps of the profile)."""
    from oslo_serialization import jsonutils

    return len(jsonutils.dumps({offer.KEY: value}))


# --------------------------------------------------------------------------
# Sizes and budget


def test_whole_bundled_catalogue_fits_1536(cat):
    # Every entry forced usable: the catalogue itself, not a host's subset.
    value = offer.encode(cat.entries, host=HOST)
    assert offer.decode({offer.KEY: value}).names() == [
        e.name for e in cat.entries]
    assert len(cat.entries) >= 20
    size = stored(value)
    assert size == offer.stored_size({offer.KEY: value})
    assert size <= 1536, size


def test_typical_dpdk_host_fits_512(cat):
    plist = preference.compute(cat, DpdkHost())
    names = [e.name for e in plist.usable]
    assert names[0] == "ovs-vhostuser"
    assert {"ovs", "ovs-hybrid", "linux-bridge", "tap"} <= set(names)
    profile = plist.profile(HOST)
    assert offer.decode(profile).names() == names       # nothing cut
    size = offer.stored_size(profile)
    assert size <= 512, (size, profile)


def _many_items(n: int) -> list[offer.OfferItem]:
    base = offer.OfferItem.from_entry(catalogue.load(
        [catalogue.bundled_files()]).get("ovs-vhostuser"))
    return [dataclasses.replace(base, name=f"vendor-binding-{i:03d}")
            for i in range(n)]


def test_encoder_keeps_the_budget_and_says_what_it_left_out(caplog):
    items = _many_items(100)
    with caplog.at_level(logging.WARNING, logger=offer.__name__):
        value = offer.encode(items, host=HOST, budget=700)
    size = stored(value)
    assert size <= 700
    kept = offer.decode({offer.KEY: value}).names()
    assert kept == [i.name for i in items[:len(kept)]]   # most preferred
    # ... and as many as fit: one more would not.
    more = offer.encode(items[:len(kept) + 1], host=HOST, budget=10_000)
    assert stored(more) > 700
    assert "offer_budget_bytes = 700" in caplog.text
    assert f"left out: {items[len(kept)].name}," in caplog.text
    assert f"and {len(items) - len(kept) - 20} more" in caplog.text
    # Below the budget nothing is cut and nothing is logged.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=offer.__name__):
        offer.encode(items[:3], host=HOST, budget=700)
    assert caplog.text == ""


def test_budget_is_exact_at_every_cut():
    items = _many_items(30)
    for budget in range(256, 1600, 37):
        value = offer.encode(items, host=HOST, budget=budget)
        n = len(value["i"])
        assert stored(value) <= budget
        if n < len(items):
            assert stored(offer.encode(items[:n + 1], host=HOST,
                                       budget=4095)) > budget


def test_default_budget_leaves_room_for_novas_sriov_keys():
    """The largest offer the encoder makes (at its default budget) next to
    an SR-IOV port's keys stays within Neutron's 4,095 characters."""
    value = offer.encode(_many_items(200), host="h" * 255)
    assert len(value["i"]) < 200                 # it was cut to the budget
    profile = dict(SRIOV_KEYS, **{offer.KEY: value})
    from oslo_serialization import jsonutils

    total = len(jsonutils.dumps(profile))
    assert total == (len(jsonutils.dumps(SRIOV_KEYS)) + stored(value))
    assert stored(value) <= CONF.os_vif_pref.offer_budget_bytes
    assert total < offer.PROFILE_MAX, total
    assert offer.decode(profile).host == "h" * 255


def test_budget_option_and_one_item_too_large():
    items = _many_items(40)
    CONF.set_override("offer_budget_bytes", 300, group="os_vif_pref")
    try:
        assert stored(offer.encode(items, host=HOST)) <= 300
    finally:
        CONF.clear_override("offer_budget_bytes", group="os_vif_pref")
    with pytest.raises(exceptions.OfferTooLarge,
                       match="vendor-binding-000 alone takes"):
        offer.encode(items, host=HOST, budget=100)
    # An empty offer ("nothing usable here") is a valid offer.
    assert offer.encode([], host=HOST)["i"] == []


def test_max_items_also_bounds_the_sender():
    CONF.set_override("offer_max_items", 3, group="os_vif_pref")
    try:
        value = offer.encode(_many_items(5), host=HOST)
    finally:
        CONF.clear_override("offer_max_items", group="os_vif_pref")
    assert len(value["i"]) == 3


# --------------------------------------------------------------------------
# Round trip, host, format


def test_round_trip_of_the_bundled_catalogue(cat):
    value = offer.encode(cat.entries, host=HOST)
    decoded = offer.decode({offer.KEY: value})
    assert decoded is not None
    assert (decoded.version, decoded.minor) == (offer.VERSION, offer.MINOR)
    assert decoded.host == HOST
    assert decoded.items == tuple(offer.OfferItem.from_entry(e)
                                  for e in cat.entries)
    assert offer.encode(decoded) == value
    assert decoded.to_dict() == value
    # Survives a real JSON trip (what Neutron stores and returns).
    assert offer.decode(json.loads(json.dumps({offer.KEY: value}))) == \
        decoded


def test_the_offer_names_its_host(cat):
    o = offer.from_entries([cat.get("ovs")], host="cmp-a")
    assert offer.encode(o)["h"] == "cmp-a"
    assert offer.encode(o, host="cmp-b")["h"] == "cmp-b"
    got = offer.decode({offer.KEY: offer.encode(o)})
    assert got.host == "cmp-a" and got.for_host("cmp-a")
    assert not got.for_host("cmp-b") and not got.for_host(None)
    with pytest.raises(ValueError, match="names the host"):
        offer.encode([cat.get("ovs")])
    with pytest.raises(exceptions.MalformedOffer, match="h: expected"):
        offer.decode({offer.KEY: {"v": "2.0", "i": []}})


def test_item_wire_form(cat):
    value = offer.encode([cat.get("ovs-vhostuser"), cat.get("tap"),
                          cat.get("macvtap"), cat.get("ovs-direct")],
                         host=HOST)
    assert value == {
        "v": "2.0", "h": HOST,
        "o": ["v 1.0-1.1", "po 1.0-1.4", "g 1.0", "d 1.0", "h 1.0",
              "pr 1.0-1.4"],
        "i": ["ovs-vhostuser vhostuser n 0,1 vo !vf *vs",
              "tap tap n 2",
              "macvtap macvtap nm 3 *ms",
              "ovs-direct ovs dv 4,5"]}
    vhu = offer.decode({offer.KEY: value}).get("ovs-vhostuser")
    assert vhu.vif_details == {"vhostuser_ovs_plug": True,
                               "vhostuser_fp_plug": False}
    assert vhu.required_details == ("vhostuser_socket",)
    assert (vhu.os_vif_object, vhu.os_vif_versions) == (
        "VIFVHostUser", catalogue.VersionRange("1.0", "1.1"))
    assert vhu.port_profile_object == "VIFPortProfileOpenVSwitch"
    # The readable form (messages, CLI) is not the wire form.
    assert vhu.to_dict()["vif_details"] == dict(vhu.vif_details)


def test_details_the_tokens_cannot_spell_use_the_array_form(cat):
    base = offer.OfferItem.from_entry(cat.get("ovs"))
    odd = dataclasses.replace(
        base, name="odd", vif_details={
            "ovs_hybrid_plug": False, "mtu_hint": 9000, "nothing": None,
            "spaced": "a b", "hy": True, "mode": "server"},
        required_details=("vhostuser_socket", "odd key"),
        os_vif_object="VIFFutureThing",
        os_vif_versions=catalogue.VersionRange("2.0", "2.3"))
    value = offer.encode([odd], host=HOST)
    assert value["o"][0] == "VIFFutureThing 2.0-2.3"
    assert value["i"][0] == [
        "odd ovs n 0,1 !hy mode=server *vs",
        {"mtu_hint": 9000, "nothing": None, "spaced": "a b", "hy": True},
        ["odd key"]]
    back = offer.decode(json.loads(json.dumps({offer.KEY: value})))
    assert back.items == (odd,)


def test_item_accepts_like_the_catalogue(cat):
    o = offer.decode({offer.KEY: offer.encode(cat.entries, host=HOST)})
    for vif_type, vnic, details in [
            ("ovs", "normal", {"ovs_hybrid_plug": True}),
            ("ovs", "normal", {}),
            ("ovs", "direct", None),
            ("vhostuser", "normal", {"vhostuser_ovs_plug": True}),
            ("bridge", "normal", {"port_filter": True})]:
        assert [i.name for i in o.find(vif_type, vnic, details)] == [
            e.name for e in cat.find(vif_type, vnic, details)]


def test_no_offer_is_none():
    assert offer.decode(None) is None
    assert offer.decode({}) is None
    assert offer.decode({"pci_slot": "0000:00:01.0"}) is None
    assert offer.decode({offer.KEY: None}) is None
    assert offer.read_offer({"pci_slot": "x"}) == (None, None)


# --------------------------------------------------------------------------
# Peers of other versions


def _tap_value(**extra) -> dict:
    return dict({"v": "2.0", "h": HOST, "o": ["g 1.0"],
                 "i": ["tap tap n 0"]}, **extra)


def test_newer_minor_is_read_and_its_additions_ignored():
    value = _tap_value(v="2.7", future={"anything": [1, 2]}, x=None)
    value["i"] = [["tap tap nZ 0 ~newtoken ^x=1", {}, [], "future"],
                  "only-new tap Z 0"]     # no vnic type known here: skipped
    got = offer.decode({offer.KEY: value})
    assert (got.version, got.minor) == (2, 7)
    assert got.names() == ["tap"]
    assert got.items[0].vnic_types == ("normal",)
    assert got.items[0].vif_details == {}
    # JSON-encoded value (some clients store it as a string).
    assert offer.decode({offer.KEY: json.dumps(value)}) == got
    assert offer.decode({offer.KEY: _tap_value(v=2)}).names() == ["tap"]


@pytest.mark.parametrize("value", [
    {"v": "3.0", "h": HOST, "i": "anything at all"},
    {"v": 3},
    {"version": 1, "offer": [{"name": "tap"}]},    # the unreleased v1
])
def test_unknown_major_is_ignored_and_logged_once(value, caplog):
    offer.decoding._unknown_logged.clear()
    with caplog.at_level(logging.WARNING, logger=offer.__name__):
        assert offer.decode({offer.KEY: value}) is None
        assert offer.decode_value(value) is None
    assert caplog.text.count("is not understood here") == 1
    got, problem = offer.read_offer({offer.KEY: value})
    assert got is None and "ignored" in problem
    with pytest.raises(exceptions.MalformedOffer, match="not supported"):
        offer.from_json(json.dumps(value))


# --------------------------------------------------------------------------
# Malformed offers: clear errors naming the field


@pytest.mark.parametrize("value, words", [
    ({"v": True, "h": HOST, "i": []}, "v: True is not a version"),
    ({"v": "two", "h": HOST, "i": []}, "not a version"),
    ({"h": HOST, "i": []}, "no 'v'"),
    ({"v": "2.0", "h": HOST}, "i: must be a list"),
    ({"v": "2.0", "h": HOST, "i": {"a": 1}}, "i: must be a list"),
    ({"v": "2.0", "h": "", "i": []}, "h: expected"),
    ({"v": "2.0", "h": 7, "i": []}, "h: expected"),
    ([1, 2], "expected an object"),
    ("{not json", "not valid JSON"),
    (_tap_value(o="g 1.0"), "o: expected a list"),
    (_tap_value(o=["g"]), "o[0]: expected \"CLASS MIN-MAX\""),
    (_tap_value(o=["g 1.2-1.0"]), "o[0]: min 1.2 is greater"),
    (_tap_value(o=["zz 1.0"]), "o[0]: 'zz' is not a class code"),
    (_tap_value(i=[7]), "i[0]: expected a string"),
    (_tap_value(i=[[]]), "i[0]: empty array"),
    (_tap_value(i=["tap tap n"]), "i[0]: expected \"NAME VIF_TYPE"),
    (_tap_value(i=["t@p tap n 0"]), "i[0].name"),
    (_tap_value(i=["tap t/p n 0"]), "i[0](tap).vif_type"),
    (_tap_value(i=["tap tap 1 0"]), "i[0](tap).vnic_types"),
    (_tap_value(i=["tap tap n x"]), "i[0](tap).objects: expected"),
    (_tap_value(i=["tap tap n 4"]), "index 4 is not in 'o' (1 entries)"),
    (_tap_value(i=["tap tap n 0  hy"]), "empty detail token"),
    (_tap_value(i=["tap tap n 0 a=b=c"]), "bad value"),
    (_tap_value(i=["tap tap n 0 !"]), "bad detail token"),
    (_tap_value(i=["tap tap n 0 hy !hy"]), "'ovs_hybrid_plug' given twice"),
    (_tap_value(i=[["tap tap n 0 hy", {"ovs_hybrid_plug": 1}]]),
     "given twice"),
    (_tap_value(i=[["tap tap n 0", {"a": {"b": 1}}]]),
     "i[0][1]: expected an object of scalars"),
    (_tap_value(i=[["tap tap n 0", {}, [1]]]),
     "i[0][2]: expected a list of detail names"),
    (_tap_value(i=["tap tap n 0", "tap tap m 0"]),
     "i[1]: binding 'tap' is offered twice"),
])
def test_malformed_says_where(value, words):
    with pytest.raises(exceptions.MalformedOffer) as exc:
        offer.decode({offer.KEY: value})
    assert words in str(exc.value)
    assert str(exc.value).startswith("Malformed os_vif_pref offer")
    got, problem = offer.read_offer({offer.KEY: value})
    assert got is None and words in problem


def test_too_many_items_refused_before_item_work(monkeypatch):
    calls = []
    monkeypatch.setattr(offer.decoding, "_item", lambda *a: calls.append(a))
    value = _tap_value(i=["garbage"] * 257)
    with pytest.raises(exceptions.MalformedOffer) as exc:
        offer.decode({offer.KEY: value})
    assert "257 items, more than [os_vif_pref] offer_max_items = 256" in str(
        exc.value)
    assert calls == []


def test_too_many_bytes_refused_before_item_work(monkeypatch):
    calls = []
    monkeypatch.setattr(offer.decoding, "_item", lambda *a: calls.append(a))
    value = _tap_value(padding="x" * 5000)
    with pytest.raises(exceptions.MalformedOffer, match="offer_max_bytes"):
        offer.decode({offer.KEY: value})
    with pytest.raises(exceptions.MalformedOffer, match="offer_max_bytes"):
        offer.decode({offer.KEY: json.dumps(value)})
    assert calls == []


def test_size_check_is_bounded_by_the_budget():
    # A huge list of small values: the walk stops once the budget is spent
    # (it would otherwise push a million entries).
    with pytest.raises(exceptions.MalformedOffer, match="offer_max_bytes"):
        offer.decode_value(_tap_value(junk=[0] * 1_000_000))


def test_deep_nesting_and_non_json_refused():
    deep: dict = {}
    node = deep
    for _ in range(20):
        node["a"] = {}
        node = node["a"]
    with pytest.raises(exceptions.MalformedOffer, match="nested deeper"):
        offer.decode_value(_tap_value(x=deep))
    with pytest.raises(exceptions.MalformedOffer, match="not a JSON value"):
        offer.decode_value(_tap_value(x={1, 2}))


def test_bounds_from_config():
    value = _tap_value(i=["tap tap n 0", "tap2 tap n 0"])
    CONF.set_override("offer_max_items", 1, group="os_vif_pref")
    try:
        with pytest.raises(exceptions.MalformedOffer, match="= 1"):
            offer.decode({offer.KEY: value})
    finally:
        CONF.clear_override("offer_max_items", group="os_vif_pref")
    assert len(offer.decode({offer.KEY: value})) == 2
    assert offer.decode({offer.KEY: value}, max_items=2) is not None


def test_json_helpers_accept_profile_or_value(cat):
    text = offer.to_json(cat.entries[:3], host=HOST)
    assert json.loads(text).keys() == {offer.KEY}
    a = offer.from_json(text)
    b = offer.from_json(json.dumps(json.loads(text)[offer.KEY]))
    assert a == b and len(a) == 3 and a.host == HOST
    pretty = offer.to_json(a, indent=2)
    assert offer.from_json(pretty) == a
    with pytest.raises(exceptions.MalformedOffer, match="is null"):
        offer.from_json(json.dumps({offer.KEY: None}))
    with pytest.raises(exceptions.MalformedOffer, match="not valid JSON"):
        offer.from_json("nope")


def test_encode_rejects_what_it_cannot_send(cat):
    with pytest.raises(TypeError):
        offer.encode([{"name": "tap"}], host=HOST)
    item = offer.OfferItem.from_entry(cat.get("tap"))
    with pytest.raises(ValueError, match="name 'a b'"):
        offer.encode([dataclasses.replace(item, name="a b")], host=HOST)
    with pytest.raises(ValueError, match="unknown vnic_type 'warp'"):
        offer.encode([dataclasses.replace(item, vnic_types=("warp",))],
                     host=HOST)


_scalars = st.one_of(st.none(), st.booleans(), st.integers(),
                     st.text(max_size=5))
_json = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.text(max_size=5), inner, max_size=4)), max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(value=_json)
def test_decode_never_fails_otherwise(value):
    """Whatever arrives, decode returns an Offer/None or MalformedOffer."""
    try:
        got = offer.decode({offer.KEY: value})
    except exceptions.MalformedOffer as exc:
        # read_offer (the Neutron side) reports the same, never raises.
        assert offer.read_offer({offer.KEY: value}) == (None, str(exc))
    else:
        assert offer.read_offer({offer.KEY: value})[0] == got


_BASE = offer.encode(catalogue.load([catalogue.bundled_files()]).entries[:4],
                     host=HOST)
_WORDS = st.one_of(st.text(max_size=8), st.sampled_from(
    ["", " ", "  ", "!", "*", "=", ",", "0,", "9", "hy", "!hy", "*vs", "a=",
     "n", "Z", "zz", "VIFX 1.0", "g 1.0-", "\u00e9"]))


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_mutated_valid_offers_never_fail_otherwise(data):
    value = copy.deepcopy(_BASE)
    part = data.draw(st.sampled_from(["i", "o"]))
    seq = value[part]
    i = data.draw(st.integers(0, len(seq) - 1))
    words = seq[i].split(" ")
    j = data.draw(st.integers(0, len(words)))
    how = data.draw(st.sampled_from(["replace", "insert", "delete", "json"]))
    if how == "json":
        seq[i] = data.draw(_json)
    else:
        if how == "delete" and j < len(words):
            del words[j]
        elif how == "replace" and j < len(words):
            words[j] = data.draw(_WORDS)
        else:
            words.insert(j, data.draw(_WORDS))
        seq[i] = " ".join(words)
    try:
        got = offer.decode({offer.KEY: value})
    except exceptions.MalformedOffer as exc:
        assert str(exc)
        return
    assert got is not None and len(got) <= len(_BASE["i"])


def test_repeated_offer_is_decoded_once_and_changes_are_not_confused(cat):
    """Neutron sees the same offer for every port a host binds."""
    value = offer.encode(offer.from_entries(cat.entries, host=HOST))
    first = offer.decode_value(value)
    again = offer.decode_value(json.loads(json.dumps(value)))
    assert again is first                      # served from the cache
    changed = json.loads(json.dumps(value))
    changed["i"][0] = changed["i"][0].replace(" ovs ", " something-else ")
    other = offer.decode_value(changed)
    assert other is not first
    assert other.items[0].vif_type == "something-else"
    assert first.items[0].vif_type != "something-else"
    moved = dict(json.loads(json.dumps(value)), h="elsewhere")
    assert offer.decode_value(moved).host == "elsewhere"
    broken = json.loads(json.dumps(value))
    broken["i"][1] = broken["i"][0]            # a duplicate name
    for _ in range(2):                          # never cached as valid
        with pytest.raises(exceptions.MalformedOffer, match="offered twice"):
            offer.decode_value(broken)
    # Tighter bounds are a different question: not answered from the cache.
    with pytest.raises(exceptions.MalformedOffer, match="offer_max_items"):
        offer.decode_value(value, max_items=1)
