"""The binding catalogue: load, layer and validate the YAML files.

The catalogue is the one place that says which Neutron bindings this host
may accept and how each becomes an os-vif object.  Everything downstream
(plugins' ``describe()``, the preference list, the offer, the Nova-side
conversion) reads :class:`Entry` objects from here, so the checks are strict
and every error names file, line, column and field.

Layers, later ones win only where they say so explicitly:

1. the bundled files (``catalogue/`` in the repository, shipped in the wheel
   as ``os_vif_pref/catalogue_data`` and read with importlib.resources);
2. files contributed by other installed packages through the entry-point
   group ``os_vif_pref.catalogues``;
3. ``*.yaml`` files in the directories of ``[os_vif_pref] catalogue_dirs``.

A later layer may add entries; it may change an existing entry only with
``override: true`` (merged field by field) and disable one only with
``enabled: false``.  Any other name collision is an error naming both files.
A file with errors is left out as a whole (never half-loaded), and the error
says which file to fix, so a broken vendor file cannot silently take the
bundled entries down with it.

What one file may cost is bounded (size, YAML anchors and aliases, nesting,
nodes, scalar length; see ``MAX_DEPTH`` and the others below), checked
while it is parsed: the files are read inside nova-compute, and a few
hundred bytes of YAML aliases would otherwise expand to gigabytes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
import contextlib
import dataclasses
import functools
from importlib import metadata
import importlib.resources
from importlib.resources.abc import Traversable
import itertools
import json
import logging
import os
from pathlib import Path
import re
import stat
import sys
from typing import TYPE_CHECKING, Any, Union

import fastjsonschema
from oslo_config import cfg
import yaml
import yaml_rs

# VersionRange, version_tuple and details_match are defined beside the wire
# format, which neutron-server reads without this module (the dependency
# runs one way); catalogue's names stay for existing callers.
from os_vif_pref import exceptions
from os_vif_pref.exceptions import excerpt
from os_vif_pref.offer import details_match  # noqa: F401
from os_vif_pref.versions import VersionRange, version_tuple  # noqa: F401

if TYPE_CHECKING:
    import jsonschema

LOG = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "os_vif_pref.catalogues"
FORMAT = 1

#: Neutron's vnic types (neutron_lib.api.definitions.portbindings.VNIC_TYPES).
VNIC_TYPES = frozenset({
    "normal", "direct", "macvtap", "baremetal", "direct-physical",
    "virtio-forwarder", "smart-nic", "vdpa", "remote-managed",
    "accelerator-direct", "accelerator-direct-physical",
})

#: VIF fields the converter always fills the way Nova does; an entry must not
#: redefine them (it would silently diverge from Nova).
COMMON_VIF_FIELDS = frozenset({
    "id", "address", "network", "plugin", "active", "preserve_on_delete",
    "has_traffic_filtering", "port_profile",
})

catalogue_opts = [
    cfg.ListOpt(
        "catalogue_dirs", default=[],
        help="Directories whose .yaml files are read as the last layer of "
             "the binding catalogue, after the bundled files and the files "
             "of the os_vif_pref.catalogues entry points. An entry there may "
             "add a binding, or change (override: true) or disable "
             "(enabled: false) an existing one."),
    cfg.IntOpt(
        "catalogue_max_file_bytes", default=1024 * 1024, min=1024,
        help="The largest catalogue file read, in bytes. A larger file is "
             "refused whole (one error naming this option) and the rest of "
             "the catalogue loads: no legitimate file comes near the "
             "default (the bundled catalogue is 18 KiB, 500 vendor entries "
             "350 KiB), and the bound keeps a broken or hostile file from "
             "costing nova-compute time and memory."),
    cfg.DictOpt(
        "plugin_choice", default={},
        help="Per catalogue entry, which os-vif plugin plugs it, as "
             "entry:plugin pairs (e.g. ovs:ovs to use upstream os-vif's "
             "plugin instead of pref_ovs). The plugin must be the entry's "
             "plugin or one of its alt_plugins."),
]

CONF = cfg.CONF
CONF.register_opts(catalogue_opts, group="os_vif_pref")


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    return [("os_vif_pref", catalogue_opts)]


Source = Union[str, Path, Traversable]


# --------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ProfileSpec:
    object: str
    versions: VersionRange
    fields: Mapping[str, Any]


@dataclasses.dataclass(frozen=True)
class Entry:
    """One binding type this host may accept."""

    name: str
    preference: int
    vif_type: str
    vnic_types: tuple[str, ...]
    details_match: Mapping[str, Any]
    details_required: tuple[str, ...]
    vif_object: str
    vif_versions: VersionRange
    fields: Mapping[str, Any]
    port_profile: ProfileSpec | None
    plugin: str
    alt_plugins: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    instance_rules: Mapping[str, Any] = dataclasses.field(
        default_factory=dict)
    description: str = ""
    enabled: bool = True
    deprecated: bool = False
    replacement: str | None = None
    deprecation_reason: str = ""
    #: Computes "file:line" on demand: line numbers cost a second parse,
    #: paid only when someone asks (errors, ``catalogue list --long``).
    locate: Callable[[], str] = dataclasses.field(
        default=lambda: "", repr=False, compare=False)

    @functools.cached_property
    def origin(self) -> str:
        return self.locate()

    def accepts(self, vif_type: str, vnic_type: str,
                details: Mapping[str, Any] | None) -> bool:
        """Whether a Neutron binding (type, vnic type, details) is this one.

        An absent detail counts as false/null, as Nova reads them with
        ``details.get(key, False)``.
        """
        return (vif_type == self.vif_type and vnic_type in self.vnic_types
                and details_match(self.details_match, details))

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-able form (CLI output, documentation)."""
        out: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "preference": self.preference,
            "enabled": self.enabled,
            "neutron": {
                "vif_type": self.vif_type,
                "vnic_types": list(self.vnic_types),
                "vif_details": {"match": dict(self.details_match),
                                "required": list(self.details_required)},
            },
            "os_vif": {
                "object": self.vif_object,
                "versions": {"min": self.vif_versions.min,
                             "max": self.vif_versions.max},
                "fields": _plain(self.fields),
            },
            "plugin": self.plugin,
            "alt_plugins": list(self.alt_plugins),
            "requires": list(self.requires),
            "instance": _plain(self.instance_rules),
            "origin": self.origin,
        }
        if self.port_profile is not None:
            out["os_vif"]["port_profile"] = {
                "object": self.port_profile.object,
                "versions": {"min": self.port_profile.versions.min,
                             "max": self.port_profile.versions.max},
                "fields": _plain(self.port_profile.fields),
            }
        if self.deprecated:
            out["deprecated"] = {"replacement": self.replacement,
                                 "reason": self.deprecation_reason}
        return out


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


