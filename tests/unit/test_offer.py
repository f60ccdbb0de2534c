"""The binding:profile wire format: round trips, tolerance, bounds."""

from __future__ import annotations

import copy
import json

from hypothesis import given, settings
from hypothesis import strategies as st
import pytest

from os_vif_pref import catalogue, exceptions, offer


@pytest.fixture(scope="module")
def cat() -> catalogue.Catalogue:
    return catalogue.load([catalogue.bundled_files()], strict=True)


def test_round_trip_of_the_bundled_catalogue(cat):
    value = offer.encode(cat.entries)
    decoded = offer.decode({offer.KEY: value})
    assert decoded is not None
    assert decoded.version == offer.VERSION
    assert decoded.names() == [e.name for e in cat.entries]
    assert decoded.items == tuple(offer.OfferItem.from_entry(e)
                                  for e in cat.entries)
    assert offer.encode(decoded) == value
    # Survives a real JSON trip (what Neutron stores).
    assert offer.decode(json.loads(json.dumps({offer.KEY: value}))) == \
        decoded


def test_payload_is_small(cat):
    text = offer.to_json(cat.entries)
    assert len(text.encode()) < 8 * 1024, len(text)


def test_item_carries_what_neutron_needs(cat):
    item = offer.OfferItem.from_entry(cat.get("ovs-vhostuser"))
    wire = item.to_dict()
    assert wire == {
        "name": "ovs-vhostuser", "vif_type": "vhostuser",
        "vnic_types": ["normal"],
        "vif_details": {"vhostuser_ovs_plug": True,
                        "vhostuser_fp_plug": False},
        "required_details": ["vhostuser_socket"],
        "os_vif": {"object": "VIFVHostUser", "versions": ["1.0", "1.1"],
                   "port_profile": ["VIFPortProfileOpenVSwitch", "1.0",
                                    "1.4"]},
        "plugin": "pref_ovs"}
    tap = offer.OfferItem.from_entry(cat.get("tap")).to_dict()
    assert "vif_details" not in tap and "required_details" not in tap
    assert "port_profile" not in tap["os_vif"]


def test_item_accepts_like_the_catalogue(cat):
    o = offer.from_entries(cat.entries)
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


def _one_item() -> dict:
    return {"name": "tap", "vif_type": "tap", "vnic_types": ["normal"],
            "os_vif": {"object": "VIFGeneric", "versions": ["1.0", "1.0"]},
            "plugin": "pref_tap"}


def test_tolerates_unknown_fields_and_newer_minor():
    item = _one_item()
    item["future"] = {"anything": [1, 2]}
    item["os_vif"]["future"] = "x"
    value = {"version": "1.7", "offer": [item], "host": "cmp1",
             "extra": [None]}
    got = offer.decode({offer.KEY: value})
    assert got is not None and got.version == 1 and got.names() == ["tap"]
    # JSON-encoded value (some clients store it as a string).
    assert offer.decode({offer.KEY: json.dumps(value)}) == got


@pytest.mark.parametrize("value, words", [
    ({"version": 2, "offer": []}, "version 2 is not supported"),
    ({"version": "2.0", "offer": []}, "not supported"),
    ({"version": True, "offer": []}, "not a version"),
    ({"version": "one", "offer": []}, "not a version"),
    ({"offer": []}, "no 'version'"),
    ({"version": 1}, "'offer' must be a list"),
    ({"version": 1, "offer": {"a": 1}}, "'offer' must be a list"),
    ([1, 2], "expected an object"),
    ("{not json", "not valid JSON"),
    ({"version": 1, "offer": ["tap"]}, "offer[0]: expected an object"),
])
def test_malformed_top_level(value, words):
    with pytest.raises(exceptions.MalformedOffer) as exc:
        offer.decode({offer.KEY: value})
    assert words in str(exc.value)
    assert str(exc.value).startswith("Malformed os_vif_pref offer")


@pytest.mark.parametrize("path, bad, words", [
    (("name",), "", "offer[0].name: expected a non-empty string"),
    (("name",), 3, "offer[0].name"),
    (("vif_type",), None, "offer[0](tap).vif_type"),
    (("vnic_types",), [], "must list at least one"),
    (("vnic_types",), "normal", "vnic_types: expected a list of strings"),
    (("vif_details",), {"a": {"b": 1}}, "vif_details: expected an object"),
    (("required_details",), [1], "required_details"),
    (("os_vif",), "VIFGeneric", "os_vif: expected an object"),
    (("os_vif", "object"), "", "os_vif.object"),
    (("os_vif", "versions"), ["1.0"], "os_vif.versions"),
    (("os_vif", "versions"), ["1.2", "1.0"], "min 1.2 is greater"),
    (("os_vif", "versions"), ["1", "2"], "os_vif.versions"),
    (("os_vif", "port_profile"), ["P", "1.0"], "port_profile: expected"),
    (("os_vif", "port_profile"), ["P", "1.0", "x"], "port_profile"),
    (("plugin",), None, "offer[0](tap).plugin"),
])
def test_malformed_item_says_where(path, bad, words):
    item = _one_item()
    node = item
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = bad
    with pytest.raises(exceptions.MalformedOffer) as exc:
        offer.decode({offer.KEY: {"version": 1, "offer": [item]}})
    assert words in str(exc.value)


