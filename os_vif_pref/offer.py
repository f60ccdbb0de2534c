"""The wire format of the offer: what Nova puts in ``binding:profile``.

The compute host states, in preference order, the bindings it can plug; Nova
sends that list to Neutron under ``binding:profile["os_vif_pref"]`` and
Neutron picks the first one it can serve.  This module is the only place
that knows the JSON shape, so both sides agree by construction::

    {"os_vif_pref": {"version": 1,
                     "offer": [{"name": "ovs", "vif_type": "ovs",
                                "vnic_types": ["normal"],
                                "vif_details": {"ovs_hybrid_plug": false},
                                "os_vif": {"object": "VIFOpenVSwitch",
                                           "versions": ["1.0", "1.0"],
                                           "port_profile": [
                                               "VIFPortProfileOpenVSwitch",
                                               "1.0", "1.4"]},
                                "plugin": "pref_ovs"}, ...]}}

Compatibility rules, because the two ends are upgraded independently:

* no ``os_vif_pref`` key means an old Nova: :func:`decode` returns ``None``
  and the caller falls back to today's behaviour;
* unknown fields (top level or per item) are ignored, and a newer *minor*
  version (``"1.3"``) is read as version 1; a newer *major* is refused;
* the payload comes from a user-writable API field, so it is bounded (items
  and bytes, ``[os_vif_pref] offer_max_items`` / ``offer_max_bytes``) and the
  bound is checked before any per-item work, at a cost that depends on the
  bound and not on the size of what was sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
import dataclasses
import json
import re
from typing import Any, Union

from oslo_config import cfg

from os_vif_pref import catalogue, exceptions

KEY = "os_vif_pref"
VERSION = 1

offer_opts = [
    cfg.IntOpt(
        "offer_max_items", default=256, min=1,
        help="Largest number of bindings accepted in an offer read from "
             "binding:profile. The bundled catalogue has about 20 entries; "
             "the bound protects Neutron from an oversized port update."),
    cfg.IntOpt(
        "offer_max_bytes", default=64 * 1024, min=256,
        help="Largest size (bytes of compact JSON) of an offer read from "
             "binding:profile. The bundled catalogue encodes to a few KiB."),
]

CONF = cfg.CONF
CONF.register_opts(offer_opts, group="os_vif_pref")


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    return [("os_vif_pref", offer_opts)]


_VERSION_RE = re.compile(r"^[0-9]{1,4}\.[0-9]{1,4}$")
_MAX_DEPTH = 8  # deepest legitimate path: offer[i].os_vif.port_profile[j]


@dataclasses.dataclass(frozen=True)
class OfferItem:
    """One binding the host offers: enough for Neutron to decide.

    ``vif_details`` is the catalogue entry's match dict (an absent key means
    false/null, as Nova reads details); ``required_details`` are keys Neutron
    must fill (e.g. ``vhostuser_socket``).  Versions are the os-vif object
    versions the host can plug, so Neutron/Nova can refuse a binding the
    host's os-vif is too old for.
    """

    name: str
    vif_type: str
    vnic_types: tuple[str, ...]
    vif_details: Mapping[str, Any]
    required_details: tuple[str, ...]
    os_vif_object: str
    os_vif_versions: catalogue.VersionRange
    port_profile_object: str | None
    port_profile_versions: catalogue.VersionRange | None
    plugin: str

    @classmethod
    def from_entry(cls, entry: catalogue.Entry) -> OfferItem:
        pp = entry.port_profile
        return cls(
            name=entry.name,
            vif_type=entry.vif_type,
            vnic_types=tuple(entry.vnic_types),
            vif_details=dict(entry.details_match),
            required_details=tuple(entry.details_required),
            os_vif_object=entry.vif_object,
            os_vif_versions=entry.vif_versions,
            port_profile_object=None if pp is None else pp.object,
            port_profile_versions=None if pp is None else pp.versions,
            plugin=entry.plugin,
        )

    def accepts(self, vif_type: str, vnic_type: str,
                details: Mapping[str, Any] | None) -> bool:
        """Whether a Neutron binding is this item (same rule as the
        catalogue: an absent detail counts as false/null)."""
        return (vif_type == self.vif_type and vnic_type in self.vnic_types
                and catalogue.details_match(self.vif_details, details))

    def to_dict(self) -> dict[str, Any]:
        """The wire form; empty optional parts are left out to stay small."""
        osv: dict[str, Any] = {
            "object": self.os_vif_object,
            "versions": [self.os_vif_versions.min, self.os_vif_versions.max],
        }
        if self.port_profile_object is not None:
            rng = self.port_profile_versions
            assert rng is not None
            osv["port_profile"] = [self.port_profile_object, rng.min, rng.max]
        out: dict[str, Any] = {
            "name": self.name,
            "vif_type": self.vif_type,
            "vnic_types": list(self.vnic_types),
        }
        if self.vif_details:
            out["vif_details"] = dict(self.vif_details)
        if self.required_details:
            out["required_details"] = list(self.required_details)
        out["os_vif"] = osv
        out["plugin"] = self.plugin
        return out


@dataclasses.dataclass(frozen=True)
class Offer:
    """A decoded offer: ``items`` in the host's preference order."""

    version: int
    items: tuple[OfferItem, ...]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def names(self) -> list[str]:
        return [i.name for i in self.items]

    def get(self, name: str) -> OfferItem | None:
        for item in self.items:
            if item.name == name:
                return item
        return None

    def find(self, vif_type: str, vnic_type: str,
             details: Mapping[str, Any] | None = None) -> list[OfferItem]:
        """Items accepting a Neutron binding, most preferred first."""
        return [i for i in self.items
                if i.accepts(vif_type, vnic_type, details)]

    def to_dict(self) -> dict[str, Any]:
        """The value to put under ``binding:profile[KEY]``."""
        return {"version": self.version,
                "offer": [i.to_dict() for i in self.items]}


