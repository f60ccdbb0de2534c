"""``ovsdb``, ``ovs_bridge``, ``ovs_datapath:TYPE``, ``ovs_iface:TYPE``:
one bounded JSON-RPC round trip to ovsdb-server.

Also where the probes read the pref_ovs plugin's ``[os_vif_pref_ovs]``
options (connection, vhost-user socket directory), so they look at the
database and directory the plugin will use.
"""

from __future__ import annotations

from collections.abc import Iterable
import json
import socket
import time
from typing import Any

from oslo_config import cfg

from os_vif_pref.probes.opts import CONF
from os_vif_pref.probes.result import ProbeResult, _missing


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