@dataclasses.dataclass(frozen=True)
class Catalogue:
    """The loaded catalogue: enabled entries in preference order."""

    entries: tuple[Entry, ...]
    disabled: tuple[Entry, ...] = ()
    errors: tuple[exceptions.CatalogueError, ...] = ()
    files: tuple[str, ...] = ()

    @functools.cached_property
    def _by_name(self) -> dict[str, Entry]:
        return {e.name: e for e in self.entries + self.disabled}

    def get(self, name: str) -> Entry:
        try:
            return self._by_name[name]
        except KeyError:
            raise exceptions.CatalogueEntryNotFound(
                name=name, known=", ".join(sorted(self._by_name))) from None

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def find(self, vif_type: str, vnic_type: str,
             details: Mapping[str, Any] | None = None) -> list[Entry]:
        """Enabled entries accepting a Neutron binding, preferred first."""
        return [e for e in self.entries
                if e.accepts(vif_type, vnic_type, details)]

    def by_plugin(self, plugin: str) -> list[Entry]:
        return [e for e in self.entries if e.plugin == plugin]

    def host_plugin_info(self, plugin: str) -> Any:
        """An os-vif ``HostPluginInfo`` for a plugin, from its entries.

        This is how our plugins' ``describe()`` is generated: what a plugin
        claims to plug is exactly what the catalogue says it plugs, so the
        two cannot drift apart.
        """
        from os_vif.objects import host_info

        vifs: dict[str, tuple[VersionRange, dict[str, VersionRange]]] = {}
        for entry in self.by_plugin(plugin):
            rng, profiles = vifs.setdefault(
                entry.vif_object, (entry.vif_versions, {}))
            rng = VersionRange(
                min(rng.min, entry.vif_versions.min, key=version_tuple),
                max(rng.max, entry.vif_versions.max, key=version_tuple))
            if entry.port_profile is not None:
                pp = entry.port_profile
                old = profiles.get(pp.object, pp.versions)
                profiles[pp.object] = VersionRange(
                    min(old.min, pp.versions.min, key=version_tuple),
                    max(old.max, pp.versions.max, key=version_tuple))
            vifs[entry.vif_object] = (rng, profiles)
        return host_info.HostPluginInfo(
            plugin_name=plugin,
            vif_info=[
                host_info.HostVIFInfo(
                    vif_object_name=name,
                    min_version=rng.min,
                    max_version=rng.max,
                    supported_port_profiles=[
                        host_info.HostPortProfileInfo(
                            profile_object_name=pname,
                            min_version=prng.min,
                            max_version=prng.max)
                        for pname, prng in sorted(profiles.items())])
                for name, (rng, profiles) in sorted(vifs.items())])


# --------------------------------------------------------------------------
# YAML with positions and duplicate-key detection
# --------------------------------------------------------------------------

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader12(_Loader):  # type: ignore[misc,valid-type]
    """PyYAML with YAML 1.2 core-schema scalars, like yaml-rs.

    PyYAML resolves YAML 1.1 (``no`` is false, ``0o7`` a string); yaml-rs
    resolves 1.2.  The slow path must read values exactly as the fast path
    does, so plain scalars are resolved with the 1.2 core rules here.
    """

    yaml_implicit_resolvers: dict[Any, Any] = {}


for _tag, _regexp, _first in (
        ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$",
         "tTfF"),
        ("tag:yaml.org,2002:int",
         r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$",
         "-+0123456789"),
        ("tag:yaml.org,2002:float",
         r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
         r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
         "-+.0123456789"),
        ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$",
         ["~", "n", "N", ""])):
    _Loader12.add_implicit_resolver(_tag, re.compile(_regexp), list(_first))


def _construct_int12(loader: Any, node: Any) -> int:
    """A 1.2 core-schema integer (``08`` is 8, as yaml-rs reads it; PyYAML's
    1.1 constructor takes a leading 0 for octal and fails on ``08``)."""
    value = str(loader.construct_scalar(node))
    sign = -1 if value.startswith("-") else 1
    digits = value.lstrip("+-")
    if digits.startswith("0o"):
        number = int(digits[2:], 8)
    elif digits.startswith("0x"):
        number = int(digits[2:], 16)
    else:
        number = int(digits, 10)
    if number.bit_length() > MAX_INT_BITS:
        raise yaml.constructor.ConstructorError(
            None, None, f"an integer of {number.bit_length()} bits, more "
            f"than the {MAX_INT_BITS} a catalogue file allows",
            node.start_mark)
    return sign * number


_Loader12.add_constructor("tag:yaml.org,2002:int", _construct_int12)

#: Plain scalars that YAML 1.1 tools (PyYAML, Ansible, yamllint) read as
#: booleans: ambiguous in a file people edit by hand, so they must be quoted.
_YAML11_BOOLS = frozenset(
    "y Y yes Yes YES n N no No NO on On ON off Off OFF".split())

Path_ = tuple[Union[str, int], ...]

# What one file may cost.  Catalogue files come from vendors' packages and
# operators' directories and are read inside nova-compute: a typo, a broken
# generator or an attacker must not be able to make a 300-byte file expand
# to gigabytes (YAML aliases) or a message quote megabytes.  Each bound is
# checked while the YAML is parsed, before anything is built from it; a file
# over one is refused whole, like any file with errors.  The numbers are in
# doc/source/reference/catalogue.rst.

#: Collections nested in collections: a legitimate file needs 7
#: (``entries[i].os_vif.fields.f.fields.g.name``); also far below Python's
#: recursion limit for everything that walks the data afterwards.
MAX_DEPTH = 32
#: YAML nodes (scalars, keys, lists, mappings) in one file: about 60 per
#: entry, so room for 1,600 entries.
MAX_NODES = 100_000
#: Characters of one scalar (a key or a value); the longest legitimate ones
#: are descriptions of a few lines.
MAX_SCALAR_CHARS = 4096
#: Bits of an integer: what a catalogue holds (preferences, lengths,
#: constants) fits in 64; a longer one costs quadratic time to print.
MAX_INT_BITS = 64
#: Errors reported per file: enough to fix a file, not a screenful per
#: entry of a generated file gone wrong.
MAX_ERRORS_PER_FILE = 20

#: Refuses any alias in the fast parser; the slow one then says where.
_NO_ALIASES = yaml_rs.AliasLimits(max_total_replayed_events=0)
#: Where an anchor may start (a node's start: line start, after a blank or
#: a flow indicator).  Anchors are harmless without aliases but the format
#: has no use for either, and a text with one is read by the slow parser,
#: which locates it; "A & B" or "a&b" in a description never matches.
_MAYBE_ANCHOR = re.compile(r"(?:^|[\s\[{,])&\S", re.MULTILINE)
#: Characters YAML does not allow (yaml-rs lets some through, PyYAML
#: refuses them where they stand).
_NON_PRINTABLE = yaml.reader.Reader.NON_PRINTABLE
#: The ASCII characters YAML allows (tab, newlines, printable).
_ASCII_ALLOWED = bytes([9, 10, 13, *range(32, 127)])


