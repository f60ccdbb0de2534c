"""The semantic checks of one (merged) entry, beyond what the schema says:
vnic types, the os-vif object, its versions and fields, the port profile.

Apart from the loader so that a merged override is checked exactly as a new
entry is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from os_vif_pref import exceptions
from os_vif_pref.catalogue.model import COMMON_VIF_FIELDS, VNIC_TYPES
from os_vif_pref.catalogue.objects import ObjectModel, _model_of_classes
from os_vif_pref.catalogue.parse import Path_, _Doc
from os_vif_pref.exceptions import excerpt
from os_vif_pref.versions import version_tuple


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
