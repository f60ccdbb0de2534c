"""Reading one catalogue file: YAML with positions, within bounds.

yaml-rs for speed, PyYAML read the same way (YAML 1.2 core scalars) when a
file needs the slow path; duplicate keys refused, values that YAML 1.1
tools read otherwise (``1.10``, ``no``) named with the quotes to add, every
node's line and column kept for the messages, and what one file may cost
(size, aliases, depth, nodes, scalar length) checked while it is parsed,
before anything is built: the files are read inside nova-compute.
"""

from __future__ import annotations

from importlib.resources.abc import Traversable
import os
from pathlib import Path
import re
import stat
from typing import Any, Union

import yaml
import yaml_rs

from os_vif_pref import exceptions
from os_vif_pref.catalogue.opts import CONF
from os_vif_pref.exceptions import excerpt

Source = Union[str, Path, Traversable]


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
