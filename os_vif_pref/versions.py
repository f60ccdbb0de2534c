"""oslo.versionedobjects version numbers and ranges, with no dependencies.

Both ends of the data path need these: the catalogue (host side) declares
which os-vif object versions an entry builds, and the wire format
(:mod:`os_vif_pref.offer`, read inside neutron-server) carries them.  They
live here, importing nothing of the package, so that Neutron can read an
offer without loading the catalogue (YAML, jsonschema, its options).
"""

from __future__ import annotations

import dataclasses


def version_tuple(version: str) -> tuple[int, int]:
    """``"1.10"`` -> ``(1, 10)``: versions compare by number, not text."""
    major, minor = version.split(".")
    return int(major), int(minor)


@dataclasses.dataclass(frozen=True)
class VersionRange:
    """An inclusive range of oslo.versionedobjects versions."""

    min: str
    max: str

    def __contains__(self, version: str) -> bool:
        v = version_tuple(version)
        return version_tuple(self.min) <= v <= version_tuple(self.max)

    def intersect(self, other: VersionRange) -> VersionRange | None:
        lo = max(self.min, other.min, key=version_tuple)
        hi = min(self.max, other.max, key=version_tuple)
        if version_tuple(lo) > version_tuple(hi):
            return None
        return VersionRange(lo, hi)
