"""``plugin:NAME``: the os-vif plugin is installed, loads and describes
itself.

With its cache of plugin descriptions as plain data, kept across
command-line processes so that ``os-vif-pref preferences`` need not import
os-vif's objects (see the comment above :class:`ProfileDescription`).
"""

from __future__ import annotations

from collections.abc import Mapping
import contextlib
import dataclasses
import os
import sys
import threading
from typing import Any

from os_vif_pref.probes.result import ProbeResult, _missing

_PLUGIN_GROUP = "os_vif"


def _plugin_eps() -> dict[str, Any]:
    from importlib import metadata

    return {ep.name: ep for ep in metadata.entry_points(group=_PLUGIN_GROUP)}


def _not_installed(name: str) -> ProbeResult:
    return _missing(f"plugin:{name}", (
        f"os-vif plugin {name!r} is not installed (no entry point "
        f"{name!r} in group {_PLUGIN_GROUP!r})"))


# --- plugin descriptions as plain data, cached across processes ----------
#
# Loading a plugin to read its describe() imports os-vif's objects, hence
# oslo.versionedobjects -> oslo.messaging -> eventlet: about 0.3 s of the
# ~0.8 s ``os-vif-pref preferences`` took, to learn what changes only when
# a plugin, its catalogue entries or os-vif change.  So a command-line
# process (see :func:`description_cache`) keeps each plugin's description
# in a small JSON file, in the os-vif object model's cache directory
# (:func:`os_vif_pref.catalogue.cache_path`), named after all of that.


@dataclasses.dataclass(frozen=True)
class ProfileDescription:
    """One port profile of a plugin's description (as HostPortProfileInfo
    reads: same attribute names)."""

    profile_object_name: str
    min_version: str
    max_version: str


@dataclasses.dataclass(frozen=True)
class VIFDescription:
    """One VIF object of a plugin's description (as HostVIFInfo reads)."""

    vif_object_name: str
    min_version: str
    max_version: str
    supported_port_profiles: tuple[ProfileDescription, ...] = ()

    def __contains__(self, field: str) -> bool:
        # As ``field in obj`` on an os-vif object: whether it is set.
        return field in {f.name for f in dataclasses.fields(self)}


@dataclasses.dataclass(frozen=True)
class PluginDescription:
    """A plugin's ``describe()`` as plain data: what the preference list
    checks the catalogue against, readable without importing os-vif."""

    plugin_name: str
    vif_info: tuple[VIFDescription, ...]

    @classmethod
    def of(cls, info: Any) -> PluginDescription:
        """From an os-vif HostPluginInfo (or anything shaped like one)."""
        vifs = []
        for vi in info.vif_info:
            pps: tuple[ProfileDescription, ...] = ()
            if "supported_port_profiles" in vi:
                pps = tuple(ProfileDescription(
                    p.profile_object_name, p.min_version, p.max_version)
                    for p in vi.supported_port_profiles)
            vifs.append(VIFDescription(vi.vif_object_name, vi.min_version,
                                       vi.max_version, pps))
        return cls(info.plugin_name, tuple(vifs))

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> PluginDescription:
        """Raises ValueError/TypeError/KeyError on anything not written by
        :meth:`to_json`."""
        def text(value: Any) -> str:
            if not isinstance(value, str):
                raise TypeError(f"expected a string, got {value!r}")
            return value

        return cls(text(data["plugin_name"]), tuple(
            VIFDescription(
                text(v["vif_object_name"]), text(v["min_version"]),
                text(v["max_version"]), tuple(
                    ProfileDescription(text(p["profile_object_name"]),
                                       text(p["min_version"]),
                                       text(p["max_version"]))
                    for p in v["supported_port_profiles"]))
            for v in data["vif_info"]))

    def __str__(self) -> str:
        return f"{self.plugin_name}: " + ", ".join(
            f"{v.vif_object_name} {v.min_version}..{v.max_version}"
            for v in self.vif_info)


_describe_cache = threading.local()


@contextlib.contextmanager
def description_cache():  # type: ignore[no-untyped-def]
    """Within this block, :func:`probe_plugin` reads plugins' descriptions
    from the cache when their key matches (and fills it otherwise).

    Only a one-shot command-line process asks for it: inside Nova the
    plugins os-vif loaded are asked directly, and a library caller keeps
    getting real os-vif objects.
    """
    before = getattr(_describe_cache, "on", False)
    _describe_cache.on = True
    try:
        yield
    finally:
        _describe_cache.on = before