ItemLike = Union[OfferItem, catalogue.Entry]


def _as_item(obj: ItemLike) -> OfferItem:
    if isinstance(obj, OfferItem):
        return obj
    if isinstance(obj, catalogue.Entry):
        return OfferItem.from_entry(obj)
    raise TypeError(f"cannot offer a {type(obj).__name__}")


def from_entries(entries: Iterable[ItemLike]) -> Offer:
    """An :class:`Offer` of catalogue entries (or items), order kept."""
    return Offer(version=VERSION, items=tuple(_as_item(e) for e in entries))


def encode(items_or_entries: Iterable[ItemLike] | Offer) -> dict[str, Any]:
    """The value to put under ``binding:profile[KEY]``."""
    if isinstance(items_or_entries, Offer):
        return items_or_entries.to_dict()
    return from_entries(items_or_entries).to_dict()


# --------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------

def _bad(reason: str) -> exceptions.MalformedOffer:
    return exceptions.MalformedOffer(reason=reason)


def _check_size(value: Any, max_bytes: int) -> None:
    """Refuse a value whose compact JSON would exceed ``max_bytes``.

    Walks the structure counting (a slight under-estimate of) the JSON bytes
    and stops as soon as the budget is spent, so the cost is bounded by the
    budget, not by what was sent.  Non-JSON types are refused here too.
    """
    budget = max_bytes
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > _MAX_DEPTH:
            raise _bad(f"nested deeper than {_MAX_DEPTH} levels")
        kind = type(node)  # exact types first: ABC checks cost the most
        if kind is str:
            budget -= len(node) + 2
        elif kind is bool or node is None:
            budget -= 4
        elif kind is int or kind is float:
            budget -= 1
        elif isinstance(node, str):
            budget -= len(node) + 2
        elif kind is dict or isinstance(node, Mapping):
            budget -= 2 + 2 * len(node)
            for k, v in node.items():
                if not isinstance(k, str):
                    raise _bad(f"object key {k!r} is not a string")
                budget -= len(k) + 2
                stack.append((v, depth + 1))
                if budget < 0:
                    break
        elif kind is list or isinstance(node, (list, tuple)):
            budget -= 1 + len(node)
            if budget >= 0:
                below = depth + 1
                stack.extend([(v, below) for v in node])
        elif node is None or isinstance(node, bool):
            budget -= 4
        elif isinstance(node, (int, float)):
            budget -= 1
        else:
            raise _bad(f"{type(node).__name__} is not a JSON value")
        if budget < 0:
            raise _bad(f"larger than [{KEY}] offer_max_bytes = {max_bytes} "
                       "bytes")