def test_duplicate_names_refused():
    with pytest.raises(exceptions.MalformedOffer, match="offered twice"):
        offer.decode({offer.KEY: {"version": 1,
                                  "offer": [_one_item(), _one_item()]}})


def test_too_many_items_refused_before_item_work(monkeypatch):
    calls = []
    monkeypatch.setattr(offer, "_item",
                        lambda raw, i: calls.append(i))  # must not run
    value = {"version": 1, "offer": ["garbage"] * 257}
    with pytest.raises(exceptions.MalformedOffer) as exc:
        offer.decode({offer.KEY: value})
    assert "257 items, more than [os_vif_pref] offer_max_items = 256" in str(
        exc.value)
    assert calls == []


def test_too_many_bytes_refused_before_item_work(monkeypatch):
    calls = []
    monkeypatch.setattr(offer, "_item", lambda raw, i: calls.append(i))
    item = _one_item()
    item["padding"] = "x" * (64 * 1024)
    with pytest.raises(exceptions.MalformedOffer, match="offer_max_bytes"):
        offer.decode({offer.KEY: {"version": 1, "offer": [item]}})
    with pytest.raises(exceptions.MalformedOffer, match="offer_max_bytes"):
        offer.decode({offer.KEY: json.dumps({"version": 1,
                                             "offer": [item]})})
    assert calls == []


def test_size_check_is_bounded_by_the_budget():
    # A huge list of small values: the walk stops once the budget is spent
    # (it would otherwise push a million entries).
    value = {"version": 1, "offer": [], "junk": [0] * 1_000_000}
    with pytest.raises(exceptions.MalformedOffer, match="offer_max_bytes"):
        offer.decode_value(value)


def test_deep_nesting_and_non_json_refused():
    deep: dict = {}
    node = deep
    for _ in range(20):
        node["a"] = {}
        node = node["a"]
    with pytest.raises(exceptions.MalformedOffer, match="nested deeper"):
        offer.decode_value({"version": 1, "offer": [], "x": deep})
    with pytest.raises(exceptions.MalformedOffer, match="not a JSON value"):
        offer.decode_value({"version": 1, "offer": [], "x": {1, 2}})


def test_bounds_from_config():
    from oslo_config import cfg

    item = _one_item()
    value = {"version": 1, "offer": [item, dict(item, name="tap2")]}
    cfg.CONF.set_override("offer_max_items", 1, group="os_vif_pref")
    try:
        with pytest.raises(exceptions.MalformedOffer, match="= 1"):
            offer.decode({offer.KEY: value})
    finally:
        cfg.CONF.clear_override("offer_max_items", group="os_vif_pref")
    assert len(offer.decode({offer.KEY: value})) == 2
    assert offer.decode({offer.KEY: value}, max_items=2) is not None


def test_json_helpers_accept_profile_or_value(cat):
    text = offer.to_json(cat.entries[:3])
    assert json.loads(text).keys() == {offer.KEY}
    a = offer.from_json(text)
    b = offer.from_json(json.dumps(json.loads(text)[offer.KEY]))
    assert a == b and len(a) == 3
    pretty = offer.to_json(a, indent=2)
    assert offer.from_json(pretty) == a
    with pytest.raises(exceptions.MalformedOffer, match="is null"):
        offer.from_json(json.dumps({offer.KEY: None}))
    with pytest.raises(exceptions.MalformedOffer, match="not valid JSON"):
        offer.from_json("nope")


def test_encode_rejects_other_types():
    with pytest.raises(TypeError):
        offer.encode([{"name": "tap"}])


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
        offer.decode({offer.KEY: value})
    except exceptions.MalformedOffer:
        pass


_BASE = offer.encode(catalogue.load([catalogue.bundled_files()]).entries[:4])


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_mutated_valid_offers_never_fail_otherwise(data):
    value = copy.deepcopy(_BASE)
    items = value["offer"]
    i = data.draw(st.integers(0, len(items) - 1))
    key = data.draw(st.sampled_from(sorted(items[i])))
    items[i][key] = data.draw(_json)
    try:
        offer.decode({offer.KEY: value})
    except exceptions.MalformedOffer:
        pass


def test_repeated_offer_is_decoded_once_and_changes_are_not_confused():
    """Neutron sees the same offer for every port a host binds."""
    cat = catalogue.load([catalogue.bundled_files()], plugin_choice={})
    value = offer.encode(offer.from_entries(cat.entries))
    first = offer.decode_value(value)
    again = offer.decode_value(json.loads(json.dumps(value)))
    assert again is first                      # served from the cache
    changed = json.loads(json.dumps(value))
    changed["offer"][0]["vif_type"] = "something-else"
    other = offer.decode_value(changed)
    assert other is not first
    assert other.items[0].vif_type == "something-else"
    assert first.items[0].vif_type != "something-else"
    broken = json.loads(json.dumps(value))
    broken["offer"][1] = broken["offer"][0]    # a duplicate name
    for _ in range(2):                          # never cached as valid
        with pytest.raises(exceptions.MalformedOffer, match="offered twice"):
            offer.decode_value(broken)
    # Tighter bounds are a different question: not answered from the cache.
    with pytest.raises(exceptions.MalformedOffer, match="offer_max_items"):
        offer.decode_value(value, max_items=1)
