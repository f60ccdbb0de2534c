"""``kernel_link:KIND``: which link kinds the kernel can create.

Read from ``/sys/module``, the kernel config and ``modules.dep`` (no root,
nothing created); only when none of those is readable, a forked child tries
in a throw-away network namespace.  Tests point the path constants below at
fake trees.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
import contextlib
import ctypes
import errno
import gzip
import json
import os
import select
import socket
import stat
import struct
import time
from typing import Any

from os_vif_pref.probes.result import ProbeResult, _missing

#: Link kinds probed, with their kernel config symbol and module name.
LINK_KINDS: Mapping[str, tuple[str, str]] = {
    "bridge": ("CONFIG_BRIDGE", "bridge"),
    "tun": ("CONFIG_TUN", "tun"),
    "veth": ("CONFIG_VETH", "veth"),
    "macvtap": ("CONFIG_MACVTAP", "macvtap"),
}

TUN_DEVICE = "/dev/net/tun"
SYS_MODULE = "/sys/module"
PROC_CONFIG = "/proc/config.gz"
MODULES_DIR = "/lib/modules"


def _kernel_config(release: str) -> dict[str, str] | None:
    """The running kernel's build config, if it is readable."""
    candidates: list[tuple[str, Callable[[str], Any]]] = [
        (PROC_CONFIG, gzip.open),
        (f"/boot/config-{release}", open),
    ]
    for path, opener in candidates:
        try:
            with opener(path) as f:  # type: ignore[operator]
                data = f.read()
        except (OSError, EOFError):
            continue
        if isinstance(data, bytes):
            data = data.decode("utf-8", "replace")
        out = {}
        for line in data.splitlines():
            if line.startswith("CONFIG_"):
                key, _, value = line.partition("=")
                out[key] = value
        return out
    return None


