"""OVSDB access for the ``pref_ovs`` plugin, through ovsdbapp's native IDL.

Why this module and not upstream's ``vif_plug_ovs.ovsdb``:

* **One long-lived connection per process** (per connection string),
  created on first use and kept: the IDL replica it maintains is what makes
  a plug cheap (lookups are local, a plug is a single round trip).  After a
  ``fork()`` the child opens its own.
* **One transaction per plug**, whatever the VIF needs: the bridge (created
  only when missing), the port, its interface and every column are written
  together, so a failure never leaves a half-plugged port.  Upstream uses up
  to four transactions (bridge, port-exists check, QoS, port).
* **Bulk**: many ports in one transaction for a host coming back up
  (``plug_ports``/``unplug_ports`` take lists).
* **Stale ports are replaced**: a port with the wanted name but another
  ``iface-id`` (or on another bridge) is deleted and created afresh in the
  same transaction, never duplicated or silently reused.
* **Asynchronous commit**: ``begin()`` queues a transaction and returns a
  handle, so the caller can overlap it with kernel work (deleting a device
  costs ~16 ms in the kernel; the OVSDB round trip runs meanwhile).
* **Reconnection** is python-ovs's reconnect FSM; we only shorten its
  back-off so a restarted ovsdb-server is picked up within ~0.1-1 s, and
  transactions issued while disconnected are retried until ``timeout``.

Only the columns the plugin reads are monitored: interface statistics,
link state and the like change all the time and would otherwise stream
into every nova-compute.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
import dataclasses
import logging
import os
import queue
import threading
import time
from typing import Any
import uuid

from ovs.db import idl as ovs_idl
from ovsdbapp import exceptions as ovsdbapp_exc
from ovsdbapp.backend.ovs_idl import command as ovs_command
from ovsdbapp.backend.ovs_idl import connection as ovs_connection
from ovsdbapp.backend.ovs_idl import idlutils, vlog
from ovsdbapp.schema.open_vswitch import impl_idl

from os_vif_pref import exceptions
from os_vif_pref.ovs import constants

LOG = logging.getLogger(__name__)

SCHEMA_NAME = "Open_vSwitch"

#: Columns we monitor, per table (see the module docstring).
MONITORED_COLUMNS: dict[str, tuple[str, ...]] = {
    "Open_vSwitch": ("bridges", "cur_cfg", "next_cfg"),
    "Bridge": ("name", "ports", "datapath_type"),
    "Port": ("name", "interfaces", "tag", "vlan_mode", "trunks", "qos",
             "external_ids"),
    "Interface": ("name", "type", "options", "external_ids", "mtu_request",
                  "ofport", "error"),
    "QoS": ("type", "external_ids"),
}

#: Reconnect back-off (ms) after ovsdb-server goes away.  python-ovs's
#: default (1 s doubling to 8 s) would stall plugs for seconds after a
#: restart of the local server.
RECONNECT_MIN_BACKOFF_MS = 100
RECONNECT_MAX_BACKOFF_MS = 1000


class OvsdbError(exceptions.OsVifPrefException):
    msg_fmt = "OVSDB %(operation)s failed on %(connection)s: %(reason)s"


def qos_id(port_name: str) -> str:
    """The id we store in a QoS row's external_ids for ``port_name``."""
    return str(uuid.uuid5(uuid.UUID(constants.QOS_UUID_NAMESPACE), port_name))


def is_trunk_bridge(bridge: str) -> bool:
    return bridge.startswith(constants.TRUNK_BR_PREFIX)


