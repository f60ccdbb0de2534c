"""The catalogue's model: :class:`Entry` (one binding type), its
:class:`ProfileSpec` and the loaded :class:`Catalogue`.

What every consumer reads (plugins' ``describe()``, the preference list,
the offer, the Nova-side converter); apart from reading and checking files
so that it imports no YAML or JSON Schema library.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
import dataclasses
import functools
from typing import Any

from os_vif_pref import exceptions
from os_vif_pref.offer import details_match
from os_vif_pref.versions import VersionRange, version_tuple

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
