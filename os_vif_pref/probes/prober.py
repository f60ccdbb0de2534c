"""Host capabilities the catalogue's ``requires`` name, probed cheaply.

Every catalogue entry lists what the host must have (``ovsdb``,
``kernel_link:veth``, ``ovs_iface:dpdkvhostuserclient``...).  This module
answers those questions without root where it can and without ever raising:
a probe that fails, errors or times out yields a :class:`ProbeResult` with
``ok=False`` and the reason, so one broken probe marks the entries that need
it unusable and leaves the rest of the preference list alone.

Probes come in *families* that answer several capabilities at once (one
OVSDB round trip gives the bridges, datapath types and interface types; one
read of the kernel config gives every link kind).  Families are cached for
``[os_vif_pref] probe_cache_ttl`` seconds, keyed by the configuration they
read, so the preference list can be recomputed often.

Capabilities:

``kernel_link:KIND`` (bridge, tun, veth, macvtap)
    the kernel can create that link kind: ``/sys/module``, then the kernel
    config (``/proc/config.gz`` or ``/boot/config-RELEASE``) and
    ``modules.dep``; tun also needs the ``/dev/net/tun`` character device.
    With none of those readable, a throw-away network namespace is tried.
``ovsdb``
    ovsdb-server answers at the probe connection (one JSON-RPC transact,
    cut off by ``probe_timeout``).
``ovs_bridge``
    the bridge ``[os_vif_pref] probe_ovs_bridge`` exists.
``ovs_datapath:TYPE`` / ``ovs_iface:TYPE``
    in ``Open_vSwitch.datapath_types`` / ``iface_types`` (filled by
    ovs-vswitchd, so they also say vswitchd is running).
``vhostuser_socket_dir``
    ``[os_vif_pref_ovs] vhostuser_socket_dir`` is a writable directory.
``sriov``
    some network device has SR-IOV virtual functions.
``plugin:NAME``
    the os-vif plugin ``NAME`` (entry-point group ``os_vif``) is installed
    and loads; ``value`` is its ``describe()`` (checked by preference.py).
``virt_vif:CLASS``
    the host's virt driver can configure the guest side of os-vif object
    ``CLASS``.  For libvirt, the classes ``LibvirtGenericVIFDriver.
    _get_config_os_vif`` handles, read from the installed Nova's source
    (without importing it), else :data:`KNOWN_LIBVIRT_VIFS`; anything else
    ends in Nova's ``InternalError: Unsupported VIF type``.  Every catalogue
    entry requires this for its object (an implicit ``requires``, see
    :func:`os_vif_pref.catalogue.implicit_requires`), so a binding the
    hypervisor cannot consume is never offered.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Mapping
import contextlib
import ctypes
import dataclasses
import errno
import gzip
import json
import logging
import os
import select
import socket
import stat
import struct
import sys
import threading
import time
from typing import Any

from oslo_config import cfg

LOG = logging.getLogger(__name__)

probe_opts = [
    cfg.FloatOpt(
        "probe_cache_ttl", default=30.0, min=0.0,
        help="Seconds a host capability probe result is reused before the "
             "preference list probes again (0: probe every time)."),
    cfg.FloatOpt(
        "probe_timeout", default=1.0, min=0.01,
        help="Seconds one probe may take (an OVSDB socket that accepts but "
             "never answers, a hung namespace test); past it the "
             "capability is reported missing with the reason."),
    cfg.StrOpt(
        "probe_ovsdb_connection",
        help="OVSDB connection the probes use. Unset: [os_vif_pref_ovs] "
             "ovsdb_connection (the pref_ovs plugin's option), so the "
             "probes look at the database the plugin will plug into."),
    cfg.StrOpt(
        "probe_ovs_bridge", default="br-int",
        help="OVS bridge the ovs_bridge capability looks for (Nova's "
             "[neutron] ovs_bridge)."),
    cfg.StrOpt(
        "virt_driver",
        help="Virt driver whose guest interface configuration the "
             "virt_vif:CLASS capabilities describe: libvirt (the os-vif "
             "objects Nova's LibvirtGenericVIFDriver configures), fake "
             "(Nova's fake drivers: every object) or any (no limit, for "
             "hosts where something else than Nova consumes the objects). "
             "Unset: the driver of Nova's [DEFAULT] compute_driver when it "
             "is set, else libvirt."),
]

CONF = cfg.CONF
CONF.register_opts(probe_opts, group="os_vif_pref")


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    return [("os_vif_pref", probe_opts)]


#: Link kinds probed, with their kernel config symbol and module name.
LINK_KINDS: Mapping[str, tuple[str, str]] = {
    "bridge": ("CONFIG_BRIDGE", "bridge"),
    "tun": ("CONFIG_TUN", "tun"),
    "veth": ("CONFIG_VETH", "veth"),
    "macvtap": ("CONFIG_MACVTAP", "macvtap"),
}

TUN_DEVICE = "/dev/net/tun"
SYS_MODULE = "/sys/module"
SYS_NET = "/sys/class/net"
PROC_CONFIG = "/proc/config.gz"
MODULES_DIR = "/lib/modules"


@dataclasses.dataclass(frozen=True)
class ProbeResult:
    """One capability: present or not, what was found, and why."""

    capability: str
    ok: bool
    value: Any = None
    reason: str = ""
    #: Seconds the probe (its whole family) took when it last ran.
    duration: float = 0.0
    cached: bool = False

    def to_dict(self) -> dict[str, Any]:
        value = self.value
        if not isinstance(value, (str, int, float, bool, list, type(None))):
            value = str(value)
        return {"capability": self.capability, "ok": self.ok,
                "value": value, "reason": self.reason,
                "duration_ms": round(self.duration * 1000, 3),
                "cached": self.cached}


def _missing(capability: str, reason: str) -> ProbeResult:
    return ProbeResult(capability, False, None, reason)


# --------------------------------------------------------------------------
# kernel link kinds
# --------------------------------------------------------------------------

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


# --------------------------------------------------------------------------
# OVSDB
# --------------------------------------------------------------------------

def _ovs_opts(conf: cfg.ConfigOpts) -> Any:
    """``[os_vif_pref_ovs]``, registered as os-vif would when loading
    pref_ovs (same Opt objects, so os-vif's later registration is a no-op).
    """
    from os_vif_pref.plugins import ovs as ovs_plugin

    group = ovs_plugin.CONFIG_GROUP
    if group not in conf or "ovsdb_connection" not in conf[group]:
        conf.register_opts(ovs_plugin.OvsPlugin.CONFIG_OPTS, group=group)
    return conf[group]


def _ovs_connection(conf: cfg.ConfigOpts = CONF) -> str:
    conn = conf.os_vif_pref.probe_ovsdb_connection
    if conn:
        return str(conn)
    return str(_ovs_opts(conf).ovsdb_connection)


def _vhostuser_dir(conf: cfg.ConfigOpts = CONF) -> str:
    return str(_ovs_opts(conf).vhostuser_socket_dir)


def _ovs_set(value: Any) -> list[Any]:
    """An OVSDB set (``["set", [...]]``) or single atom, as a list."""
    if isinstance(value, list) and len(value) == 2 and value[0] == "set":
        return list(value[1])
    return [value]


def _connect(connection: str, timeout: float) -> socket.socket:
    method, _, rest = connection.partition(":")
    if method == "unix":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        address: Any = rest
    elif method == "tcp":
        host, _, port = rest.rpartition(":")
        host = host.strip("[]")
        if not host or not port.isdigit():
            raise ValueError(f"cannot parse {connection!r}")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        address = (host, int(port))
    else:
        raise ValueError(f"the probe speaks unix: and tcp:, not {method}: "
                         "(set [os_vif_pref] probe_ovsdb_connection)")
    sock.settimeout(timeout)
    try:
        sock.connect(address)
    except BaseException:
        sock.close()
        raise
    return sock


def ovsdb_query(connection: str, timeout: float) -> dict[str, Any]:
    """One JSON-RPC transact: Open_vSwitch types, version and bridges.

    A raw socket rather than ovsdbapp: the IDL would download and monitor
    every table, which costs far more than the question, and the whole
    exchange here is bounded by ``timeout``.
    """
    deadline = time.monotonic() + timeout
    request = {"id": 1, "method": "transact", "params": [
        "Open_vSwitch",
        {"op": "select", "table": "Open_vSwitch", "where": [],
         "columns": ["datapath_types", "iface_types", "ovs_version"]},
        {"op": "select", "table": "Bridge", "where": [],
         "columns": ["name", "datapath_type"]}]}
    with _connect(connection, timeout) as sock:
        sock.sendall(json.dumps(request).encode())
        decoder = json.JSONDecoder()
        buf = ""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("timed out")
            sock.settimeout(left)
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("ovsdb-server closed the connection")
            buf += chunk.decode("utf-8", "replace")
            while buf.strip():
                try:
                    msg, end = decoder.raw_decode(buf.lstrip())
                except ValueError:
                    break  # incomplete: read more
                buf = buf.lstrip()[end:]
                if msg.get("method") == "echo":
                    sock.sendall(json.dumps({"id": msg.get("id"),
                                             "result": msg.get("params"),
                                             "error": None}).encode())
                    continue
                if msg.get("id") != 1:
                    continue
                if msg.get("error"):
                    raise RuntimeError(f"ovsdb-server: {msg['error']}")
                return _parse_ovsdb(msg["result"])


def _parse_ovsdb(result: list[Any]) -> dict[str, Any]:
    for op in result:
        if isinstance(op, dict) and op.get("error"):
            raise RuntimeError(f"ovsdb-server: {op['error']}: "
                               f"{op.get('details', '')}")
    rows = result[0].get("rows", [])
    root = rows[0] if rows else {}
    return {
        "datapath_types": sorted(_ovs_set(root.get("datapath_types",
                                                   ["set", []]))),
        "iface_types": sorted(_ovs_set(root.get("iface_types",
                                                ["set", []]))),
        "ovs_version": "".join(map(str, _ovs_set(root.get(
            "ovs_version", ["set", []])))),
        "bridges": {r["name"]: r.get("datapath_type") or "system"
                    for r in result[1].get("rows", [])},
    }


def probe_ovs(connection: str, bridge: str, timeout: float,
              wanted: Iterable[str] = ()) -> dict[str, ProbeResult]:
    """``ovsdb``, ``ovs_bridge`` and every ``ovs_datapath:``/``ovs_iface:``
    capability in ``wanted`` (plus the ones vswitchd reports)."""
    wanted = set(wanted)
    try:
        info = ovsdb_query(connection, timeout)
    except TimeoutError:
        why = f"no answer from ovsdb-server at {connection} within " \
              f"{timeout:g}s"
    except (OSError, ValueError, RuntimeError, KeyError, IndexError,
            TypeError, AttributeError) as exc:
        why = f"ovsdb-server at {connection}: " + (
            exc.strerror if isinstance(exc, OSError) and exc.strerror
            else str(exc))
    else:
        out = {"ovsdb": ProbeResult(
            "ovsdb", True, f"{connection} (Open vSwitch "
                           f"{info['ovs_version'] or 'version unknown'})")}
        if bridge in info["bridges"]:
            out["ovs_bridge"] = ProbeResult(
                "ovs_bridge", True,
                f"{bridge} (datapath {info['bridges'][bridge]})")
        else:
            out["ovs_bridge"] = _missing("ovs_bridge", (
                f"no bridge {bridge!r} (bridges: "
                f"{', '.join(sorted(info['bridges'])) or 'none'})"))
        # Both columns are filled by ovs-vswitchd: when it is not running
        # every such capability fails for that one cause, said the same way
        # so that the preference list says it once.
        no_vswitchd = ("ovs-vswitchd is not running or has not started yet "
                       "(Open_vSwitch datapath_types/iface_types are empty)")
        for prefix, column in (("ovs_datapath", "datapath_types"),
                               ("ovs_iface", "iface_types")):
            have = info[column]
            caps = {c for c in wanted if c.startswith(prefix + ":")}
            caps |= {f"{prefix}:{t}" for t in have}
            for cap in sorted(caps):
                kind = cap.split(":", 1)[1]
                if kind in have:
                    out[cap] = ProbeResult(cap, True, kind)
                elif not info["datapath_types"] and not info["iface_types"]:
                    out[cap] = _missing(cap, no_vswitchd)
                elif not have:
                    out[cap] = _missing(cap, f"Open_vSwitch.{column} is empty")
                else:
                    out[cap] = _missing(cap, (
                        f"ovs-vswitchd does not support {kind!r} "
                        f"({column}: {', '.join(have)})"))
        return out
    out = {cap: _missing(cap, why) for cap in wanted}
    for cap in ("ovsdb", "ovs_bridge"):
        out[cap] = _missing(cap, why)
    return out


# --------------------------------------------------------------------------
# files and devices
# --------------------------------------------------------------------------

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


# --------------------------------------------------------------------------
# os-vif plugins
# --------------------------------------------------------------------------

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


# --------------------------------------------------------------------------
# What the virt driver can configure
# --------------------------------------------------------------------------

#: The os-vif objects Nova 34's libvirt VIF driver configures, used when
#: Nova's source cannot be read.
KNOWN_LIBVIRT_VIFS = ("VIFGeneric", "VIFBridge", "VIFOpenVSwitch",
                      "VIFVHostUser", "VIFHostDevice")
_LIBVIRT_VIF_MODULE = "nova.virt.libvirt.vif"
_LIBVIRT_VIF_FILE = "nova/virt/libvirt/vif.py"


def virt_driver(conf: cfg.ConfigOpts = CONF) -> str:
    """``libvirt``, ``fake``, ``any`` or another Nova driver's name."""
    name = conf.os_vif_pref.virt_driver
    if not name:
        try:
            name = conf.compute_driver
        except (cfg.NoSuchOptError, AttributeError):
            name = None
    if not name:
        return "libvirt"
    # Nova's form: "libvirt.LibvirtDriver", "fake.FakeDriver".
    return str(name).split(".", 1)[0].lower()


def _libvirt_vif_source() -> tuple[str, str] | None:
    """(source text, where) of Nova's libvirt vif module, not imported."""
    mod = sys.modules.get(_LIBVIRT_VIF_MODULE)
    path = getattr(mod, "__file__", None)
    if path is None:
        try:
            from importlib import metadata

            path = str(metadata.distribution("nova").locate_file(
                _LIBVIRT_VIF_FILE))
        except Exception:  # Nova not installed: the known list
            return None
    try:
        with open(path, encoding="utf-8") as f:
            return f.read(), _LIBVIRT_VIF_FILE
    except OSError:
        return None


def libvirt_vif_classes(source: str | None = None,
                        ) -> tuple[tuple[str, ...], str]:
    """The os-vif classes Nova's libvirt driver configures, and whence.

    Read from ``LibvirtGenericVIFDriver._get_config_os_vif``: the classes
    of its ``isinstance(vif, osv_vifs.X)`` tests.  ``source`` replaces the
    installed Nova's module text (tests).
    """
    where = "the given source"
    if source is None:
        found = _libvirt_vif_source()
        if found is None:
            return KNOWN_LIBVIRT_VIFS, "known list (Nova not installed)"
        source, where = found
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return KNOWN_LIBVIRT_VIFS, f"known list ({where}: {exc})"
    names: list[str] = []
    for cls in tree.body:
        if not (isinstance(cls, ast.ClassDef)
                and cls.name == "LibvirtGenericVIFDriver"):
            continue
        for fn in cls.body:
            if not (isinstance(fn, ast.FunctionDef)
                    and fn.name == "_get_config_os_vif"):
                continue
            for node in ast.walk(fn):
                if (isinstance(node, ast.Call)
                        and isinstance(node.func, ast.Name)
                        and node.func.id == "isinstance"
                        and len(node.args) == 2
                        and isinstance(node.args[1], ast.Attribute)):
                    names.append(node.args[1].attr)
    if not names:
        return KNOWN_LIBVIRT_VIFS, (
            f"known list ({where} has no LibvirtGenericVIFDriver."
            "_get_config_os_vif with isinstance tests)")
    return tuple(dict.fromkeys(names)), (
        f"{where}: LibvirtGenericVIFDriver._get_config_os_vif")


def probe_virt_vifs(driver: str, wanted: Iterable[str],
                    ) -> dict[str, ProbeResult]:
    """``virt_vif:CLASS`` for each wanted capability, for one driver."""
    wanted = list(wanted)
    if driver in ("any", "fake"):
        return {c: ProbeResult(c, True, {"driver": driver}) for c in wanted}
    if driver != "libvirt":
        return {c: _missing(c, (
            f"virt driver {driver!r}: which os-vif objects it configures is "
            "not known ([os_vif_pref] virt_driver = any lifts the limit)"))
            for c in wanted}
    handled, where = libvirt_vif_classes()
    try:
        # Which class derives from which, from the cached object model:
        # importing os-vif's classes to ask issubclass() costs ~0.2 s.
        from os_vif_pref import catalogue

        model = catalogue.os_vif_model(register=False)
    except Exception:  # os-vif unimportable: compare names only
        model = {}
    out = {}
    for cap in wanted:
        name = cap.split(":", 1)[1]
        cls = model.get(name)
        ok = name in handled or (cls is not None and any(
            b in handled for b in cls.bases))
        value = {"driver": driver, "handles": list(handled), "from": where}
        out[cap] = ProbeResult(cap, True, value) if ok else ProbeResult(
            cap, False, value, (
                f"Nova's libvirt VIF driver cannot configure {name} (it "
                f"handles {', '.join(handled)}; from {where}): Nova would "
                "fail with 'Unsupported VIF type'"))
    return out


# --------------------------------------------------------------------------
# The cached prober
# --------------------------------------------------------------------------

def family(capability: str) -> str:
    """The probe family answering a capability."""
    if capability.startswith("kernel_link:"):
        return "kernel_link"
    if capability in ("ovsdb", "ovs_bridge") or capability.startswith(
            ("ovs_datapath:", "ovs_iface:")):
        return "ovsdb"
    if capability.startswith("plugin:"):
        return capability
    if capability.startswith("virt_vif:"):
        return "virt_vif"
    if capability in ("vhostuser_socket_dir", "sriov"):
        return capability
    return ""


def known(capability: str) -> bool:
    if capability.startswith("kernel_link:"):
        return capability.split(":", 1)[1] in LINK_KINDS
    return bool(family(capability)) and not capability.endswith(":")


class Prober:
    """Runs probe families on demand and caches them for the TTL."""

    def __init__(self, conf: cfg.ConfigOpts = CONF,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.conf = conf
        self.clock = clock
        self._lock = threading.Lock()
        # family -> (config key, expiry, results, same marked cached)
        self._cache: dict[str, tuple[Any, float, dict[str, ProbeResult],
                                     dict[str, ProbeResult]]] = {}
        self._eps: dict[str, Any] | None = None
        self.generation = 0

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()
            self._eps = None
            self.generation += 1

    def _key(self, fam: str) -> Any:
        if fam.startswith("plugin:") or fam in ("kernel_link", "sriov"):
            return None  # reads no configuration
        opts = self.conf.os_vif_pref
        if fam == "ovsdb":
            return (_ovs_connection(self.conf), opts.probe_ovs_bridge,
                    opts.probe_timeout)
        if fam == "vhostuser_socket_dir":
            return _vhostuser_dir(self.conf)
        if fam == "virt_vif":
            return virt_driver(self.conf)
        return None

    def _run(self, fam: str, key: Any,
             wanted: Iterable[str]) -> dict[str, ProbeResult]:
        timeout = float(self.conf.os_vif_pref.probe_timeout)
        if fam == "kernel_link":
            return probe_kernel_links(timeout)
        if fam == "ovsdb":
            return probe_ovs(key[0], key[1], timeout, wanted)
        if fam == "vhostuser_socket_dir":
            return {fam: probe_socket_dir(key)}
        if fam == "sriov":
            return {fam: probe_sriov()}
        if fam == "virt_vif":
            return probe_virt_vifs(key, wanted)
        if fam.startswith("plugin:"):
            if self._eps is None:
                self._eps = _plugin_eps()
            return {fam: probe_plugin(fam.split(":", 1)[1], self._eps)}
        return {}

    def _family(self, fam: str, wanted: set[str]) -> dict[str, ProbeResult]:
        """Cached results of one family, probing when stale or incomplete."""
        now = self.clock()
        try:
            key = self._key(fam)
        except Exception as exc:  # unreadable config: report, never raise
            return {c: _missing(c, f"cannot configure the probe: {exc}")
                    for c in wanted}
        hit = self._cache.get(fam)
        if (hit is not None and hit[0] == key and hit[1] > now
                and wanted <= hit[2].keys()):
            return hit[3]
        wanted = wanted | (hit[2].keys() if hit else set())
        start = time.perf_counter()
        try:
            results = self._run(fam, key, wanted)
        except Exception as exc:  # a probe must never break the list
            LOG.exception("Probe %s failed", fam)
            results = {c: _missing(c, f"probe failed: {exc}")
                       for c in wanted}
        took = time.perf_counter() - start
        results = {c: dataclasses.replace(r, duration=took)
                   for c, r in results.items()}
        ttl = float(self.conf.os_vif_pref.probe_cache_ttl)
        with self._lock:
            self._cache[fam] = (key, now + ttl, results, {
                c: dataclasses.replace(r, cached=True)
                for c, r in results.items()})
            self.generation += 1
        return results

    def plugin_absent(self, name: str) -> ProbeResult | None:
        """The ``plugin:NAME`` failure if that os-vif plugin is not
        installed at all, found without loading any plugin (None: it is
        installed; whether it loads is what probing ``plugin:NAME`` says).
        """
        if self._eps is None:
            self._eps = _plugin_eps()
        if name in self._eps:
            return None
        return _not_installed(name)

    def probe(self, capabilities: Iterable[str]) -> dict[str, ProbeResult]:
        """Results for the given capabilities (unknown ones are missing)."""
        by_family: dict[str, set[str]] = {}
        out: dict[str, ProbeResult] = {}
        for cap in capabilities:
            if not known(cap):
                out[cap] = _missing(cap, f"unknown capability {cap!r} (no "
                                         "probe answers it)")
                continue
            by_family.setdefault(family(cap), set()).add(cap)
        for fam, caps in by_family.items():
            results = self._family(fam, caps)
            for cap in caps:
                out[cap] = results.get(cap) or _missing(
                    cap, "the probe did not report it")
        return out

    def probe_all(self, extra: Iterable[str] = ()) -> dict[str, ProbeResult]:
        """Every capability this module knows, plus ``extra``."""
        caps = [f"kernel_link:{k}" for k in LINK_KINDS]
        caps += ["ovsdb", "ovs_bridge", "vhostuser_socket_dir", "sriov"]
        caps += list(extra)
        first = self.probe(dict.fromkeys(caps))
        # Add whatever vswitchd reported beyond what was asked.
        fam = self._cache.get("ovsdb")
        if fam is not None:
            for cap, res in fam[2].items():
                first.setdefault(cap, res)
        return dict(sorted(first.items()))


_default: Prober | None = None


def default_prober() -> Prober:
    global _default
    if _default is None:
        _default = Prober()
    return _default