@dataclasses.dataclass(frozen=True)
class PortSpec:
    """Everything one plugged OVS port should look like.

    ``datapath_type`` is used only if ``bridge`` has to be created: an
    existing bridge's datapath is never changed (upstream sets it on every
    plug, which can flip a netdev integration bridge to ``system``).
    """

    bridge: str
    name: str
    iface_id: str
    mac: str
    vm_uuid: str
    mtu: int | None = None
    interface_type: str | None = None
    options: Mapping[str, str] | None = None
    datapath_type: str | None = None
    isolate: bool = False
    qos_type: str | None = None

    def external_ids(self) -> dict[str, str]:
        ids = {
            constants.EXT_IFACE_ID: self.iface_id,
            constants.EXT_IFACE_STATUS: "active",
            constants.EXT_ATTACHED_MAC: self.mac,
            constants.EXT_VM_UUID: self.vm_uuid,
        }
        if is_trunk_bridge(self.bridge):
            # Neutron's trunk handler cleans up by this key.
            ids[constants.EXT_BRIDGE_NAME] = self.bridge
        return ids


#: Outcomes of plugging one spec, returned by :meth:`Ovsdb.plug_ports`.
CREATED = "created"
UPDATED = "updated"
REPLACED = "replaced"


class _PlugPortsCommand(ovs_command.BaseCommand):
    """Create or refresh many ports (and missing bridges) in one go."""

    def __init__(self, api: _OvsApi, specs: Sequence[PortSpec]) -> None:
        super().__init__(api)
        self.specs = list(specs)

    def run_idl(self, txn: ovs_idl.Transaction) -> None:
        tables = self.api.tables
        # Rows inserted in this transaction are not in the name indexes, so
        # keep our own view of bridges (including ones we create here).
        bridges = {br.name: br for br in tables["Bridge"].rows.values()}
        results = []
        for spec in self.specs:
            br = bridges.get(spec.bridge)
            if br is None:
                br = self._create_bridge(txn, spec)
                bridges[spec.bridge] = br
            port = idlutils.row_by_value(self.api.idl, "Port", "name",
                                         spec.name, None)
            outcome = CREATED
            if port is not None:
                iface = _port_interface(port, spec.name)
                if iface is not None and port in br.ports and (
                        iface.external_ids.get(constants.EXT_IFACE_ID)
                        == spec.iface_id):
                    self._refresh(port, iface, spec)
                    results.append((spec.name, UPDATED))
                    continue
                LOG.info("Replacing stale OVS port %s (iface-id %s)",
                         spec.name, iface.external_ids.get(
                             constants.EXT_IFACE_ID) if iface else None)
                _delete_port(tables, port, bridges.values())
                outcome = REPLACED
            self._create_port(txn, br, spec)
            results.append((spec.name, outcome))
        self.result = results

    def _create_bridge(self, txn: ovs_idl.Transaction,
                       spec: PortSpec) -> ovs_idl.Row:
        tables = self.api.tables
        br = txn.insert(tables["Bridge"])
        br.name = spec.bridge
        if spec.datapath_type:
            br.datapath_type = spec.datapath_type
        self.api._ovs.addvalue("bridges", br)
        port = txn.insert(tables["Port"])
        port.name = spec.bridge
        iface = txn.insert(tables["Interface"])
        iface.name = spec.bridge
        iface.type = "internal"
        port.interfaces = [iface]
        br.addvalue("ports", port)
        return br

    def _create_port(self, txn: ovs_idl.Transaction, br: ovs_idl.Row,
                     spec: PortSpec) -> None:
        tables = self.api.tables
        port = txn.insert(tables["Port"])
        port.name = spec.name
        iface = txn.insert(tables["Interface"])
        txn.expected_ifaces.add(iface.uuid)
        iface.name = spec.name
        if spec.interface_type:
            iface.type = spec.interface_type
        if spec.options:
            iface.options = dict(spec.options)
        iface.external_ids = spec.external_ids()
        if spec.mtu:
            iface.mtu_request = [spec.mtu]
        if spec.isolate and not is_trunk_bridge(spec.bridge):
            # Isolate until Neutron's agent sets the real tag (bug 1734320).
            port.tag = [constants.DEAD_VLAN]
            port.vlan_mode = ["trunk"]
            port.trunks = [constants.DEAD_VLAN]
        if spec.qos_type:
            qos = txn.insert(tables["QoS"])
            qos.type = spec.qos_type
            qos.external_ids = {"id": qos_id(spec.name),
                                "_type": spec.qos_type}
            port.qos = [qos]
        port.interfaces = [iface]
        br.addvalue("ports", port)

    @staticmethod
    def _refresh(port: ovs_idl.Row, iface: ovs_idl.Row,
                 spec: PortSpec) -> None:
        # Same VIF plugged again (e.g. nova-compute restarting): keep what
        # Neutron's agent added (tag, other external_ids), refresh ours.
        # Writing an unchanged value is dropped by the IDL, so a no-op
        # re-plug sends nothing but the next_cfg increment.
        ids = dict(iface.external_ids)
        ids.update(spec.external_ids())
        if ids != iface.external_ids:
            iface.external_ids = ids
        if spec.mtu and list(iface.mtu_request) != [spec.mtu]:
            iface.mtu_request = [spec.mtu]
        if (spec.interface_type or "") != iface.type:
            iface.type = spec.interface_type or ""
        if spec.options:
            opts = dict(iface.options)
            opts.update(spec.options)
            if opts != iface.options:
                iface.options = opts