def _version(raw: Any) -> int:
    """The major version; a newer minor ("1.4") is read as that major."""
    if isinstance(raw, bool):
        raise _bad(f"version {raw!r} is not a version")
    if isinstance(raw, int):
        major = raw
    elif isinstance(raw, str) and (raw.isdigit() or _VERSION_RE.match(raw)):
        major = int(raw.split(".")[0])
    else:
        raise _bad(f"version {raw!r} is not a version (expected {VERSION} "
                   f"or \"{VERSION}.N\")")
    if major != VERSION:
        raise _bad(f"version {raw!r} is not supported (this side reads "
                   f"version {VERSION}.x)")
    return major


def _str(item: Mapping[str, Any], key: str, where: str,
         required: bool = True) -> str | None:
    value = item.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise _bad(f"{where}.{key}: expected a non-empty string, got "
                   f"{value!r}")
    return value


def _str_list(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(
            isinstance(v, str) and v for v in value):
        raise _bad(f"{where}: expected a list of strings, got {value!r}")
    return tuple(value)


def _range(value: Any, where: str) -> catalogue.VersionRange:
    if (not isinstance(value, list) or len(value) != 2 or not all(
            isinstance(v, str) and _VERSION_RE.match(v) for v in value)):
        raise _bad(f"{where}: expected [\"MIN\", \"MAX\"] versions such as "
                   f"[\"1.0\", \"1.2\"], got {value!r}")
    rng = catalogue.VersionRange(value[0], value[1])
    if catalogue.version_tuple(rng.min) > catalogue.version_tuple(rng.max):
        raise _bad(f"{where}: min {rng.min} is greater than max {rng.max}")
    return rng


def _item(raw: Any, i: int) -> OfferItem:
    where = f"offer[{i}]"
    if not isinstance(raw, Mapping):
        raise _bad(f"{where}: expected an object, got {type(raw).__name__}")
    name = _str(raw, "name", where)
    where = f"offer[{i}]({name})"
    vif_type = _str(raw, "vif_type", where)
    vnic_types = _str_list(raw.get("vnic_types"), f"{where}.vnic_types")
    if not vnic_types:
        raise _bad(f"{where}.vnic_types: must list at least one vnic_type")
    details = raw.get("vif_details") or {}
    if not isinstance(details, Mapping) or any(
            isinstance(v, (Mapping, list)) for v in details.values()):
        raise _bad(f"{where}.vif_details: expected an object of scalars, "
                   f"got {details!r}")
    required = _str_list(raw.get("required_details"),
                         f"{where}.required_details")
    osv = raw.get("os_vif")
    if not isinstance(osv, Mapping):
        raise _bad(f"{where}.os_vif: expected an object, got {osv!r}")
    obj = _str(osv, "object", f"{where}.os_vif")
    versions = _range(osv.get("versions"), f"{where}.os_vif.versions")
    pp = osv.get("port_profile")
    pp_obj: str | None = None
    pp_versions: catalogue.VersionRange | None = None
    if pp is not None:
        if (not isinstance(pp, list) or len(pp) != 3
                or not isinstance(pp[0], str) or not pp[0]):
            raise _bad(f"{where}.os_vif.port_profile: expected [OBJECT, MIN,"
                       f" MAX], got {pp!r}")
        pp_obj = pp[0]
        pp_versions = _range(list(pp[1:]), f"{where}.os_vif.port_profile")
    plugin = _str(raw, "plugin", where)
    assert name and vif_type and obj and plugin
    return OfferItem(
        name=name, vif_type=vif_type, vnic_types=vnic_types,
        vif_details=dict(details), required_details=required,
        os_vif_object=obj, os_vif_versions=versions,
        port_profile_object=pp_obj, port_profile_versions=pp_versions,
        plugin=plugin)


def decode_value(value: Any, *, max_items: int | None = None,
                 max_bytes: int | None = None) -> Offer:
    """Decode the value found under ``binding:profile[KEY]``."""
    if max_items is None:
        max_items = CONF.os_vif_pref.offer_max_items
    if max_bytes is None:
        max_bytes = CONF.os_vif_pref.offer_max_bytes
    if isinstance(value, (str, bytes)):
        # Some clients store the profile value JSON-encoded.
        if len(value) > max_bytes:
            raise _bad(f"larger than [{KEY}] offer_max_bytes = {max_bytes} "
                       "bytes")
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise _bad(f"not valid JSON: {exc}") from None
    if not isinstance(value, Mapping):
        raise _bad(f"expected an object with 'version' and 'offer', got "
                   f"{type(value).__name__}")
    if "version" not in value:
        raise _bad("no 'version'")
    version = _version(value["version"])
    raw_items = value.get("offer")
    if not isinstance(raw_items, list):
        raise _bad(f"'offer' must be a list, got "
                   f"{type(raw_items).__name__}")
    # Bounds first: both are cheap and independent of what was sent.
    if len(raw_items) > max_items:
        raise _bad(f"{len(raw_items)} items, more than [{KEY}] "
                   f"offer_max_items = {max_items}")
    key = _canonical(value, max_bytes, max_items)
    if key is not None:
        cached = _decoded.get(key)
        if cached is not None:
            return cached
    _check_size(value, max_bytes)
    items = tuple(_item(raw, i) for i, raw in enumerate(raw_items))
    seen: set[str] = set()
    for item in items:
        if item.name in seen:
            raise _bad(f"binding {item.name!r} is offered twice")
        seen.add(item.name)
    offer = Offer(version=version, items=items)
    if key is not None:
        if len(_decoded) >= _DECODED_MAX:
            _decoded.pop(next(iter(_decoded)))
        _decoded[key] = offer
    return offer


#: Offers already decoded, by canonical JSON.  A compute host sends the same
#: offer with every port it binds, so Neutron sees few distinct ones; a hit
#: skips the per-item validation (most of the cost), a miss is validated in
#: full and then remembered.  Offers are immutable, so sharing is safe.
_decoded: dict[tuple[str, int, int], Offer] = {}
_DECODED_MAX = 64


def _canonical(value: Any, max_bytes: int,
               max_items: int) -> tuple[str, int, int] | None:
    """A cache key for a plain-JSON offer, or None (then no caching).

    json.dumps runs in C, so this costs a fraction of validating the items;
    anything it cannot encode (non-JSON types, NaN, odd keys, extreme
    nesting) or that is over the size bound goes down the full checking
    path, which reports it.
    """
    if type(value) is not dict:
        return None
    for k, v in value.items():
        # The envelope holds a version and perhaps newer small fields; a
        # large one is left to the bounded walk, which refuses it cheaply.
        if k != "offer" and not (v is None or type(v) in (int, float, bool)
                                 or (type(v) is str and len(v) <= 256)):
            return None
    try:
        text = _dumps(value)
    except (TypeError, ValueError, RecursionError):
        return None
    if len(text) > max_bytes:
        return None
    return text, max_bytes, max_items


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"),
                      allow_nan=False)


