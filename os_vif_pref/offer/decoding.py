"""Reading the offer: what Neutron (and Nova's check) reads back.

:func:`decode` and :func:`read_offer` refuse a malformed or oversized value
naming the field, bounded (items and bytes) before any per-item work; an
unknown major version is logged once and read as no offer.  What
neutron-server runs of the offer, apart so that it can be read alone.
"""

from __future__ import annotations

from collections.abc import Mapping
import json
import logging
from typing import Any

from os_vif_pref import exceptions
from os_vif_pref.exceptions import excerpt
from os_vif_pref.offer.model import (
    _CLASS_NAMES,
    _DETAIL_NAMES,
    _KEY_RE,
    _MAX_DEPTH,
    _MAX_HOST,
    _NAME_RE,
    _OBJ_RE,
    _REFS_RE,
    _TOKEN_START,
    _VALUE_RE,
    _VNIC_NAMES,
    _WIRE_VERSION_RE,
    KEY,
    VERSION,
    Offer,
    OfferItem,
)
from os_vif_pref.offer.opts import CONF
from os_vif_pref.versions import VersionRange, version_tuple

# The name it has always logged under (offer was one module).
LOG = logging.getLogger("os_vif_pref.offer")


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
                    raise _bad(f"object key {excerpt(k)} is not a string")
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


class _UnknownMajor(Exception):
    """A well-formed envelope of a major version this side cannot read."""


def _version(raw: Any) -> tuple[int, int]:
    """(major, minor) of the ``v`` field; a newer minor is fine."""
    if isinstance(raw, bool):
        raise _bad(f"v: {excerpt(raw)} is not a version")
    if isinstance(raw, int) and 0 <= raw < 10_000:
        major, minor = raw, 0
    elif isinstance(raw, str) and _WIRE_VERSION_RE.match(raw):
        parts = raw.split(".")
        major = int(parts[0])
        minor = int(parts[1]) if len(parts) > 1 else 0
    else:
        raise _bad(f"v: {excerpt(raw)} is not a version (expected "
                   f"\"{VERSION}.N\")")
    if major != VERSION:
        raise _UnknownMajor(f"{major}.{minor}")
    return major, minor


