"""What the checks know of os-vif's objects, and the on-disk cache of it.

Importing os-vif's objects costs about 0.3 s (oslo.versionedobjects,
oslo.messaging, eventlet); the facts the checks need change only with
os-vif, so they are kept as plain data in a small JSON file named after
everything they depend on.  The cache helpers are shared with the probes'
plugin descriptions.
"""

from __future__ import annotations

from collections.abc import Mapping
import contextlib
import dataclasses
from importlib import metadata
import json
import logging
import os
import sys
from typing import Any

# The name it has always logged under (catalogue was one module).
LOG = logging.getLogger("os_vif_pref.catalogue")

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