def _non_printable(text: str) -> bool:
    """Whether ``text`` holds a character YAML does not allow.  ASCII text
    (nearly every catalogue) is checked at C speed; PyYAML's own
    expression, ten times slower, only reads the rest."""
    if text.isascii():
        return bool(text.encode("ascii").translate(None, _ASCII_ALLOWED))
    return _NON_PRINTABLE.search(text) is not None


class _Doc:
    """One parsed file: its data, and (on demand) where each value stood.

    Valid files are parsed by yaml-rs (YAML 1.2, fast); positions come from
    a second, slower PyYAML compose that runs only when an error or an
    origin must be located.
    """

    def __init__(self, path: str, text: str, data: Any,
                 marks: dict[Path_, tuple[int, int]] | None = None,
                 raw: dict[Path_, str] | None = None) -> None:
        self.path = path
        self.text = text
        self.data = data
        self._marks = marks
        self.raw = raw or {}

    @property
    def marks(self) -> dict[Path_, tuple[int, int]]:
        if self._marks is None:
            builder = _Builder(self.path, _Loader12(self.text))
            try:
                node = builder.loader.get_single_node()
                if node is not None:
                    builder.build(node)
            except yaml.YAMLError:
                pass
            finally:
                builder.loader.dispose()
            self._marks, self.raw = builder.marks, builder.raw
        return self._marks

    def where(self, field: Path_) -> tuple[int | None, int | None]:
        # The nearest located ancestor of the field.
        marks = self.marks
        for i in range(len(field), -1, -1):
            mark = marks.get(field[:i])
            if mark is not None:
                return mark
        return None, None

    def error(self, field: Path_, reason: str) -> exceptions.CatalogueError:
        line, col = self.where(field)
        return exceptions.CatalogueError(
            path=self.path, line=line, column=col,
            field=field_name(field, self.data), reason=reason)


def field_name(field: Path_, data: Any = None) -> str:
    """``entries[2](ovs).os_vif.versions.min``: readable and greppable."""
    out = ""
    node = data
    for part in field:
        if isinstance(part, int):
            out += f"[{part}]"
            try:
                node = node[part]
                if isinstance(node, dict) and isinstance(
                        node.get("name"), str):
                    # A name is short once valid; an invalid one is quoted
                    # by its own error, not in every field of its entry.
                    name = node["name"]
                    out += f"({name})" if len(name) <= 64 else "(...)"
            except (IndexError, KeyError, TypeError):
                node = None
        else:
            out += ("." if out else "") + part
            try:
                node = node[part]
            except (KeyError, TypeError, IndexError):
                node = None
    return out


class _Builder:
    """Turns a composed YAML node tree into Python data, recording marks."""

    def __init__(self, path: str, loader: Any) -> None:
        self.path = path
        self.loader = loader
        self.marks: dict[Path_, tuple[int, int]] = {}
        self.raw: dict[Path_, str] = {}
        self.errors: list[exceptions.CatalogueError] = []

    def build(self, node: yaml.Node, at: Path_ = ()) -> Any:
        self.marks[at] = (node.start_mark.line + 1,
                          node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            first_seen: dict[Any, int] = {}
            for knode, vnode in node.value:
                key = self.loader.construct_object(knode)
                if not isinstance(key, str):
                    self.errors.append(exceptions.CatalogueError(
                        path=self.path, line=knode.start_mark.line + 1,
                        column=knode.start_mark.column + 1,
                        field=field_name(at), reason=(
                            f"key {excerpt(knode.value)} is read as "
                            f"{type(key).__name__}; keys must be strings "
                            "(quote it)")))
                    continue
                if key in first_seen:
                    self.errors.append(exceptions.CatalogueError(
                        path=self.path, line=knode.start_mark.line + 1,
                        column=knode.start_mark.column + 1,
                        field=field_name(at + (key,)), reason=(
                            f"duplicate key {excerpt(key)} (first at line "
                            f"{first_seen[key]}); YAML would silently keep "
                            "only the last one")))
                    continue
                first_seen[key] = knode.start_mark.line + 1
                out[key] = self.build(vnode, at + (key,))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(n, at + (i,)) for i, n in enumerate(node.value)]
        if not node.style:  # plain scalar: None (Python) or '' (libyaml)
            self.raw[at] = node.value
            if node.value in _YAML11_BOOLS:
                self.errors.append(exceptions.CatalogueError(
                    path=self.path, line=node.start_mark.line + 1,
                    column=node.start_mark.column + 1, field=field_name(at),
                    reason=(f"unquoted {excerpt(node.value)} is ambiguous: "
                            "YAML 1.1 tools read it as a boolean, YAML 1.2 "
                            "as a string; write true/false, or "
                            f"\"{node.value}\" "
                            "in quotes")))
        return self.loader.construct_object(node)


_FILE_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a fifo"),
               (stat.S_ISSOCK, "a socket"),
               (stat.S_ISCHR, "a character device"),
               (stat.S_ISBLK, "a block device"))


def _read_bytes(path: str, max_bytes: int) -> bytes:
    """At most ``max_bytes + 1`` bytes of a regular file.

    Opened non-blocking and checked before any read: a fifo where a file
    is expected would block the reader forever (nova-compute's start), a
    character device such as /dev/zero never ends.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise exceptions.CatalogueError(
            path=path, reason=f"cannot read: {exc.strerror}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_size > max_bytes:
        os.close(fd)
        if st.st_size > max_bytes:
            raise _too_large(path, st.st_size, max_bytes)
        kind = next((k for test, k in _FILE_KINDS if test(st.st_mode)),
                    "not a regular file")
        raise exceptions.CatalogueError(
            path=path, reason=f"is {kind}; a catalogue file must be a "
                              "regular file")
    with os.fdopen(fd, "rb") as f:
        try:
            return f.read(max_bytes + 1)
        except OSError as exc:
            raise exceptions.CatalogueError(
                path=path, reason=f"cannot read: {exc.strerror}") from None


def _too_large(path: str, size: int | None,
               max_bytes: int) -> exceptions.CatalogueError:
    what = f"{size} bytes" if size is not None else "larger"
    return exceptions.CatalogueError(path=path, reason=(
        f"{what}, more than [os_vif_pref] catalogue_max_file_bytes = "
        f"{max_bytes} allows; not read"))


def _decode(path: str, data: bytes) -> str:
    """UTF-8 text, or an error at the line and column of the first byte
    that is not."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        start = data.rfind(b"\n", 0, exc.start) + 1
        line = data.count(b"\n", 0, exc.start) + 1
        column = len(data[start:exc.start].decode("utf-8")) + 1
        raise exceptions.CatalogueError(
            path=path, line=line, column=column, reason=(
                f"not UTF-8 text: byte 0x{data[exc.start]:02x} "
                f"({exc.reason})")) from None


