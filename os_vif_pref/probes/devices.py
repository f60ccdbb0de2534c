"""``vhostuser_socket_dir`` and ``sriov``: files and devices, read from the
file system only."""

from __future__ import annotations

import os

from os_vif_pref.probes.result import ProbeResult, _missing

SYS_NET = "/sys/class/net"


def probe_socket_dir(path: str) -> ProbeResult:
    cap = "vhostuser_socket_dir"
    if not os.path.isdir(path):
        return _missing(cap, f"{path} is not a directory")
    if not os.access(path, os.W_OK | os.X_OK):
        return _missing(cap, f"{path} is not writable by uid {os.geteuid()}")
    return ProbeResult(cap, True, path)


def probe_sriov() -> ProbeResult:
    found = []
    try:
        names = sorted(os.listdir(SYS_NET))
    except OSError as exc:
        return _missing("sriov", f"{SYS_NET}: {exc.strerror}")
    for name in names:
        try:
            with open(os.path.join(SYS_NET, name, "device",
                                   "sriov_totalvfs")) as f:
                total = int(f.read().strip() or 0)
        except (OSError, ValueError):
            continue
        if total > 0:
            found.append(f"{name}:{total}")
    if not found:
        return _missing("sriov", "no network device with SR-IOV virtual "
                                 "functions")
    return ProbeResult("sriov", True, ", ".join(found))
