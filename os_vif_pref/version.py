"""Package version, from pbr's metadata."""

from __future__ import annotations

import pbr.version

version_info = pbr.version.VersionInfo("os-vif-pref")


def version_string() -> str:
    try:
        return version_info.version_string()
    except Exception:  # running from a tree that was never installed
        return "unknown"