class _UnplugPortsCommand(ovs_command.BaseCommand):
    """Delete ports by name (absent ones ignored), with their QoS rows."""

    def __init__(self, api: _OvsApi, names: Iterable[str],
                 bridge_if_trunk: Iterable[str] = ()) -> None:
        super().__init__(api)
        self.names = list(names)
        self.trunk_bridges = [b for b in bridge_if_trunk
                              if is_trunk_bridge(b)]

    def run_idl(self, txn: ovs_idl.Transaction) -> None:
        tables = self.api.tables
        bridges = list(tables["Bridge"].rows.values())
        deleted = []
        for name in self.names:
            port = idlutils.row_by_value(self.api.idl, "Port", "name", name,
                                         None)
            if port is None:
                continue
            _delete_port(tables, port, bridges)
            deleted.append(name)
        for name in self.trunk_bridges:
            br = idlutils.row_by_value(self.api.idl, "Bridge", "name", name,
                                       None)
            if br is not None:
                # Neutron's trunk bridges are ours to remove with the VIF.
                for port in list(br.ports):
                    _delete_port(tables, port, [br])
                self.api._ovs.delvalue("bridges", br)
                br.delete()
        self.result = deleted


def _port_interface(port: ovs_idl.Row, name: str) -> ovs_idl.Row | None:
    for iface in port.interfaces:
        if iface.name == name:
            return iface
    return None


def _delete_port(tables: Mapping[str, Any], port: ovs_idl.Row,
                 bridges: Iterable[ovs_idl.Row]) -> None:
    for br in bridges:
        if port in br.ports:
            br.delvalue("ports", port)
    ours = [q for q in port.qos
            if q.external_ids.get("id") == qos_id(port.name)]
    if ours:
        # QoS is a root table: rows we created would otherwise leak.  Port
        # is not, so deleting it only happens by garbage collection at the
        # end of the transaction, after the referential integrity check:
        # drop the reference explicitly and let the port be collected.
        port.qos = []
        for qos in ours:
            qos.delete()
        return
    for iface in port.interfaces:
        iface.delete()
    port.delete()