def _objects(raw: Any) -> list[tuple[str, VersionRange]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise _bad(f"o: expected a list of \"CLASS MIN-MAX\", got "
                   f"{type(raw).__name__}")
    out = []
    for n, text in enumerate(raw):
        m = _OBJ_RE.match(text) if isinstance(text, str) else None
        if m is None:
            raise _bad(f"o[{n}]: expected \"CLASS MIN-MAX\" such as "
                       f"\"VIFVHostUser 1.0-1.1\", got {excerpt(text)}")
        name, lo, hi = m.group(1), m.group(2), m.group(3) or m.group(2)
        if version_tuple(lo) > version_tuple(hi):
            raise _bad(f"o[{n}]: min {lo} is greater than max {hi}")
        if name.islower():
            if name not in _CLASS_NAMES:
                raise _bad(f"o[{n}]: {excerpt(name)} is not a class code")
            name = _CLASS_NAMES[name]
        out.append((name, VersionRange(lo, hi)))
    return out


def _scalar_details(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, Mapping) or any(
            isinstance(v, (Mapping, list)) or not isinstance(k, str)
            for k, v in raw.items()):
        raise _bad(f"{where}: expected an object of scalars, got "
                   f"{excerpt(raw)}")
    return dict(raw)


def _item(raw: Any, i: int, objects: list[tuple[str, VersionRange]]
          ) -> OfferItem | None:
    """One item, or None if it has no vnic type this reader knows."""
    where = f"i[{i}]"
    extra_match: dict[str, Any] = {}
    extra_required: tuple[str, ...] = ()
    if isinstance(raw, list):
        if not raw:
            raise _bad(f"{where}: empty array")
        if len(raw) > 1:
            extra_match = _scalar_details(raw[1], f"{where}[1]")
        if len(raw) > 2:
            if not isinstance(raw[2], list) or not all(
                    isinstance(k, str) and k for k in raw[2]):
                raise _bad(f"{where}[2]: expected a list of detail names, "
                           f"got {excerpt(raw[2])}")
            extra_required = tuple(raw[2])
        raw = raw[0]
    if not isinstance(raw, str):
        raise _bad(f"{where}: expected a string \"NAME VIF_TYPE VNICS "
                   f"OBJECTS [DETAILS]\", got {type(raw).__name__}")
    fields = raw.split(" ")
    if len(fields) < 4:
        raise _bad(f"{where}: expected \"NAME VIF_TYPE VNICS OBJECTS "
                   f"[DETAILS]\", got {excerpt(raw)}")
    name, vif_type, vnics, refs = fields[:4]
    if not _NAME_RE.match(name):
        raise _bad(f"{where}.name: {excerpt(name)} is not a binding name")
    where = f"i[{i}]({name})"
    if not _NAME_RE.match(vif_type):
        raise _bad(f"{where}.vif_type: {excerpt(vif_type)} is not a vif_type")
    if not vnics.isalpha() or not vnics.isascii():
        raise _bad(f"{where}.vnic_types: expected vnic letters such as "
                   f"\"n\" or \"dv\", got {excerpt(vnics)}")
    # Letters this side does not know come from a newer minor version.
    vnic_types = tuple(dict.fromkeys(
        _VNIC_NAMES[c] for c in vnics if c in _VNIC_NAMES))
    m = _REFS_RE.match(refs)
    if m is None:
        raise _bad(f"{where}.objects: expected an index into 'o' or "
                   f"\"VIF,PROFILE\", got {excerpt(refs)}")
    indexes = [int(g) for g in m.groups() if g is not None]
    for n in indexes:
        if n >= len(objects):
            raise _bad(f"{where}.objects: index {n} is not in 'o' "
                       f"({len(objects)} entries)")
    obj, versions = objects[indexes[0]]
    pp_obj: str | None = None
    pp_versions: VersionRange | None = None
    if len(indexes) > 1:
        pp_obj, pp_versions = objects[indexes[1]]
    details: dict[str, Any] = {}
    required: list[str] = []
    for token in fields[4:]:
        if not token:
            raise _bad(f"{where}: empty detail token (two spaces)")
        if not _TOKEN_START.match(token):
            continue  # an extension of a newer minor version
        value: Any = True
        if token[0] in "!*":
            sigil, key = token[0], token[1:]
        elif "=" in token:
            sigil = "="
            key, value = token.split("=", 1)
            if not _VALUE_RE.match(value):
                raise _bad(f"{where}.vif_details: bad value in "
                           f"{excerpt(token)}")
        else:
            sigil, key = "", token
        if not _KEY_RE.match(key):
            raise _bad(f"{where}.vif_details: bad detail token "
                       f"{excerpt(token)}")
        key = _DETAIL_NAMES.get(key, key)
        if sigil == "*":
            required.append(key)
        elif key in details:
            raise _bad(f"{where}.vif_details: {excerpt(key)} given twice")
        else:
            details[key] = False if sigil == "!" else value
    for key, want in extra_match.items():
        if key in details:
            raise _bad(f"{where}.vif_details: {excerpt(key)} given twice")
        details[key] = want
    required.extend(extra_required)
    if not vnic_types:
        return None
    return OfferItem(
        name=name, vif_type=vif_type, vnic_types=vnic_types,
        vif_details=details, required_details=tuple(dict.fromkeys(required)),
        os_vif_object=obj, os_vif_versions=versions,
        port_profile_object=pp_obj, port_profile_versions=pp_versions)


def _decode(value: Any, max_items: int | None, max_bytes: int | None
            ) -> Offer:
    """Decode the value under the key; raises MalformedOffer or
    _UnknownMajor."""
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
        raise _bad(f"expected an object with 'v', 'h' and 'i', got "
                   f"{type(value).__name__}")
    if "v" in value:
        major, minor = _version(value["v"])
    elif "version" in value:
        # Version 1's envelope (never released): an unknown major.
        raw = value["version"]
        raise _UnknownMajor(str(raw)[:16])
    else:
        raise _bad("no 'v' (version)")
    raw_items = value.get("i")
    if not isinstance(raw_items, list):
        raise _bad(f"i: must be a list, got {type(raw_items).__name__}")
    # Bounds first: both are cheap and independent of what was sent.
    if len(raw_items) > max_items:
        raise _bad(f"i: {len(raw_items)} items, more than [{KEY}] "
                   f"offer_max_items = {max_items}")
    key = _canonical(value, max_bytes, max_items)
    if key is not None:
        cached = _decoded.get(key)
        if cached is not None:
            return cached
    _check_size(value, max_bytes)
    host = value.get("h")
    if not isinstance(host, str) or not host or len(host) > _MAX_HOST:
        raise _bad(f"h: expected the host name the offer is for, got "
                   f"{excerpt(host)}")
    objects = _objects(value.get("o"))
    items = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_items):
        item = _item(raw, i, objects)
        if item is None:
            continue
        if item.name in seen:
            raise _bad(f"i[{i}]: binding {excerpt(item.name)} is offered "
                       "twice")
        seen.add(item.name)
        items.append(item)
    offer = Offer(version=major, minor=minor, items=tuple(items), host=host)
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