def _read_text(source: Source) -> tuple[str, str]:
    """The file's path and text, within ``catalogue_max_file_bytes``;
    raises :class:`CatalogueError` saying why not."""
    max_bytes = CONF.os_vif_pref.catalogue_max_file_bytes
    path = str(source)
    if isinstance(source, (str, Path)):
        data = _read_bytes(path, max_bytes)
    else:
        # A Traversable from importlib.resources (possibly inside a zip).
        try:
            with source.open("rb") as f:
                data = f.read(max_bytes + 1)
        except OSError as exc:
            raise exceptions.CatalogueError(
                path=path, reason=f"cannot read: {exc}") from None
    if len(data) > max_bytes:
        raise _too_large(path, None, max_bytes)
    return path, _decode(path, data)


Errors = list[exceptions.CatalogueError]


def _parse(source: Source) -> tuple[_Doc | None, Errors]:
    """Parse one file: yaml-rs first; PyYAML with positions on any doubt.

    yaml-rs refuses any alias and expands nothing; what it built is then
    measured against the bounds (a walk as cheap as the parse).  Anything
    it refuses, a possible anchor, or data over a bound goes to the slow
    path, which checks the bounds on the parser's events before building
    anything and says where the problem is.
    """
    try:
        path, text = _read_text(source)
    except exceptions.CatalogueError as err:
        return None, [err]
    if ("&" in text and _MAYBE_ANCHOR.search(text)) or _non_printable(text):
        return _parse_slow(path, text)
    try:
        data = yaml_rs.loads(text, alias_limits=_NO_ALIASES)
    except Exception:  # yaml-rs has no positions: ask the slow path
        return _parse_slow(path, text)
    if data is None:
        return None, [exceptions.CatalogueError(
            path=path, reason="empty file; a catalogue file needs "
                              "'format: 1' and 'entries'")]
    doc = _Doc(path, text, data)
    if _needs_slow_path(data):
        # Only the slow path knows whether "no" was quoted.
        return _parse_slow(path, text)
    return doc, []


def _needs_slow_path(data: Any) -> bool:
    """Values only the positional parser can judge: maybe-booleans, keys
    that are not strings, and data over a bound (the slow path locates
    it).

    Counts nodes as the parser's events do (each collection pays for its
    keys and values before they are visited) and refuses depth before it
    recurses, so it stops at the first bound crossed and never recurses
    deeper than :data:`MAX_DEPTH`.  About as fast as yaml-rs's parse:
    it runs on every valid file.
    """
    budget = MAX_NODES - 1

    def walk(value: Any, depth: int) -> bool:
        nonlocal budget
        kind = type(value)
        if kind is str:
            return value in _YAML11_BOOLS or len(value) > MAX_SCALAR_CHARS
        if kind is int:
            return value.bit_length() > MAX_INT_BITS
        if kind is dict:
            if depth > MAX_DEPTH:
                return True
            budget -= 2 * len(value)
            if budget < 0:
                return True
            for key, item in value.items():
                if type(key) is not str or key in _YAML11_BOOLS \
                        or len(key) > MAX_SCALAR_CHARS \
                        or walk(item, depth + 1):
                    return True
        elif kind is list:
            if depth > MAX_DEPTH:
                return True
            budget -= len(value)
            if budget < 0:
                return True
            for item in value:
                if walk(item, depth + 1):
                    return True
        return False

    return walk(data, 1)


def yaml_over_bounds(path: str, text: str) -> Errors | None:
    """The first bound the file breaks, located; ``None`` when it breaks
    none (or is not YAML: the composer says where).

    Runs on the parser's events, before anything is composed, so a file
    costs at most the bounds: an alias is refused where it stands instead
    of being expanded, a deep or huge file stops at the node that goes
    over.  Each event's field path is tracked for the message.  Public
    for the other YAML the package reads (``preferences --instance``).
    """
    loader = _Loader12(text)
    # One frame per open collection: [path, is_mapping, key or index,
    # whether a mapping's next node is a key].
    stack: list[list[Any]] = []
    nodes = 0

    def here() -> Path_:
        if not stack:
            return ()
        at, mapping, pos, want_key = stack[-1]
        return at if mapping and want_key else at + (pos,)

    def done(key: Any = None) -> None:
        if not stack:
            return
        frame = stack[-1]
        if not frame[1]:
            frame[2] += 1
        elif frame[3]:
            frame[2], frame[3] = (key if isinstance(key, str) else "?",
                                  False)
        else:
            frame[3] = True

    def error(event: Any, reason: str) -> Errors:
        mark = event.start_mark
        return [exceptions.CatalogueError(
            path=path, line=mark.line + 1, column=mark.column + 1,
            field=field_name(here()), reason=reason)]

    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, (yaml.StreamStartEvent, yaml.StreamEndEvent,
                                  yaml.DocumentStartEvent,
                                  yaml.DocumentEndEvent)):
                continue
            if isinstance(event, (yaml.SequenceEndEvent,
                                  yaml.MappingEndEvent)):
                stack.pop()
                done()
                continue
            nodes += 1
            if isinstance(event, yaml.AliasEvent):
                return error(event, (
                    f"YAML alias {excerpt('*' + event.anchor)}: "
                    "anchors and aliases are not allowed (write the "
                    "value out)"))
            if event.anchor is not None:
                return error(event, (
                    f"YAML anchor {excerpt('&' + event.anchor)}: "
                    "anchors and aliases are not allowed (write the "
                    "value out)"))
            if nodes > MAX_NODES:
                return error(event, (
                    f"more than {MAX_NODES} YAML nodes (keys, values, lists, "
                    "mappings) in one file; split it"))
            if isinstance(event, yaml.ScalarEvent):
                if len(event.value) > MAX_SCALAR_CHARS:
                    return error(event, (
                        f"a value of {len(event.value)} characters, more "
                        f"than the {MAX_SCALAR_CHARS} allowed: "
                        f"{excerpt(event.value)}"))
                done(event.value)
                continue
            # A collection starts.
            if len(stack) + 1 > MAX_DEPTH:
                return error(event, (
                    f"nested deeper than {MAX_DEPTH} levels of lists and "
                    "mappings"))
            mapping = isinstance(event, yaml.MappingStartEvent)
            stack.append([here(), mapping, "" if mapping else 0, True])
    except yaml.YAMLError:
        return None
    finally:
        loader.dispose()
    return None


