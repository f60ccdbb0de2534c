"""The offer and its items, the wire grammar's codes and limits, and their
canonical wire value.

What both directions share: :class:`Offer` and :class:`OfferItem` (built
from catalogue entries by :func:`from_entries`, or by the reader),
:func:`details_match`, the short codes of the format, and ``_Encoding``,
the one place that turns an offer into its wire value (the encoder adds the
budget; ``Offer.to_dict`` uses it whole).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
import dataclasses
import json
import re
from typing import Any, Protocol, Union

from os_vif_pref.exceptions import excerpt
from os_vif_pref.versions import VersionRange

KEY = "os_vif_pref"
#: Major and minor version this module writes; it reads every ``2.x``.
VERSION = 2
MINOR = 0

#: Neutron's stored size limit of the whole ``binding:profile``.
PROFILE_MAX = 4095


#: Neutron's vnic types, one letter each on the wire (fixed for major 2;
#: a minor version may add letters).
VNIC_CODES: dict[str, str] = {
    "normal": "n", "direct": "d", "macvtap": "m", "baremetal": "b",
    "direct-physical": "p", "virtio-forwarder": "f", "smart-nic": "s",
    "vdpa": "v", "remote-managed": "r", "accelerator-direct": "a",
    "accelerator-direct-physical": "A",
}
_VNIC_NAMES = {v: k for k, v in VNIC_CODES.items()}

#: Short spellings of well-known vif_details keys (fixed for major 2: a
#: reader cannot tell an unknown code from a literal key, so new keys are
#: written in full).
DETAIL_CODES: dict[str, str] = {
    "ovs_hybrid_plug": "hy", "port_filter": "pf",
    "vhostuser_ovs_plug": "vo", "vhostuser_fp_plug": "vf",
    "vhostuser_vrouter_plug": "vr", "vhostuser_socket": "vs",
    "vhostuser_mode": "vm", "macvtap_source": "ms", "macvtap_mode": "mm",
    "physical_interface": "pi", "bridge_name": "bn", "datapath_type": "dt",
    "connectivity": "ct", "vlan": "vl", "ovs_create_tap": "ot",
}
_DETAIL_NAMES = {v: k for k, v in DETAIL_CODES.items()}

#: Short names of os-vif's classes in ``o`` (fixed for major 2; lower case,
#: so never a class name, which starts upper case; other classes are
#: written in full).
CLASS_CODES: dict[str, str] = {
    "VIFGeneric": "g", "VIFBridge": "b", "VIFOpenVSwitch": "o",
    "VIFDirect": "d", "VIFVHostUser": "v", "VIFHostDevice": "h",
    "VIFNestedDPDK": "n",
    "VIFPortProfileBase": "pb", "VIFPortProfileOpenVSwitch": "po",
    "VIFPortProfileFPOpenVSwitch": "pfo", "VIFPortProfileFPBridge": "pfb",
    "VIFPortProfileFPTap": "pft", "VIFPortProfileOVSRepresentor": "pr",
    "VIFPortProfile8021Qbg": "pqg", "VIFPortProfile8021Qbh": "pqh",
    "VIFPortProfileK8sDPDK": "pk",
}
_CLASS_NAMES = {v: k for k, v in CLASS_CODES.items()}

_VERSION_RE = re.compile(r"^[0-9]{1,4}\.[0-9]{1,4}$")
_WIRE_VERSION_RE = re.compile(r"^([0-9]{1,4})(?:\.([0-9]{1,4}))?$")
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}$")
_KEY_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}$")
_VALUE_RE = re.compile(r"^[A-Za-z0-9_.:/@+-]{0,255}$")
_OBJ_RE = re.compile(r"^([A-Z][A-Za-z0-9]{0,63}|[a-z]{1,4}) "
                     r"([0-9]{1,4}\.[0-9]{1,4})"
                     r"(?:-([0-9]{1,4}\.[0-9]{1,4}))?$")
_REFS_RE = re.compile(r"^([0-9]{1,4})(?:,([0-9]{1,4}))?$")
_TOKEN_START = re.compile(r"^[A-Za-z0-9_!*]")
_MAX_HOST = 255
_MAX_DEPTH = 6  # deepest legitimate path: i[n][1][key]


def details_match(match: Mapping[str, Any],
                  details: Mapping[str, Any] | None) -> bool:
    """Whether Neutron's vif_details have every selecting value of ``match``.

    An absent detail counts as false/null, as Nova reads them with
    ``details.get(key, False)``.  The catalogue and the offer both use this
    one rule, so Nova and Neutron cannot disagree on what a binding is.
    """
    details = details or {}
    for key, want in match.items():
        have = details.get(key)
        if want in (False, None):
            if have not in (False, None):
                return False
        elif have != want:
            return False
    return True


@dataclasses.dataclass(frozen=True)
class OfferItem:
    """One binding the host offers: enough for Neutron to decide.

    ``vif_details`` is the catalogue entry's match dict (an absent key means
    false/null, as Nova reads details); ``required_details`` are keys Neutron
    must fill (e.g. ``vhostuser_socket``).  Versions are the os-vif object
    versions the host can plug, so Nova can build the newest both ends of a
    migration understand.
    """

    name: str
    vif_type: str
    vnic_types: tuple[str, ...]
    vif_details: Mapping[str, Any]
    required_details: tuple[str, ...]
    os_vif_object: str
    os_vif_versions: VersionRange
    port_profile_object: str | None
    port_profile_versions: VersionRange | None

    @classmethod
    def from_entry(cls, entry: EntryLike) -> OfferItem:
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
        )

    def accepts(self, vif_type: str, vnic_type: str,
                details: Mapping[str, Any] | None) -> bool:
        """Whether a Neutron binding is this item (same rule as the
        catalogue: an absent detail counts as false/null)."""
        return (vif_type == self.vif_type and vnic_type in self.vnic_types
                and details_match(self.vif_details, details))

    def to_dict(self) -> dict[str, Any]:
        """A readable form (CLI output, messages); not the wire form."""
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
        return out


@dataclasses.dataclass(frozen=True)
class Offer:
    """A decoded offer: ``items`` in the host's preference order.

    ``host`` is the compute host it was computed for: Neutron uses the offer
    only for a port whose ``binding:host_id`` is that host (Nova copies a
    source host's profile into a migration destination's binding).
    ``version`` / ``minor`` are what the sender wrote.
    """

    version: int
    items: tuple[OfferItem, ...]
    host: str | None = None
    minor: int = MINOR

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

    def for_host(self, host: str | None) -> bool:
        """Whether this offer was computed for ``host``."""
        return self.host is not None and self.host == host

    def to_dict(self) -> dict[str, Any]:
        """The wire value of every item (no budget): see :func:`encode`."""
        return _Encoding(self, _host_of(self, None)).value()


class ProfileLike(Protocol):
    """A port profile as the offer reads it (the catalogue's
    ``ProfileSpec`` has this shape)."""

    @property
    def object(self) -> str: ...

    @property
    def versions(self) -> VersionRange: ...


class EntryLike(Protocol):
    """A binding as the offer reads it: the catalogue's ``Entry`` has this
    shape.  Named by shape, not imported, even for type hints: the wire
    format depends on nothing of the host side (the catalogue imports this
    package, never the reverse)."""

    @property
    def name(self) -> str: ...

    @property
    def vif_type(self) -> str: ...

    @property
    def vnic_types(self) -> Iterable[str]: ...

    @property
    def details_match(self) -> Mapping[str, Any]: ...

    @property
    def details_required(self) -> Iterable[str]: ...

    @property
    def vif_object(self) -> str: ...

    @property
    def vif_versions(self) -> VersionRange: ...

    @property
    def port_profile(self) -> ProfileLike | None: ...


ItemLike = Union[OfferItem, EntryLike]


def _as_item(obj: Any) -> OfferItem:
    if isinstance(obj, OfferItem):
        return obj
    # A catalogue Entry, recognised by shape: importing the catalogue here
    # would load it (YAML, jsonschema) inside neutron-server.
    if hasattr(obj, "details_match") and hasattr(obj, "vif_object"):
        return OfferItem.from_entry(obj)
    raise TypeError(f"cannot offer a {type(obj).__name__}")


def from_entries(entries: Iterable[ItemLike], *,
                 host: str | None = None) -> Offer:
    """An :class:`Offer` of catalogue entries (or items), order kept."""
    return Offer(version=VERSION, items=tuple(_as_item(e) for e in entries),
                 host=host)



def stored_size(profile: Mapping[str, Any]) -> int:
    """Characters ``profile`` takes in Neutron's column (what ML2 stores:
    ``oslo_serialization.jsonutils.dumps``, i.e. ``json.dumps``)."""
    return len(json.dumps(profile))


def _host_of(offer: Offer, host: str | None) -> str:
    host = host or offer.host
    if not isinstance(host, str) or not host or len(host) > _MAX_HOST:
        raise ValueError(
            "an offer names the host it was computed for: got "
            f"{excerpt(host)}")
    return host


def _range_text(obj: str, rng: VersionRange) -> str:
    obj = CLASS_CODES.get(obj, obj)
    if rng.min == rng.max:
        return f"{obj} {rng.min}"
    return f"{obj} {rng.min}-{rng.max}"


def _wire_name(kind: str, value: str, item: OfferItem) -> str:
    if not isinstance(value, str) or not _NAME_RE.match(value):
        raise ValueError(f"offer item {excerpt(item.name)}: {kind} "
                         f"{excerpt(value)} cannot be sent (letters, "
                         "digits, _ . : - only, at most 64)")
    return value


def _short_key(key: str) -> str | None:
    """The token spelling of a detail key, or None (array form)."""
    code = DETAIL_CODES.get(key)
    if code is not None:
        return code
    if _KEY_RE.match(key) and key not in _DETAIL_NAMES:
        return key
    return None


class _Encoding:
    """An offer's items in wire form, one at a time, with their sizes.

    Items are encoded in preference order, each adding the ``o`` entries it
    is the first to use; an item's text never depends on later items, so
    the size of any prefix of the offer is a running sum, exact to the
    character (``json.dumps`` of a list or object is additive).
    """

    def __init__(self, offer: Offer, host: str) -> None:
        self.host = host
        self.objects: list[str] = []
        self._index: dict[str, int] = {}
        self.items: list[Any] = []
        #: number of ``o`` entries the first n+1 items use
        self._object_counts: list[int] = []
        for item in offer.items:
            self.items.append(self._item(item))
            self._object_counts.append(len(self.objects))
        self._sizes: list[int] | None = None

    def _prefix_sizes(self) -> list[int]:
        """Stored size of the first n items, for n = 0..len (computed only
        when the offer has to be cut: one json.dumps per item)."""
        if self._sizes is None:
            size = stored_size({KEY: self._envelope([], [])})
            sizes = [size]
            done = 0
            for n, wire in enumerate(self.items):
                for text in self.objects[done:self._object_counts[n]]:
                    size += len(json.dumps(text)) + (2 if done else 0)
                    done += 1
                size += len(json.dumps(wire)) + (2 if n else 0)
                sizes.append(size)
            self._sizes = sizes
        return self._sizes

    def _envelope(self, objects: list[str], items: list[Any]
                  ) -> dict[str, Any]:
        return {"v": f"{VERSION}.{MINOR}", "h": self.host, "o": objects,
                "i": items}

    def _ref(self, obj: str, rng: VersionRange) -> str:
        text = _range_text(obj, rng)
        if not _OBJ_RE.match(text):
            raise ValueError(f"os-vif object {excerpt(text)} cannot be sent")
        index = self._index.get(text)
        if index is None:
            index = self._index[text] = len(self.objects)
            self.objects.append(text)
        return str(index)

    def _item(self, item: OfferItem) -> Any:
        name = _wire_name("name", item.name, item)
        vif_type = _wire_name("vif_type", item.vif_type, item)
        try:
            vnics = "".join(VNIC_CODES[v] for v in item.vnic_types)
        except KeyError as exc:
            raise ValueError(f"offer item {excerpt(name)}: unknown vnic_type "
                             f"{excerpt(exc.args[0])}") from None
        if not vnics:
            raise ValueError(f"offer item {excerpt(name)}: no vnic_types")
        refs = self._ref(item.os_vif_object, item.os_vif_versions)
        if item.port_profile_object is not None:
            assert item.port_profile_versions is not None
            refs += "," + self._ref(item.port_profile_object,
                                    item.port_profile_versions)
        fields = [name, vif_type, vnics, refs]
        extra_match: dict[str, Any] = {}
        extra_required: list[str] = []
        for key, want in item.vif_details.items():
            short = _short_key(key) if isinstance(key, str) else None
            if short is not None and want is True:
                fields.append(short)
            elif short is not None and want is False:
                fields.append("!" + short)
            elif (short is not None and isinstance(want, str)
                  and _VALUE_RE.match(want)):
                fields.append(f"{short}={want}")
            else:
                extra_match[key] = want
        for key in item.required_details:
            short = _short_key(key)
            if short is None:
                extra_required.append(key)
            else:
                fields.append("*" + short)
        text = " ".join(fields)
        if extra_required:
            return [text, extra_match, extra_required]
        if extra_match:
            return [text, extra_match]
        return text

    def value(self, n: int | None = None) -> dict[str, Any]:
        """The wire value of the first ``n`` items (all by default)."""
        if n is None:
            n = len(self.items)
        objects = self.objects[:self._object_counts[n - 1]] if n else []
        return self._envelope(objects, self.items[:n])

    def size(self, n: int) -> int:
        """Stored size of ``{KEY: value(n)}``."""
        return self._prefix_sizes()[n]