#: Unknown major versions already logged (once each, not once per port).
_unknown_logged: set[str] = set()


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
        # The envelope holds a version, a host and perhaps newer small
        # fields; a large one is left to the bounded walk, which refuses
        # it cheaply.
        if k not in ("i", "o") and not (
                v is None or type(v) in (int, float, bool)
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


def _unknown_major(version: str) -> str:
    reason = (f"offer version {excerpt(version, quote=False)} is not "
              f"understood here (this side reads {VERSION}.x); ignored, "
              "binding as without an offer")
    if version not in _unknown_logged and len(_unknown_logged) < 64:
        _unknown_logged.add(version)
        LOG.warning("binding:profile[%s]: %s", KEY, reason)
    return reason


def decode_value(value: Any, *, max_items: int | None = None,
                 max_bytes: int | None = None) -> Offer | None:
    """Decode the value found under ``binding:profile[KEY]``.

    ``None`` for an unknown major version (logged once); raises
    :class:`~os_vif_pref.exceptions.MalformedOffer` for a malformed one.
    """
    try:
        return _decode(value, max_items, max_bytes)
    except _UnknownMajor as exc:
        _unknown_major(str(exc))
        return None


def decode(profile: Mapping[str, Any] | None, **bounds: Any) -> Offer | None:
    """The offer in a port's ``binding:profile``, or ``None`` if it has none.

    ``None`` (no key, a null value, or an unknown major version, logged)
    means: bind as for a Nova that does not negotiate.  Anything present but
    wrong raises :class:`~os_vif_pref.exceptions.MalformedOffer` saying what
    and where.
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


def read_offer(profile: Any, **bounds: Any
               ) -> tuple[Offer | None, str | None]:
    """The offer in a ``binding:profile`` and, if there is one this side
    cannot use, why not.  Never raises (the Neutron side uses this: a
    broken offer must not fail a binding)."""
    try:
        if isinstance(profile, Offer):
            return profile, None
        if profile is not None and not isinstance(profile, Mapping):
            raise _bad(f"binding:profile is a {type(profile).__name__}, "
                       "not an object")
        value = None if not profile else profile.get(KEY)
        if value is None:
            return None, None
        return _decode(value, bounds.get("max_items"),
                       bounds.get("max_bytes")), None
    except _UnknownMajor as exc:
        return None, _unknown_major(str(exc))
    except exceptions.MalformedOffer as exc:
        return None, str(exc)
    except Exception as exc:  # defensive: never break binding
        return None, f"unreadable offer ({type(exc).__name__}: {exc})"




def from_json(text: str | bytes) -> Offer:
    """Read an offer from JSON (CLI ``--offer FILE``).

    Accepts a whole ``binding:profile`` (``{"os_vif_pref": {...}}``) or just
    the value under the key (``{"v": "2.0", "h": ..., "i": [...]}``).  Here
    an unknown major version is an error: the user asked for this offer.
    """
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise _bad(f"not valid JSON: {exc}") from None
    if isinstance(data, Mapping) and KEY in data:
        data = data[KEY]
        if data is None:
            raise _bad(f"'{KEY}' is null")
    try:
        return _decode(data, None, None)
    except _UnknownMajor as exc:
        raise _bad(f"version {exc} is not supported (this side reads "
                   f"{VERSION}.x)") from None
