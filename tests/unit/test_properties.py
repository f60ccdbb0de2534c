"""Property-based tests over everything that reads outside input: the
catalogue loader, the offer parser, the chooser (Neutron side) and the
checker/converter (Nova side).

Thousands of random and mutated inputs; what must hold for every one:

* only the declared exceptions come out (``CatalogueError`` entries in
  ``Catalogue.errors`` or ``CatalogueInvalid``; ``MalformedOffer``;
  ``NoAcceptableBinding``; the Nova side's ``OsVifPrefException``
  family) - never a ``KeyError``/``TypeError`` from deep inside;
* the work is bounded by the configured limits, not by the input: shown by
  counting, not timing (an offer that claims to be small but never ends is
  still refused);
* the two ends agree: whatever ``choose()`` picks from an offer, Nova's
  ``check_binding()`` accepts as that same offered binding, and
  ``to_os_vif()`` builds that item's os-vif object.

Example counts are fixed (``N_*``) so that the README table can quote them;
``deadline=None`` because speed is measured in benchmarks/, not asserted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
import json
import os
import random
import tempfile
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
import pytest
import yaml

from os_vif_pref import catalogue, exceptions, neutron, nova, offer

CAT = catalogue.load(plugin_choice={})
ENTRIES = list(CAT.entries)
BUNDLED = {os.path.basename(str(f)): str(f)
           for f in catalogue.bundled_files()}

N_YAML_TEXT = 300
N_YAML_MUTATED = 600
N_YAML_STRUCT = 400
N_OFFER_JSON = 2000
N_OFFER_MUTATED = 2000
N_OFFER_ROUNDTRIP = 500
N_CHOOSE = 1500
N_CHAIN = 1000

SETTINGS = dict(deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.filter_too_much,
    HealthCheck.data_too_large])

JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
    st.floats(allow_nan=True), st.text(max_size=30))
JSON = st.recursive(JSON_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=5),
    st.dictionaries(st.text(max_size=12), inner, max_size=5)),
    max_leaves=25)


# --------------------------------------------------------------------------
# catalogue loader


def _load_text(text: str, strict: bool = False) -> catalogue.Catalogue:
    """Load ``text`` as a catalogue layer on top of the bundled files."""
    fd, path = tempfile.mkstemp(suffix=".yaml", prefix="prop-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8",
                       errors="surrogateescape") as f:
            f.write(text)
        return catalogue.load([list(catalogue.bundled_files()), [path]],
                              strict=strict, plugin_choice={})
    finally:
        os.unlink(path)


def _assert_catalogue_sane(cat: catalogue.Catalogue) -> None:
    assert all(isinstance(e, exceptions.CatalogueError) for e in cat.errors)
    assert all(str(e) for e in cat.errors)
    # A broken layer never takes the bundled entries down with it.
    assert {e.name for e in ENTRIES} <= {e.name for e in cat.entries
                                         + cat.disabled}


@settings(max_examples=N_YAML_TEXT, **SETTINGS)
@given(st.text(max_size=400))
def test_catalogue_random_text(text: str) -> None:
    _assert_catalogue_sane(_load_text(text))


MUTATIONS = ["delete", "duplicate", "swap", "token", "indent", "truncate"]
TOKENS = ["{", "}", "[", "]", ":", "- ", "&a", "*a",
          "!!python/object:os.system", "<<: *a", "yes", "no", "~", "0x1F",
          "1e400", "'", '"', "\t", "%TAG",
          "? ", "|", ">", "name: ovs", "override: true", "enabled: false",
          "format: 2", "\u00e9", "\x00", "---", "..."]


def _mutate(text: str, rnd: random.Random, n: int) -> str:
    lines = text.splitlines()
    for _ in range(n):
        if not lines:
            break
        i = rnd.randrange(len(lines))
        op = rnd.choice(MUTATIONS)
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = rnd.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "token":
            pos = rnd.randrange(len(lines[i]) + 1)
            lines[i] = lines[i][:pos] + rnd.choice(TOKENS) + lines[i][pos:]
        elif op == "indent":
            lines[i] = " " * rnd.randrange(0, 7) + lines[i].lstrip()
        else:
            lines = lines[:i]
    return "\n".join(lines) + "\n"


@settings(max_examples=N_YAML_MUTATED, **SETTINGS)
@given(name=st.sampled_from(sorted(BUNDLED)), seed=st.integers(0, 2**32),
       n=st.integers(1, 6), strict=st.booleans())
def test_catalogue_mutated_bundled_files(name: str, seed: int, n: int,
                                         strict: bool) -> None:
    with open(BUNDLED[name], encoding="utf-8") as f:
        text = f.read()
    # Entry names are renamed so that an unchanged entry is not a
    # collision with the bundled layer underneath.
    text = text.replace("- name: ", "- name: prop-")
    mutated = _mutate(text, random.Random(seed), n)
    if strict:
        try:
            cat = _load_text(mutated, strict=True)
        except exceptions.CatalogueInvalid as e:
            assert e.errors and all(isinstance(x, exceptions.CatalogueError)
                                    for x in e.errors)
            return
    else:
        cat = _load_text(mutated)
    _assert_catalogue_sane(cat)


def _entry_like() -> st.SearchStrategy[dict[str, Any]]:
    base = ENTRIES[0].to_dict()
    keys = ["name", "preference", "neutron", "os_vif", "plugin", "requires",
            "override", "enabled", "deprecated", "alt_plugins", "instance",
            "description"]
    return st.fixed_dictionaries(
        {"name": st.one_of(st.text(max_size=20), JSON)},
        optional={k: st.one_of(JSON, st.just(base.get(k)))
                  for k in keys if k != "name"})


@settings(max_examples=N_YAML_STRUCT, **SETTINGS)
@given(doc=st.fixed_dictionaries(
    {"format": st.one_of(st.just(1), JSON),
     "entries": st.one_of(st.lists(_entry_like(), max_size=4), JSON)}))
def test_catalogue_structured_garbage(doc: dict[str, Any]) -> None:
    try:
        text = yaml.safe_dump(doc, allow_unicode=True)
    except (yaml.YAMLError, ValueError):
        return
    _assert_catalogue_sane(_load_text(text))


# --------------------------------------------------------------------------
# offer parser

ITEMS = [offer.OfferItem.from_entry(e) for e in ENTRIES]
HOST = "compute-1"
GOOD = offer.encode(ITEMS, host=HOST)


def _decode_ok_or_malformed(value: Any) -> offer.Offer | None:
    try:
        return offer.decode_value(value)
    except exceptions.MalformedOffer as e:
        assert str(e)
        return None


#: What reading an offer gave when it refused with MalformedOffer.
MALFORMED = "MalformedOffer"


def _read(call: Callable[[], offer.Offer | None]) -> str | None:
    """What ``call`` read, comparable across the readers: ``None``, the
    offer's wire value as canonical JSON (NaN-safe), or ``MALFORMED`` (with
    a message). Any other exception propagates and fails the test."""
    try:
        got = call()
    except exceptions.MalformedOffer as e:
        assert str(e)
        return MALFORMED
    if got is None:
        return None
    assert isinstance(got, offer.Offer), got
    return json.dumps(got.to_dict(), sort_keys=True)


@settings(max_examples=N_OFFER_JSON, **SETTINGS)
@given(JSON)
def test_offer_random_json(value: Any) -> None:
    # The value under the key, the whole binding:profile (Nova, Neutron)
    # and the JSON text a CLI user gives each read it or refuse it with
    # MalformedOffer, and all agree on which.
    direct = _read(lambda: offer.decode_value(value))
    via_profile = _read(lambda: offer.decode({offer.KEY: value}))
    assert via_profile == (None if value is None else direct)

    read, why = offer.read_offer({offer.KEY: value})
    assert _read(lambda: read) == (direct if direct != MALFORMED else None)
    # A reason exactly when there is a value this side cannot use.
    assert (why is not None) == (value is not None and read is None), why

    # json.dumps writes NaN/Infinity and json.loads reads them back, so
    # from_json gets the same value (or, for a whole profile, its KEY).
    inner = value
    if isinstance(value, dict) and offer.KEY in value:
        inner = value[offer.KEY]
    expected = _read(lambda: offer.decode_value(inner))
    # from_json refuses what decode ignores: an unknown major version, null.
    if expected is None:
        expected = MALFORMED
    assert _read(lambda: offer.from_json(json.dumps(value))) == expected


def _paths(node: Any, at: tuple = ()) -> Iterator[tuple]:
    yield at
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, at + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, at + (i,))


def _set(root: Any, path: tuple, value: Any, delete: bool) -> Any:
    if not path:
        return value
    parent = root
    for p in path[:-1]:
        parent = parent[p]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return root


@settings(max_examples=N_OFFER_MUTATED, **SETTINGS)
@given(seed=st.integers(0, 2**32), values=st.lists(JSON, min_size=1,
                                                   max_size=4))
def test_offer_mutated_valid_offer(seed: int, values: list) -> None:
    rnd = random.Random(seed)
    doc = json.loads(json.dumps(GOOD))
    for value in values:
        paths = list(_paths(doc))
        path = rnd.choice(paths)
        doc = _set(doc, path, value, delete=bool(path) and rnd.random() < 0.3)
    decoded = _decode_ok_or_malformed(doc)
    event(f"mutated offer: {'decoded' if decoded is not None else 'refused'}")
    if decoded is not None:
        assert len(decoded) <= len(ITEMS) + 4
        assert len(set(decoded.names())) == len(decoded)


@settings(max_examples=N_OFFER_ROUNDTRIP, **SETTINGS)
@given(st.permutations(ITEMS).flatmap(
    lambda items: st.integers(0, len(items)).map(lambda n: items[:n])))
def test_offer_roundtrip(items: list) -> None:
    text = offer.to_json(items, host=HOST)
    back = offer.from_json(text)
    assert back.names() == [i.name for i in items]
    assert back.items == tuple(items) and back.host == HOST
    assert back.to_dict() == offer.encode(items, host=HOST)


class _EndlessMapping(Mapping):
    """Claims two keys, yields keys for ever: a lying or huge input."""

    def __init__(self) -> None:
        self.iterated = 0

    def __getitem__(self, key: str) -> Any:
        return {"v": "2.0", "h": HOST, "i": []}.get(key, "x")

    def __iter__(self) -> Iterator[str]:
        yield "v"
        yield "h"
        yield "i"
        while True:
            self.iterated += 1
            yield f"k{self.iterated}"

    def __len__(self) -> int:
        return 3


def test_offer_size_walk_is_bounded_by_the_budget_not_the_input() -> None:
    endless = _EndlessMapping()
    with pytest.raises(exceptions.MalformedOffer, match="offer_max_bytes"):
        offer.decode_value(endless, max_bytes=4096)
    # Each key costs its length + 2 bytes of budget: the walk stopped
    # after about budget/5 keys.
    assert 0 < endless.iterated <= 4096


def test_offer_item_bound_checked_before_any_item_is_read(monkeypatch
                                                          ) -> None:
    read = []
    monkeypatch.setattr(offer.decoding, "_item",
                        lambda raw, i, objs: read.append(i))
    huge = {"v": "2.0", "h": HOST, "i": [{}] * 1_000_000}
    with pytest.raises(exceptions.MalformedOffer, match="offer_max_items"):
        offer.decode_value(huge, max_items=256)
    assert read == []


# --------------------------------------------------------------------------
# chooser (Neutron side) and checker/converter (Nova side)

VIF_TYPES = sorted({e.vif_type for e in ENTRIES} | {"binding_failed",
                                                    "unbound", "other"})
VNICS = sorted({v for e in ENTRIES for v in e.vnic_types})
DETAIL_KEYS = sorted({k for e in ENTRIES for k in e.details_match}
                     | {k for e in ENTRIES for k in e.details_required})
REQUIRED_VALUES = {"vhostuser_socket": "/var/run/openvswitch/vhu-prop",
                   "macvtap_source": "eth0"}

DETAILS = st.dictionaries(st.sampled_from(DETAIL_KEYS),
                          st.one_of(st.booleans(), st.none(),
                                    st.sampled_from(["", "x", "eth0"])),
                          max_size=4)
SERVED = st.builds(
    neutron.Served, vif_type=st.sampled_from(VIF_TYPES),
    vif_details=st.one_of(st.none(), DETAILS),
    vnic_types=st.one_of(st.none(), st.lists(st.sampled_from(VNICS),
                                             min_size=1, max_size=3)
                         .map(tuple)))
OFFERS = st.permutations(ITEMS).flatmap(
    lambda items: st.integers(0, len(items)).map(
        lambda n: offer.from_entries(items[:n], host=HOST)))


def _port(vif_type: str, vnic: str, details: Mapping[str, Any]) -> dict:
    return {"id": "3f2a6a2c-1111-4222-8333-444455556666",
            "network_id": "9d7e2d3c-aaaa-4bbb-8ccc-ddddeeeeffff",
            "mac_address": "fa:16:3e:11:22:33", "status": "ACTIVE",
            "admin_state_up": True, "fixed_ips": [],
            "binding:vif_type": vif_type, "binding:vnic_type": vnic,
            "binding:vif_details": dict(details), "binding:profile": {},
            "binding:host_id": "compute-1"}


def _served_from(data: Any, the_offer: offer.Offer) -> list:
    """What a driver serves: often some of the offered types (any variant
    or exactly an item's details), plus random ones."""
    served = data.draw(st.lists(SERVED, max_size=3))
    if len(the_offer) and data.draw(st.booleans()):
        for item in data.draw(st.lists(st.sampled_from(the_offer.items),
                                       min_size=1, max_size=3)):
            details = data.draw(st.one_of(
                st.none(), st.just(dict(item.vif_details)), DETAILS))
            served.append(neutron.Served(item.vif_type, details))
    return data.draw(st.permutations(served))


def _vnic_from(data: Any, the_offer: Any) -> str:
    if isinstance(the_offer, offer.Offer) and len(the_offer) \
            and data.draw(st.booleans()):
        item = data.draw(st.sampled_from(the_offer.items))
        return data.draw(st.sampled_from(item.vnic_types))
    return data.draw(st.sampled_from(VNICS))


@settings(max_examples=N_CHOOSE, **SETTINGS)
@given(the_offer=st.one_of(OFFERS, OFFERS, st.none(), JSON),
       default=st.one_of(st.none(), SERVED), data=st.data())
def test_choose_picks_the_first_servable_offered_binding(
        the_offer: Any, default: Any, data: Any) -> None:
    served = _served_from(data, the_offer if isinstance(
        the_offer, offer.Offer) else offer.from_entries([], host=HOST))
    vnic = _vnic_from(data, the_offer)
    if isinstance(the_offer, offer.Offer):
        profile: Any = {offer.KEY: offer.encode(the_offer)}
    else:       # no offer (old Nova) or garbage under the key
        profile = None if the_offer is None else {offer.KEY: the_offer}
    try:
        choice = neutron.choose(profile, served, default, vnic_type=vnic)
    except neutron.NoAcceptableBinding as e:
        event("choose: no acceptable binding")
        assert str(e)
        return
    readable, _ = neutron.read_offer(profile)
    event(f"choose: {'fallback' if readable is None else 'chosen'}")
    if readable is None:
        # No readable offer: exactly today's behaviour, the default.
        assert default is not None and choice.fallback
        assert choice.vif_type == default.vif_type
        return
    assert not choice.fallback and choice.rank is not None
    item = readable.items[choice.rank]
    assert item.name == choice.entry and item.vif_type == choice.vif_type
    assert vnic in item.vnic_types
    assert any(s.vif_type == item.vif_type for s in served)
    # Nothing the host preferred more was servable.
    for earlier in readable.items[:choice.rank]:
        if vnic not in earlier.vnic_types:
            continue
        for s in served:
            if s.vif_type != earlier.vif_type or (
                    s.vnic_types is not None and vnic not in s.vnic_types):
                continue
            if s.vif_details is None:
                pytest.fail(f"{earlier.name} was servable by {s}")
            details = dict(s.vif_details)
            ok = earlier.accepts(earlier.vif_type, vnic, details) and all(
                details.get(k) not in (None, "")
                for k in earlier.required_details)
            assert not ok, f"{earlier.name} was servable by {s}"


@settings(max_examples=N_CHAIN, **SETTINGS)
@given(the_offer=OFFERS.filter(len), data=st.data())
def test_nova_accepts_exactly_what_neutron_chose(the_offer, data) -> None:
    served = _served_from(data, the_offer)
    vnic = _vnic_from(data, the_offer)
    try:
        choice = neutron.choose({offer.KEY: offer.encode(the_offer)},
                                served, None, vnic_type=vnic)
    except neutron.NoAcceptableBinding:
        event("chain: nothing servable")
        # Whatever Neutron binds instead is refused by Nova.
        port = _port("binding_failed", vnic, {})
        with pytest.raises(nova.BindingNotAcceptable):
            nova.check_binding(port, the_offer)
        return
    details = dict(choice.vif_details)
    for key in the_offer.get(choice.entry).required_details:
        if details.get(key) in (None, ""):
            details[key] = REQUIRED_VALUES[key]   # what the driver sets
    port = _port(choice.vif_type, vnic, details)
    item = nova.check_binding(port, the_offer)
    assert item is not None and item.name == choice.entry
    try:
        obj = nova.to_os_vif(port, offer=the_offer, catalogue=CAT)
    except (nova.MissingBindingValue, nova.InvalidBindingValue) as e:
        # Entries needing more than a port carries here (a PCI slot...).
        event(f"chain: {item.name} needs more ({type(e).__name__})")
        assert str(e)
        return
    event("chain: converted")
    assert obj.obj_name() == item.os_vif_object
    assert obj.plugin == CAT.get(item.name).plugin


@settings(max_examples=N_CHAIN, **SETTINGS)
@given(the_offer=st.one_of(OFFERS, OFFERS, st.none()), data=st.data())
def test_nova_refuses_everything_outside_the_offer(the_offer, data) -> None:
    vif_type = data.draw(st.sampled_from(VIF_TYPES))
    vnic = data.draw(st.sampled_from(VNICS))
    details = data.draw(DETAILS)
    if the_offer is not None and len(the_offer) and data.draw(st.booleans()):
        # Close to an offered binding: its type, a vnic and details it
        # takes, with some keys changed.
        item = data.draw(st.sampled_from(ENTRIES))
        vif_type = item.vif_type
        vnic = data.draw(st.sampled_from(item.vnic_types))
        details = {**item.details_match, **{
            k: REQUIRED_VALUES[k] for k in item.details_required}, **details}
    port = _port(vif_type, vnic, details)
    try:
        item = nova.check_binding(port, the_offer)
    except nova.BindingNotAcceptable as e:
        event("check: refused")
        assert the_offer is not None and str(e)
        assert not any(
            i.accepts(vif_type, vnic, details) and all(
                details.get(k) not in (None, "") for k in i.required_details)
            for i in the_offer.items)
        return
    event(f"check: {'no offer' if the_offer is None else 'accepted'}")
    if the_offer is None:
        assert item is None
    else:
        assert item in the_offer.items
        assert item.accepts(vif_type, vnic, details)
    try:
        nova.to_os_vif(port, offer=the_offer, catalogue=CAT)
    except exceptions.OsVifPrefException as e:
        assert str(e)