def _parse_slow(path: str, text: str) -> tuple[_Doc | None, Errors]:
    over = yaml_over_bounds(path, text)
    if over is not None:
        return None, over
    loader = _Loader12(text)
    try:
        node = loader.get_single_node()
    except yaml.YAMLError as exc:
        return None, [_yaml_error(path, text, exc)]
    if node is None:
        loader.dispose()
        return None, [exceptions.CatalogueError(
            path=path, reason="empty file; a catalogue file needs "
                              "'format: 1' and 'entries'")]
    builder = _Builder(path, loader)
    try:
        data = builder.build(node)
    except yaml.YAMLError as exc:
        return None, [_yaml_error(path, text, exc)]
    finally:
        loader.dispose()
    doc = _Doc(path, text, data, marks=builder.marks, raw=builder.raw)
    return doc, builder.errors


def _yaml_error(path: str, text: str,
                exc: yaml.YAMLError) -> exceptions.CatalogueError:
    """PyYAML's error where it stands (its problem, not its snippet)."""
    if isinstance(exc, yaml.reader.ReaderError):
        # A character YAML does not allow (a control character, binary).
        pos = exc.position
        char = exc.character
        code = char if isinstance(char, int) else ord(char)
        return exceptions.CatalogueError(
            path=path, line=text.count("\n", 0, pos) + 1,
            column=pos - (text.rfind("\n", 0, pos) + 1) + 1,
            reason=f"not valid YAML: character #x{code:04x} is not "
                   "allowed")
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        return exceptions.CatalogueError(
            path=path, line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
            reason=f"not valid YAML: {exc.problem or exc.context}")
    return exceptions.CatalogueError(path=path,
                                     reason=f"not valid YAML: {exc}")


# --------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------

@functools.cache
def schema() -> dict[str, Any]:
    """The JSON Schema of a catalogue file (``catalogue schema`` prints it)."""
    text = importlib.resources.files("os_vif_pref").joinpath(
        "schema", "catalogue-v1.json").read_text(encoding="utf-8")
    return json.loads(text)


@functools.cache
def _fast_validator() -> Callable[[Any], Any]:
    return fastjsonschema.compile(schema())


@functools.cache
def _validator() -> jsonschema.protocols.Validator:
    # Only for files the compiled validator refused: ~50 ms of import
    # that a valid catalogue never pays.
    import jsonschema

    cls = jsonschema.validators.validator_for(schema())
    return cls(schema())


def _schema_reason(error: jsonschema.ValidationError, doc: _Doc) -> str:
    at = tuple(error.absolute_path)
    doc.marks  # noqa: B018 - fills doc.raw (the text of plain scalars)
    raw = doc.raw.get(at)
    if error.validator == "type" and raw is not None and not isinstance(
            error.instance, str) and "string" in str(error.validator_value):
        quoted = f": \"{raw}\"" if len(raw) <= 60 else ""
        return (f"unquoted {excerpt(raw)} is read by YAML as "
                f"{type(error.instance).__name__} "
                f"{excerpt(error.instance)}; write it in quotes{quoted}")
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(
            error.schema.get("properties", {})))
        allowed = ", ".join(sorted(error.schema.get("properties", {})))
        more = f" and {len(extra) - 10} more" if len(extra) > 10 else ""
        return (f"unknown field(s) {', '.join(map(excerpt, extra[:10]))}"
                f"{more} (allowed: {allowed})")
    if error.validator == "pattern" and raw is not None:
        return (f"{excerpt(error.instance)} does not match "
                f"{error.validator_value!r}")
    # jsonschema quotes the whole value (for a list of entries: all of
    # them); quote an excerpt instead.
    return error.message.replace(repr(error.instance),
                                 excerpt(error.instance))


def _best_match(error: jsonschema.ValidationError) -> Any:
    import jsonschema

    return jsonschema.exceptions.best_match([error])


def _schema_errors(doc: _Doc) -> list[exceptions.CatalogueError]:
    """Schema errors; the compiled validator clears valid files quickly.

    fastjsonschema stops at the first error and says little, so an invalid
    file is checked again by jsonschema for every error, with positions.
    """
    try:
        _fast_validator()(doc.data)
        return []
    except fastjsonschema.JsonSchemaException:
        pass
    out = []
    # One more than is reported: load() then says there were more.
    found = itertools.islice(_validator().iter_errors(doc.data),
                             MAX_ERRORS_PER_FILE + 1)
    for error in sorted(found,
                        key=lambda e: [str(p) for p in e.absolute_path]):
        # oneOf/anyOf: report the most specific sub-error.
        best = _best_match(error)
        at = tuple(best.absolute_path)
        out.append(doc.error(at, _schema_reason(best, doc)))
    return out


# --------------------------------------------------------------------------
# Semantic checks
# --------------------------------------------------------------------------

def os_vif_classes() -> dict[str, Any]:
    """os-vif's versioned object classes by name (the newest of each).

    The one lookup the catalogue checks, the converter and the conformance
    kit share, so they cannot disagree on what the installed os-vif has.
    """
    import os_vif.objects
    from oslo_versionedobjects import base as ovo_base

    os_vif.objects.register_all()
    return {name: classes[0] for name, classes in
            ovo_base.VersionedObjectRegistry.obj_classes().items()}


@dataclasses.dataclass(frozen=True)
class ObjectModel:
    """What the catalogue checks need to know of one os-vif object class."""

    name: str
    #: The class's newest version (``VERSION``).
    version: str
    fields: frozenset[str]
    #: "vif" (a VIFBase subclass), "port_profile" (VIFPortProfileBase) or "".
    kind: str
    #: The os-vif classes it derives from, by name (what ``issubclass``
    #: would say, known without importing os-vif).
    bases: tuple[str, ...] = ()


def _model_key() -> str | None:
    """What the os-vif object model depends on: os-vif's and
    oslo.versionedobjects' versions and os-vif's object modules (paths,
    sizes, mtimes).  None when they cannot be found (then no cache)."""
    import hashlib
    import importlib.util

    try:
        spec = importlib.util.find_spec("os_vif")
        if spec is None or not spec.submodule_search_locations:
            return None
        objects_dir = os.path.join(list(spec.submodule_search_locations)[0],
                                   "objects")
        parts = [metadata.version("os-vif"),
                 metadata.version("oslo.versionedobjects"), objects_dir]
        for name in sorted(os.listdir(objects_dir)):
            if name.endswith(".py"):
                st = os.stat(os.path.join(objects_dir, name))
                parts.append(f"{name}:{st.st_size}:{st.st_mtime_ns}")
    except (OSError, ValueError, metadata.PackageNotFoundError):
        return None
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:24]