class _Transaction(impl_idl.OvsVsctlTransaction):
    """ovsdbapp's vsctl-like transaction, with the vswitchd wait optional
    and the commit split into :meth:`start` and :meth:`wait`.

    Waiting for vswitchd (``next_cfg``/``cur_cfg``) is what ovs-vsctl does
    by default: the call returns once the switch has applied the change.
    Interfaces vswitchd could not open are logged, not raised (as upstream:
    a vhost-user port on a non-DPDK build is still configured in OVSDB).
    """

    def __init__(self, api: _OvsApi, conn: ovs_connection.Connection,
                 timeout: float, wait_vswitchd: bool) -> None:
        super().__init__(api, conn, timeout=timeout, check_error=True,
                         log_errors=False)
        self.wait_vswitchd = wait_vswitchd
        self.failed_interfaces: list[str] = []

    def pre_commit(self, txn: ovs_idl.Transaction) -> None:
        txn.expected_ifaces = set()
        # Always bump next_cfg, so that a later wait (the next plug, or
        # Ovsdb.wait_for_vswitchd) covers this change too.
        self.api._ovs.increment("next_cfg")

    def post_commit(self, txn: ovs_idl.Transaction) -> None:
        for command in self.commands:
            command.post_commit(txn)
        if not self.wait_vswitchd:
            return
        try:
            self.do_post_commit(txn)
        except impl_idl.VswitchdInterfaceAddException as e:
            LOG.warning("%s", e)
            self.failed_interfaces = self.post_commit_failed_interfaces(txn)
        except ovsdbapp_exc.TimeoutException:
            # The change is in the database; vswitchd applies it when it
            # catches up.  Same as ovs-vsctl: report, do not fail the plug.
            LOG.warning("ovs-vswitchd did not apply the change within %s s",
                        self.timeout)

    def start(self) -> _Transaction:
        self.ovsdb_connection.queue_txn(self)
        return self

    def wait(self) -> Any:
        try:
            result = self.results.get(timeout=self.timeout)
        except queue.Empty as e:
            raise ovsdbapp_exc.TimeoutException(
                commands=self.commands, timeout=self.timeout,
                cause="no result") from e
        if isinstance(result, idlutils.ExceptionResult):
            raise result.ex
        return result

    def commit(self) -> Any:
        return self.start().wait()


class _OvsApi(impl_idl.OvsdbIdl):
    """ovsdbapp's Open_vSwitch API, with the connection per instance.

    ovsdbapp stores the connection in a class attribute (first one wins for
    the life of the process); we want one per connection string and a fresh
    one after fork or in tests.
    """

    @property  # type: ignore[override]
    def ovsdb_connection(self) -> ovs_connection.Connection:
        return self._own_connection

    @ovsdb_connection.setter
    def ovsdb_connection(self, conn: ovs_connection.Connection) -> None:
        self._own_connection = conn