def _tree_stats(folder: str) -> list[str]:
    return [f"{n}:{st.st_size}:{st.st_mtime_ns}"
            for n in sorted(os.listdir(folder)) if n.endswith(".py")
            for st in (os.stat(os.path.join(folder, n)),)]


def _description_key(name: str, ep: Any) -> str | None:
    """What plugin ``name``'s describe() can depend on, hashed: the entry
    point (value, distribution name and version), the files of the
    plugin's module and of its package (path, size, mtime), os-vif's
    version, and the catalogue entries naming the plugin (ours describe
    exactly those).  None when any of it cannot be found: no cache."""
    import hashlib
    from importlib import metadata
    import importlib.util

    from os_vif_pref import catalogue

    try:
        spec = importlib.util.find_spec(ep.module)
        if spec is None or not spec.origin or not os.path.isfile(
                spec.origin):
            return None
        dist = getattr(ep, "dist", None)
        parts = [name, ep.value, getattr(dist, "name", None) or "",
                 getattr(dist, "version", None) or "",
                 metadata.version("os-vif"), spec.origin,
                 *_tree_stats(os.path.dirname(spec.origin))]
        for e in catalogue.get_catalogue().by_plugin(name):
            pp = e.port_profile
            parts.append(repr((e.vif_object, e.vif_versions.min,
                               e.vif_versions.max) + (() if pp is None else (
                                   pp.object, pp.versions.min,
                                   pp.versions.max))))
    except Exception:  # noqa: BLE001 - no key: computed, as without cache
        return None
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:24]


def _description_path(name: str, key: str) -> str:
    from os_vif_pref import catalogue

    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return catalogue.cache_path(f"plugin-{safe}-{key}.json")


def _cached_description(name: str, ep: Any,
                        ) -> tuple[str | None, PluginDescription | None]:
    """(cache path or None, the cached description or None)."""
    if not getattr(_describe_cache, "on", False):
        return None, None
    key = _description_key(name, ep)
    if key is None:
        return None, None
    from os_vif_pref import catalogue

    path = _description_path(name, key)
    data = catalogue.read_cache(path)
    if data is None:
        return path, None
    try:
        return path, PluginDescription.from_json(data)
    except (KeyError, TypeError, ValueError):
        return path, None


def _remember_description(path: str, info: Any) -> None:
    from os_vif_pref import catalogue

    try:
        desc = PluginDescription.of(info)
    except Exception:  # noqa: BLE001 - unreadable: the checks will say so
        return
    catalogue.write_cache(path, desc.to_json())


def probe_plugin(name: str, eps: Mapping[str, Any] | None = None,
                 ) -> ProbeResult:
    """Whether os-vif plugin ``name`` is installed and loads.

    The value is the plugin's ``describe()`` (an os-vif HostPluginInfo),
    or, inside :func:`description_cache` when the plugin's cache key
    matches, the same as a :class:`PluginDescription` without loading the
    plugin.  When os-vif is already initialised (inside Nova) its loaded
    plugin is used, so the answer is about the very object Nova will call.
    """
    cap = f"plugin:{name}"
    obj = None
    path = None
    try:
        # Not imported here: importing os_vif imports its objects, and a
        # freshly imported os-vif has loaded no plugin anyway.
        os_vif = sys.modules.get("os_vif")
        mgr = getattr(os_vif, "_EXT_MANAGER", None)
        if mgr is not None and name in mgr.names():
            obj = mgr[name].obj
    except Exception:  # os-vif's internals moved: load it ourselves
        obj = None
    if obj is None:
        eps = _plugin_eps() if eps is None else eps
        ep = eps.get(name)
        if ep is None:
            return _not_installed(name)
        path, cached = _cached_description(name, ep)
        if cached is not None:
            return ProbeResult(cap, True, cached)
        try:
            # As os_vif.initialize() does before loading plugins: upstream
            # plugins use os_vif.objects.vif etc. as attributes.
            import os_vif.objects

            os_vif.objects.register_all()
            cls = ep.load()
            obj = cls.load(name)
        except Exception as exc:
            return _missing(cap, (
                f"os-vif plugin {name!r} ({ep.value}) does not load: "
                f"{type(exc).__name__}: {exc}"))
    try:
        info = obj.describe()
    except Exception as exc:
        return _missing(cap, (
            f"os-vif plugin {name!r}: describe() failed: "
            f"{type(exc).__name__}: {exc}"))
    if path is not None:
        _remember_description(path, info)
    return ProbeResult(cap, True, info)