def decode(profile: Mapping[str, Any] | None, **bounds: Any) -> Offer | None:
    """The offer in a port's ``binding:profile``, or ``None`` if it has none.

    ``None`` (no key, or a null value) means the request came from a Nova
    that does not negotiate; anything present but wrong raises
    :class:`~os_vif_pref.exceptions.MalformedOffer` saying what and where.
    """
    if not profile:
        return None
    if not isinstance(profile, Mapping):
        raise _bad(f"binding:profile is a {type(profile).__name__}, not an "
                   "object")
    value = profile.get(KEY)
    if value is None:
        return None
    return decode_value(value, **bounds)


def to_json(obj: Offer | Iterable[ItemLike], *, indent: int | None = None,
            ) -> str:
    """The binding:profile fragment ``{"os_vif_pref": {...}}`` as JSON."""
    separators = (",", ":") if indent is None else (",", ": ")
    return json.dumps({KEY: encode(obj)}, indent=indent,
                      separators=separators)


def from_json(text: str | bytes) -> Offer:
    """Read an offer from JSON (CLI ``--offer FILE``).

    Accepts a whole ``binding:profile`` (``{"os_vif_pref": {...}}``) or just
    the value under the key (``{"version": 1, "offer": [...]}``).
    """
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise _bad(f"not valid JSON: {exc}") from None
    if isinstance(data, Mapping) and KEY in data:
        offer = decode(data)
        if offer is None:
            raise _bad(f"'{KEY}' is null")
        return offer
    return decode_value(data)