class Ovsdb:
    """A long-lived OVSDB client for one connection string.

    Get it with :func:`get`; it connects on first use.
    """

    def __init__(self, connection: str, timeout: float) -> None:
        self.connection = connection
        self.timeout = timeout
        self._api: _OvsApi | None = None
        self._lock = threading.Lock()

    @property
    def api(self) -> _OvsApi:
        if self._api is None:
            with self._lock:
                if self._api is None:
                    self._api = self._connect()
        return self._api

    def _connect(self) -> _OvsApi:
        vlog.use_python_logger()
        try:
            helper = idlutils.get_schema_helper(self.connection, SCHEMA_NAME)
            for table, columns in MONITORED_COLUMNS.items():
                helper.register_columns(table, list(columns))
            idl = ovs_connection.OvsdbIdl(self.connection, helper)
            session = getattr(idl, "_session", None)
            if session is not None:
                session.reconnect.set_backoff(RECONNECT_MIN_BACKOFF_MS,
                                              RECONNECT_MAX_BACKOFF_MS)
            conn = ovs_connection.Connection(idl, timeout=self.timeout)
            return _OvsApi(conn, start=True)
        except Exception as e:
            raise OvsdbError(operation="connect", connection=self.connection,
                             reason=e) from e

    # -- transactions ----------------------------------------------------
    def begin(self, commands: Sequence[ovs_command.BaseCommand],
              wait_vswitchd: bool = True) -> _Transaction:
        """Queue one transaction of ``commands``; ``.wait()`` for results."""
        api = self.api
        txn = _Transaction(api, api.ovsdb_connection, self.timeout,
                           wait_vswitchd)
        for command in commands:
            txn.add(command)
        return txn.start()

    def _run(self, operation: str, commands: Sequence[Any],
             wait_vswitchd: bool = True) -> Any:
        try:
            return self.begin(commands, wait_vswitchd).wait()
        except OvsdbError:
            raise
        except Exception as e:
            raise OvsdbError(operation=operation, connection=self.connection,
                             reason=e) from e

    def plug_ports_command(self, specs: Sequence[PortSpec]
                           ) -> _PlugPortsCommand:
        return _PlugPortsCommand(self.api, specs)

    def unplug_ports_command(self, names: Iterable[str],
                             trunk_bridges: Iterable[str] = ()
                             ) -> _UnplugPortsCommand:
        return _UnplugPortsCommand(self.api, names, trunk_bridges)

    def plug_ports(self, specs: Sequence[PortSpec],
                   wait_vswitchd: bool = True) -> list[tuple[str, str]]:
        """Create/refresh ``specs`` in one transaction.

        Returns ``[(port name, CREATED|UPDATED|REPLACED), ...]``.
        """
        if not specs:
            return []
        command = self.plug_ports_command(specs)
        self._run("plug", [command], wait_vswitchd)
        return command.result

    def unplug_ports(self, names: Iterable[str],
                     trunk_bridges: Iterable[str] = (),
                     wait_vswitchd: bool = True) -> list[str]:
        """Delete ports by name in one transaction; return those deleted."""
        command = self.unplug_ports_command(names, trunk_bridges)
        if not command.names and not command.trunk_bridges:
            return []
        self._run("unplug", [command], wait_vswitchd)
        return command.result

    def ensure_bridge(self, bridge: str,
                      datapath_type: str | None = None) -> None:
        """Create ``bridge`` if missing (an existing one is left alone)."""
        if self.bridge_exists(bridge):
            return
        self._run("ensure_bridge", [self.api.add_br(
            bridge, may_exist=True, datapath_type=datapath_type)])

    def wait_for_vswitchd(self, timeout: float | None = None) -> None:
        """Return once ovs-vswitchd has applied every change made so far
        (``cur_cfg`` caught up with ``next_cfg``).

        Bulk unplugs do not wait for vswitchd; tests and benchmarks use this
        to see the switch settle and to account for its background work.
        (A transaction cannot be used for this: python-ovs drops the
        ``next_cfg`` increment from a transaction with nothing else in it.)
        """
        api = self.api
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            with api.ovsdb_connection.lock:
                ovs = api._ovs
                if ovs.cur_cfg >= ovs.next_cfg:
                    return
            if time.monotonic() > deadline:
                raise OvsdbError(operation="wait for vswitchd",
                                 connection=self.connection,
                                 reason="timed out")
            time.sleep(0.001)

    # -- reads (from the local replica, no round trip) -------------------
    def bridge_exists(self, bridge: str) -> bool:
        api = self.api
        with api.ovsdb_connection.lock:
            return idlutils.row_by_value(api.idl, "Bridge", "name", bridge,
                                         None) is not None

    def port_bridge(self, name: str) -> str | None:
        """Name of the bridge holding port ``name``, or None."""
        api = self.api
        with api.ovsdb_connection.lock:
            port = idlutils.row_by_value(api.idl, "Port", "name", name, None)
            if port is None:
                return None
            for br in api.tables["Bridge"].rows.values():
                if port in br.ports:
                    return br.name
        return None

    def is_connected(self) -> bool:
        return bool(self._api and self._api.idl.is_connected())

    def close(self) -> None:
        with self._lock:
            if self._api is not None:
                self._api.ovsdb_connection.stop(timeout=5)
                self._api = None


_REGISTRY: dict[tuple[int, str], Ovsdb] = {}
_REGISTRY_LOCK = threading.Lock()


def get(connection: str, timeout: float) -> Ovsdb:
    """The process's client for ``connection`` (created on first use).

    Keyed by pid too: a forked child must not share the parent's socket and
    IDL thread (which does not survive fork anyway).
    """
    key = (os.getpid(), connection)
    with _REGISTRY_LOCK:
        client = _REGISTRY.get(key)
        if client is None:
            client = _REGISTRY[key] = Ovsdb(connection, timeout)
        elif client.timeout != timeout:
            client.timeout = timeout
        return client


def reset() -> None:
    """Close and forget every client (tests; after the server is replaced)."""
    with _REGISTRY_LOCK:
        clients = [c for (pid, _), c in _REGISTRY.items()
                   if pid == os.getpid()]
        _REGISTRY.clear()
    for client in clients:
        client.close()