def cache_path(filename: str) -> str:
    """Where os-vif-pref keeps ``filename`` of facts learnt from os-vif:
    ``$XDG_CACHE_HOME/os-vif-pref`` (default ``~/.cache``).  Callers name
    the file after everything the facts depend on, so a stale file is
    never read, only left behind."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache")
    return os.path.join(base, "os-vif-pref", filename)


def read_cache(path: str) -> Any:
    """The JSON in ``path``, or None when it is missing or unreadable (a
    broken cache file is recomputed, never an error)."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def write_cache(path: str, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` atomically (a reader never sees
    half a file); an unwritable cache is only logged: the facts are then
    computed every time."""
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f)
        os.replace(tmp, path)
    except (OSError, TypeError, ValueError) as exc:
        LOG.debug("Cannot write the cache file %s: %s", path, exc)
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _model_cache_path(key: str) -> str:
    return cache_path(f"os-vif-objects-{key}.json")


def _model_of_classes(classes: Mapping[str, Any]) -> dict[str, ObjectModel]:
    from os_vif.objects import vif as osv_vif

    out = {}
    for name, cls in classes.items():
        kind = ("vif" if issubclass(cls, osv_vif.VIFBase) else
                "port_profile" if issubclass(cls, osv_vif.VIFPortProfileBase)
                else "")
        bases = tuple(b.__name__ for b in cls.__mro__[1:]
                      if b.__name__ in classes)
        out[name] = ObjectModel(name, cls.VERSION, frozenset(cls.fields),
                                kind, bases)
    return out


_model: tuple[str | None, dict[str, ObjectModel]] | None = None


def os_vif_model(register: bool = True) -> dict[str, ObjectModel]:
    """The installed os-vif's objects as the catalogue checks see them.

    Importing os-vif's objects means importing oslo.versionedobjects, which
    imports oslo.messaging and eventlet: about 0.3 s, most of what
    ``os-vif-pref catalogue list`` took, to learn facts that change only
    when os-vif is upgraded.  So the model is kept in a small JSON file
    under ``$XDG_CACHE_HOME/os-vif-pref`` (default ``~/.cache``) named
    after :func:`_model_key`: another os-vif, or any change of its object
    modules, is another file.  Unwritable cache: computed every time.
    ``register=False``: never register os-vif's objects here (a probe
    asking about class names, not a caller about to use the classes).
    """
    global _model
    if register and "os_vif.objects" in sys.modules:
        # os-vif is loaded already (inside Nova, a plugin, a test): its
        # objects then cost nothing more, and callers there (Nova's own
        # converter among them) expect them registered, as loading the
        # catalogue always did.
        os_vif_classes()
    key = _model_key()
    if _model is not None and _model[0] == key and key is not None:
        return _model[1]
    model = None
    path = _model_cache_path(key) if key else None
    data = read_cache(path) if path else None
    if data is not None:
        try:
            model = {d["name"]: ObjectModel(
                d["name"], d["version"], frozenset(d["fields"]),
                d["kind"], tuple(d["bases"])) for d in data}
        except (KeyError, TypeError):
            model = None
    if model is None:
        model = _model_of_classes(os_vif_classes())
        if path:
            _write_model(path, model)
    _model = (key, model)
    return model


def _write_model(path: str, model: Mapping[str, ObjectModel]) -> None:
    write_cache(path, [{"name": m.name, "version": m.version,
                        "fields": sorted(m.fields), "kind": m.kind,
                        "bases": list(m.bases)}
                       for m in model.values()])


def _check_versions(cls: Any, rng: Mapping[str, str], at: Path_, doc: _Doc,
                    errors: list[exceptions.CatalogueError]) -> None:
    lo, hi = rng["min"], rng["max"]
    if version_tuple(lo) > version_tuple(hi):
        errors.append(doc.error(at + ("min",),
                                f"min {lo} is greater than max {hi}"))
        return
    known = cls.version
    if version_tuple(hi) > version_tuple(known) or version_tuple(
            hi)[0] != version_tuple(known)[0] or version_tuple(
            lo)[0] != version_tuple(known)[0]:
        errors.append(doc.error(
            at + ("max",),
            f"{cls.name} {lo}..{hi} is outside the versions the "
            f"installed os-vif knows (1.0..{known})"))


def _check_fields(cls: Any, fields: Mapping[str, Any], at: Path_, doc: _Doc,
                  registry: Mapping[str, Any],
                  errors: list[exceptions.CatalogueError],
                  common: frozenset[str] = frozenset()) -> None:
    for fname, source in fields.items():
        here = at + (fname,)
        if fname in common:
            errors.append(doc.error(here, (
                f"{excerpt(fname)} is filled by the converter as Nova fills "
                "it; an entry cannot redefine it")))
        elif fname not in cls.fields:
            errors.append(doc.error(here, (
                f"{cls.name} has no field {excerpt(fname)} (fields: "
                f"{', '.join(sorted(set(cls.fields) - common))})")))
            continue
        nested = source.get("object")
        if nested is not None:
            ncls = registry.get(nested)
            if ncls is None:
                errors.append(doc.error(here + ("object",), (
                    f"os-vif has no object {excerpt(nested)}")))
            else:
                _check_fields(ncls, source.get("fields", {}),
                              here + ("fields",), doc, registry, errors)


def _check_entry(raw: Mapping[str, Any], at: Path_, doc: _Doc,
                 registry: Mapping[str, Any],
                 errors: list[exceptions.CatalogueError]) -> None:
    """Checks on one complete (merged) entry beyond what the schema says.

    ``registry`` is :func:`os_vif_model` (or os-vif's classes themselves).
    """
    if any(not isinstance(c, ObjectModel) for c in registry.values()):
        registry = _model_of_classes(registry)
    missing = [f for f in ("preference", "plugin") if f not in raw]
    neutron = raw.get("neutron", {})
    missing += [f"neutron.{f}" for f in ("vif_type", "vnic_types")
                if f not in neutron]
    osv = raw.get("os_vif", {})
    missing += [f"os_vif.{f}" for f in ("object", "versions") if f not in osv]
    if missing:
        errors.append(doc.error(at, (
            "a new entry needs " + ", ".join(missing) +
            " (only an entry with override: true or enabled: false may "
            "leave fields out)")))
        return
    for vt in neutron["vnic_types"]:
        if vt not in VNIC_TYPES:
            errors.append(doc.error(at + ("neutron", "vnic_types"), (
                f"unknown vnic_type {excerpt(vt)} (Neutron's: "
                f"{', '.join(sorted(VNIC_TYPES))})")))
    for key, value in neutron.get("vif_details", {}).get(
            "match", {}).items():
        if isinstance(value, (dict, list)):
            errors.append(doc.error(
                at + ("neutron", "vif_details", "match", key),
                "match values must be scalars"))
    cls = registry.get(osv["object"])
    if cls is None or cls.kind != "vif":
        errors.append(doc.error(at + ("os_vif", "object"), (
            f"{excerpt(osv['object'])} is not an os-vif VIF object (known: "
            + ", ".join(sorted(n for n, c in registry.items()
                               if c.kind == "vif" and n != "VIFBase"))
            + ")")))
        return
    _check_versions(cls, osv["versions"], at + ("os_vif", "versions"), doc,
                    errors)
    _check_fields(cls, osv.get("fields", {}), at + ("os_vif", "fields"), doc,
                  registry, errors, COMMON_VIF_FIELDS)
    pp = osv.get("port_profile")
    if pp is not None:
        pcls = registry.get(pp["object"])
        if pcls is None or pcls.kind != "port_profile":
            errors.append(doc.error(
                at + ("os_vif", "port_profile", "object"), (
                f"{excerpt(pp['object'])} is not an os-vif port profile "
                "(known: "
                + ", ".join(sorted(
                    n for n, c in registry.items()
                    if c.kind == "port_profile"
                    and n != "VIFPortProfileBase")) + ")")))
        else:
            _check_versions(pcls, pp["versions"],
                            at + ("os_vif", "port_profile", "versions"), doc,
                            errors)
            _check_fields(pcls, pp.get("fields", {}),
                          at + ("os_vif", "port_profile", "fields"), doc,
                          registry, errors)
    if raw["plugin"] in raw.get("alt_plugins", ()):
        errors.append(doc.error(at + ("alt_plugins",), (
            f"lists the entry's own plugin {excerpt(raw['plugin'])}")))


# --------------------------------------------------------------------------
# Layering
# --------------------------------------------------------------------------

@dataclasses.dataclass
class _Layered:
    raw: dict[str, Any]
    doc: _Doc
    at: Path_
    layer: str
    changed_by: list[tuple[_Doc, Path_]] = dataclasses.field(
        default_factory=list)


def _merge(base: Mapping[str, Any],
           patch: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in patch.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _origin(doc: _Doc, at: Path_) -> str:
    line, _col = doc.where(at)
    return f"{doc.path}:{line}" if line else doc.path


def _to_entry(item: _Layered) -> Entry:
    raw = item.raw
    neutron = raw["neutron"]
    details = neutron.get("vif_details", {})
    osv = raw["os_vif"]
    pp = osv.get("port_profile")
    deprecated = raw.get("deprecated")

    def locate() -> str:
        origin = _origin(item.doc, item.at)
        if item.changed_by:
            origin += " (changed by " + ", ".join(
                _origin(d, a) for d, a in item.changed_by) + ")"
        return origin

    return Entry(
        name=raw["name"],
        description=" ".join(str(raw.get("description", "")).split()),
        preference=raw["preference"],
        vif_type=neutron["vif_type"],
        vnic_types=tuple(neutron["vnic_types"]),
        details_match=dict(details.get("match", {})),
        details_required=tuple(details.get("required", ())),
        vif_object=osv["object"],
        vif_versions=VersionRange(osv["versions"]["min"],
                                  osv["versions"]["max"]),
        fields=dict(osv.get("fields", {})),
        port_profile=None if pp is None else ProfileSpec(
            object=pp["object"],
            versions=VersionRange(pp["versions"]["min"],
                                  pp["versions"]["max"]),
            fields=dict(pp.get("fields", {}))),
        plugin=raw["plugin"],
        alt_plugins=tuple(raw.get("alt_plugins", ())),
        requires=tuple(dict.fromkeys(tuple(raw.get("requires", ()))
                                     + implicit_requires(osv["object"]))),
        instance_rules=dict(raw.get("instance", {})),
        enabled=raw.get("enabled", True),
        deprecated=deprecated is not None,
        replacement=(deprecated or {}).get("replacement"),
        deprecation_reason=(deprecated or {}).get("reason", ""),
        locate=locate,
    )


def implicit_requires(vif_object: str) -> tuple[str, ...]:
    """What every entry building ``vif_object`` requires, unwritten.

    ``virt_vif:<object>``: the host's virt driver must be able to configure
    the guest side of the object (Nova's libvirt driver configures five
    classes and fails on the rest with "Unsupported VIF type").  Implicit
    so that no vendor file can forget it; it shows in ``requires``.
    """
    return (f"virt_vif:{vif_object}",)


def bundled_files() -> list[Traversable]:
    """The catalogue files shipped inside the package, sorted by name."""
    root = importlib.resources.files("os_vif_pref").joinpath("catalogue_data")
    return sorted((f for f in root.iterdir()
                   if f.name.endswith((".yaml", ".yml"))),
                  key=lambda f: f.name)


def entry_point_files() -> list[Source]:
    """Files contributed by installed packages (``os_vif_pref.catalogues``).

    An entry point may name a callable returning paths or Traversables, a
    package (its ``*.yaml`` resources are read), or a path string.

    Scanning the installed distributions costs milliseconds, and the set of
    installed packages only changes with a restart, so the scan is done once
    per process (``reset_cache()`` forgets it); the files themselves are
    still re-checked on every :func:`get_catalogue`.
    """
    global _ep_files
    if _ep_files is None:
        _ep_files = _scan_entry_points()
    return list(_ep_files)


_ep_files: list[Source] | None = None


def _scan_entry_points() -> list[Source]:
    out: list[Source] = []
    for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP),
                     key=lambda e: e.name):
        try:
            obj = ep.load()
        except Exception as exc:  # a broken vendor package: say which
            LOG.error("Catalogue entry point %s (%s) failed to load: %s",
                      ep.name, ep.value, exc)
            out.append(f"<entry point {ep.name}={ep.value}: {exc}>")
            continue
        if callable(obj):
            obj = obj()
        if isinstance(obj, (str, Path)):
            obj = [obj]
        elif hasattr(obj, "__spec__") and hasattr(obj, "__path__"):
            root = importlib.resources.files(obj)
            obj = sorted((f for f in root.iterdir()
                          if f.name.endswith((".yaml", ".yml"))),
                         key=lambda f: f.name)
        out.extend(obj)
    return out


def dir_files(dirs: Iterable[str]) -> list[Source]:
    out: list[Source] = []
    for d in dirs:
        try:
            names = sorted(os.listdir(d))
        except OSError as exc:
            out.append(f"<catalogue_dirs {d}: {exc.strerror}>")
            continue
        out.extend(os.path.join(d, n) for n in names
                   if n.endswith((".yaml", ".yml")))
    return out


def _load_doc(source: Source) -> tuple[_Doc | None,
                                       list[exceptions.CatalogueError]]:
    if isinstance(source, str) and source.startswith("<"):
        return None, [exceptions.CatalogueError(
            path=source.strip("<>").split(":")[0],
            reason=source.strip("<>").split(": ", 1)[-1])]
    doc, errors = _parse(source)
    if doc is None:
        return None, errors
    errors += _schema_errors(doc)
    return doc, errors


def _capped(errors: Errors) -> Errors:
    """At most :data:`MAX_ERRORS_PER_FILE` of one file's errors, then one
    saying that there were more: a generated file gone wrong must not
    print a screenful per entry (the first errors are the ones to fix)."""
    if len(errors) <= MAX_ERRORS_PER_FILE:
        return errors
    return errors[:MAX_ERRORS_PER_FILE] + [exceptions.CatalogueError(
        path=errors[0].path, reason=(
            f"more errors not shown: at most {MAX_ERRORS_PER_FILE} are "
            "reported per file"))]


def load(layers: Iterable[Iterable[Source]] | None = None, *,
         strict: bool = False,
         plugin_choice: Mapping[str, str] | None = None) -> Catalogue:
    """Load the catalogue from layers of files (default: all three layers).

    ``strict`` raises :class:`CatalogueInvalid` on any error; otherwise a
    file with errors is left out whole, its errors are logged and kept in
    ``Catalogue.errors`` so that every consumer can show them.
    """
    if layers is None:
        layers = default_layers()
    registry = os_vif_model()
    errors: list[exceptions.CatalogueError] = []
    items: dict[str, _Layered] = {}
    order: list[str] = []
    files: list[str] = []
    for layer_no, layer in enumerate(layers):
        seen_in_layer: dict[str, tuple[_Doc, Path_]] = {}
        for source in layer:
            doc, file_errors = _load_doc(source)
            if doc is not None:
                files.append(doc.path)
            if doc is None or file_errors:
                errors += _capped(file_errors)
                continue
            staged, file_errors = _stage(doc, layer_no, items, seen_in_layer,
                                         registry)
            if file_errors:
                errors += _capped(file_errors)
                continue
            for name, item in staged.items():
                if name not in items:
                    order.append(name)
                items[name] = item
            for name in staged:
                seen_in_layer[name] = (doc, staged[name].at)
    choice = dict(plugin_choice if plugin_choice is not None
                  else CONF.os_vif_pref.plugin_choice)
    entries, disabled = [], []
    for name in order:
        entry = _to_entry(items[name])
        if name in choice:
            wanted = choice.pop(name)
            allowed = (entry.plugin,) + entry.alt_plugins
            if wanted != entry.plugin and wanted not in entry.alt_plugins:
                errors.append(exceptions.CatalogueError(
                    path="[os_vif_pref] plugin_choice", field=name,
                    reason=(f"plugin {excerpt(wanted)} is not one the entry "
                            f"allows ({', '.join(allowed)})")))
            else:
                alts = tuple(p for p in (entry.plugin,) + entry.alt_plugins
                             if p != wanted)
                entry = dataclasses.replace(entry, plugin=wanted,
                                            alt_plugins=alts)
        (entries if entry.enabled else disabled).append(entry)
    for name in choice:
        errors.append(exceptions.CatalogueError(
            path="[os_vif_pref] plugin_choice", field=name,
            reason="no catalogue entry has this name"))
    for entry in entries + disabled:
        if entry.replacement and entry.replacement not in items:
            errors.append(exceptions.CatalogueError(
                path=entry.origin, field="deprecated.replacement",
                reason=f"names no entry: {excerpt(entry.replacement)}"))
    entries.sort(key=lambda e: (-e.preference, e.name))
    if errors:
        for err in errors:
            LOG.error("Binding catalogue: %s", err)
        if strict:
            raise exceptions.CatalogueInvalid(errors)
    return Catalogue(entries=tuple(entries), disabled=tuple(disabled),
                     errors=tuple(errors), files=tuple(files))


def _stage(doc: _Doc, layer_no: int, items: Mapping[str, _Layered],
           seen_in_layer: Mapping[str, tuple[_Doc, Path_]],
           registry: Mapping[str, Any],
           ) -> tuple[dict[str, _Layered], list[exceptions.CatalogueError]]:
    """Apply one file's entries on top of what is loaded, or report why not.

    Nothing is applied unless the whole file is valid.
    """
    errors: list[exceptions.CatalogueError] = []
    staged: dict[str, _Layered] = {}
    for i, raw in enumerate(doc.data["entries"]):
        if len(errors) > MAX_ERRORS_PER_FILE:
            break  # the file is refused; load() says there were more
        at: Path_ = ("entries", i)
        name = raw["name"]
        if name in staged or name in seen_in_layer:
            first = (_origin(doc, staged[name].at) if name in staged
                     else _origin(*seen_in_layer[name]))
            errors.append(doc.error(at + ("name",), (
                f"entry {excerpt(name)} is defined twice: here and at "
                f"{first}")))
            continue
        explicit = raw.get("override") is True or raw.get("enabled") is False
        if name in items:
            base = items[name]
            if not explicit:
                errors.append(doc.error(at + ("name",), (
                    f"entry {excerpt(name)} already exists at "
                    f"{_origin(base.doc, base.at)}; to change it say "
                    "'override: true', to switch it off 'enabled: false', "
                    "or choose another name")))
                continue
            patch = {k: v for k, v in raw.items() if k != "override"}
            merged = _merge(base.raw, patch)
            item = _Layered(raw=merged, doc=base.doc, at=base.at,
                            layer=base.layer,
                            changed_by=base.changed_by + [(doc, at)])
            # Re-check the merged entry, locating errors in this file.
            _check_entry(merged, at, doc, registry, errors)
        else:
            if raw.get("override") is True:
                errors.append(doc.error(at + ("override",), (
                    f"override: true, but no earlier layer has an entry "
                    f"named {excerpt(name)}")))
                continue
            item = _Layered(raw=dict(raw), doc=doc, at=at, layer=doc.path)
            _check_entry(raw, at, doc, registry, errors)
        staged[name] = item
    return staged, errors


def default_layers() -> list[list[Source]]:
    return [list(bundled_files()), entry_point_files(),
            dir_files(CONF.os_vif_pref.catalogue_dirs)]


def validate_files(paths: Iterable[Source],
                   with_defaults: bool = True) -> Errors:
    """Errors of the given files, checked as the last layer on the others.

    Checking on top of the real layers is what makes collisions with the
    bundled entries visible before the file is deployed.
    """
    paths = list(paths)
    if with_defaults:
        layers = default_layers()
        layers[-1] = [p for p in layers[-1]
                      if str(p) not in {str(q) for q in paths}]
        layers.append(paths)
        base_errors = {str(e) for e in load(layers[:-1]).errors}
        return [e for e in load(layers).errors if str(e) not in base_errors]
    return list(load([paths]).errors)


_cache: dict[tuple[Any, ...], Catalogue] = {}


def reset_cache() -> None:
    """Forget the loaded catalogue and the entry-point scan."""
    global _ep_files
    _cache.clear()
    _ep_files = None


def get_catalogue() -> Catalogue:
    """The host's catalogue (all layers), cached until a file changes."""
    layers = default_layers()
    key_parts: list[Any] = [tuple(sorted(
        CONF.os_vif_pref.plugin_choice.items()))]
    for layer in layers:
        for src in layer:
            try:
                st = os.stat(str(src))
                key_parts.append((str(src), st.st_mtime_ns, st.st_size))
            except OSError:
                key_parts.append((str(src), None, None))
    key = tuple(key_parts)
    cat = _cache.get(key)
    if cat is None:
        _cache.clear()
        cat = _cache[key] = load(layers)
    return cat