def _module_installed(release: str, module: str) -> bool | None:
    """Whether ``module.ko`` is in modules.dep; None if that is unreadable."""
    try:
        with open(os.path.join(MODULES_DIR, release, "modules.dep"),
                  encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    return (f"/{module}.ko" in text)


def _tun_device() -> tuple[bool, str]:
    try:
        st = os.stat(TUN_DEVICE)
    except OSError as exc:
        return False, f"{TUN_DEVICE}: {exc.strerror}"
    if not stat.S_ISCHR(st.st_mode):
        return False, f"{TUN_DEVICE} is not a character device"
    return True, ""


def probe_kernel_links(timeout: float) -> dict[str, ProbeResult]:
    """Which link kinds the kernel can create, without creating any."""
    release = os.uname().release
    config = None
    results: dict[str, ProbeResult] = {}
    unknown: list[str] = []
    for kind, (symbol, module) in LINK_KINDS.items():
        cap = f"kernel_link:{kind}"
        how: str | None = None
        why = ""
        if os.path.isdir(os.path.join(SYS_MODULE, module)):
            how = "loaded"
        else:
            if config is None:
                config = _kernel_config(release) or {}
            setting = config.get(symbol)
            if setting == "y":
                how = "built in"
            elif setting == "m":
                installed = _module_installed(release, module)
                if installed or installed is None:
                    how = "module"
                else:
                    why = (f"{symbol}=m but {module}.ko is not installed "
                           f"under {MODULES_DIR}/{release}")
            elif config:
                why = f"kernel {release} is built without {symbol}"
            else:
                unknown.append(kind)
                continue
        if how and kind == "tun":
            ok, tun_why = _tun_device()
            if not ok:
                how, why = None, tun_why
        results[cap] = (ProbeResult(cap, True, how) if how
                        else _missing(cap, why))
    if unknown:
        results.update(probe_links_in_netns(unknown, timeout))
    return results


# A throw-away network namespace, for kernels whose config is unreadable.
_CLONE_NEWNET = 0x40000000
_CLONE_NEWUSER = 0x10000000
_RTM_NEWLINK = 16
_NLM_F_REQUEST, _NLM_F_ACK = 0x1, 0x4
_NLM_F_EXCL, _NLM_F_CREATE = 0x200, 0x400
_IFLA_IFNAME, _IFLA_LINKINFO, _IFLA_INFO_KIND = 3, 18, 1
_NLMSG_ERROR = 2


def _rtattr(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * (
        -length % 4)


def _newlink_errno(sock: socket.socket, kind: str, seq: int) -> int:
    """Ask for a new link of ``kind``; return the kernel's errno (0: made)."""
    name = f"probe{seq}\0".encode()
    attrs = _rtattr(_IFLA_IFNAME, name) + _rtattr(
        _IFLA_LINKINFO, _rtattr(_IFLA_INFO_KIND, kind.encode()))
    body = struct.pack("=BxHiII", 0, 0, 0, 0, 0) + attrs
    flags = _NLM_F_REQUEST | _NLM_F_ACK | _NLM_F_EXCL | _NLM_F_CREATE
    sock.send(struct.pack("=LHHLL", 16 + len(body), _RTM_NEWLINK, flags,
                          seq, 0) + body)
    data = sock.recv(65536)
    _len, mtype, _flags, _seq, _pid = struct.unpack_from("=LHHLL", data)
    if mtype != _NLMSG_ERROR:
        return errno.EPROTO
    (err,) = struct.unpack_from("=i", data, 16)
    # The device is removed with the namespace when the child exits.
    return -err


def _netns_child(kinds: list[str], wfd: int) -> None:  # pragma: no cover
    """Runs in a forked child: new netns, one RTM_NEWLINK per kind."""
    out: dict[str, Any] = {}
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        flags = _CLONE_NEWNET if os.geteuid() == 0 else (
            _CLONE_NEWUSER | _CLONE_NEWNET)
        if libc.unshare(flags) != 0:
            out["error"] = "cannot create a network namespace: " + (
                os.strerror(ctypes.get_errno()))
        else:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
            for seq, kind in enumerate(kinds, 1):
                if kind == "tun":  # rtnetlink refuses tun by design
                    out[kind] = None
                    continue
                out[kind] = _newlink_errno(sock, kind, seq)
            sock.close()
    except Exception as exc:
        out["error"] = str(exc)
    os.write(wfd, json.dumps(out).encode())
    os._exit(0)


def probe_links_in_netns(kinds: list[str],
                         timeout: float) -> dict[str, ProbeResult]:
    """Create each link kind in a private namespace of a forked child.

    Only used when the kernel's config is unreadable: unprivileged users
    get a user namespace; the devices vanish with the child's namespace.
    EOPNOTSUPP means the kernel has no such kind; any other answer (made, or
    refused for a missing parameter, as macvtap without a lower device)
    means it has.
    """
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os.close(rfd)
        _netns_child(kinds, wfd)
    os.close(wfd)
    raw = b""
    try:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([rfd], [], [], left)[0]:
                raise TimeoutError
            chunk = os.read(rfd, 65536)
            if not chunk:
                break
            raw += chunk
        answer = json.loads(raw or b"{}")
    except (TimeoutError, ValueError) as exc:
        with contextlib.suppress(OSError):
            os.kill(pid, 9)
        answer = {"error": ("namespace test timed out after "
                            f"{timeout:g}s") if isinstance(
            exc, TimeoutError) else f"namespace test failed: {exc}"}
    finally:
        os.close(rfd)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    out = {}
    for kind in kinds:
        cap = f"kernel_link:{kind}"
        if "error" in answer:
            out[cap] = _missing(cap, "kernel config unreadable and "
                                + answer["error"])
        elif kind == "tun":
            ok, why = _tun_device()
            out[cap] = ProbeResult(cap, True, "device") if ok else _missing(
                cap, why)
        elif answer.get(kind) == errno.EOPNOTSUPP:
            out[cap] = _missing(cap, f"the kernel has no {kind!r} link kind")
        else:
            out[cap] = ProbeResult(cap, True, "created in a test namespace")
    return out
