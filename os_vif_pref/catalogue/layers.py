"""Where the catalogue comes from and how its layers combine.

The bundled files, the ``os_vif_pref.catalogues`` entry points and
``[os_vif_pref] catalogue_dirs``; :func:`load` applies them in order (a
later layer changes an entry only with ``override: true``, switches one off
only with ``enabled: false``, and a file with errors is left out whole),
and :func:`get_catalogue` keeps the result until a file changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
import dataclasses
from importlib import metadata
import importlib.resources
from importlib.resources.abc import Traversable
import logging
import os
from pathlib import Path
from typing import Any

from os_vif_pref import exceptions
from os_vif_pref.catalogue.checks import _check_entry
from os_vif_pref.catalogue.model import Catalogue, Entry, ProfileSpec
from os_vif_pref.catalogue.objects import os_vif_model
from os_vif_pref.catalogue.opts import CONF
from os_vif_pref.catalogue.parse import (
    MAX_ERRORS_PER_FILE,
    Errors,
    Path_,
    Source,
    _Doc,
    _parse,
)
from os_vif_pref.catalogue.schema_check import _schema_errors
from os_vif_pref.exceptions import excerpt
from os_vif_pref.versions import VersionRange

# The name it has always logged under (catalogue was one module).
LOG = logging.getLogger("os_vif_pref.catalogue")

ENTRY_POINT_GROUP = "os_vif_pref.catalogues"

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
