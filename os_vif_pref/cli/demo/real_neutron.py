"""Real Neutron for ``os-vif-pref demo``: the ML2 plugin, in-process.

Neutron's own ``Ml2Plugin`` with the mechanism driver a case names
(``pref_openvswitch``, or the stock ``openvswitch`` for "an old Neutron"),
its real type drivers, agents table and port-binding code, on an in-memory
sqlite database, with oslo.messaging's in-process ``fake`` transport instead
of a broker.  Ports are bound the way Nova does it: created, then updated
with ``binding:host_id``, ``device_owner`` and ``binding:profile``; what the
demo reads back is the port as Neutron stored it (``get_port``).  Calls go
to the plugin directly with an admin context: the REST layer and its policy
are Neutron's business and not what the demo shows.

The demo runs it in a child process (:class:`NeutronProcess`, one JSON
request and reply per line on a pipe): Neutron and Nova cannot share one
oslo.config namespace (both register ``[ironic]`` options, differently), just
as neutron-server and nova-compute never share a process.  Importing this
module needs only oslo.config; :func:`available` says whether Neutron is
installed (the demo falls back to its ML2-shaped port context otherwise).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
import contextlib
import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from typing import IO, Any

from oslo_config import cfg

from os_vif_pref import exceptions


class NeutronFailed(exceptions.OsVifPrefException):
    msg_fmt = "Neutron (the demo's ML2 plugin process): %(reason)s"

#: Agent configurations, as the Open vSwitch agent reports them.
AGENTS: dict[str, dict[str, Any]] = {
    # A DPDK host: userspace datapath with vhost-user ports.
    "dpdk": {"datapath_type": "netdev",
             "ovs_capabilities": {"iface_types": [
                 "dpdkvhostuser", "dpdkvhostuserclient", "internal",
                 "system", "tap"]}},
    # The demo's own OVS: userspace datapath, no DPDK.
    "netdev": {"datapath_type": "netdev",
               "ovs_capabilities": {"iface_types": [
                   "internal", "system", "tap"]}},
}


def available() -> str | None:
    """None if real Neutron can run here, else why not."""
    try:
        importlib.metadata.version("neutron")
        found = importlib.util.find_spec("neutron") is not None
    except (ImportError, ValueError,
            importlib.metadata.PackageNotFoundError) as exc:
        return f"neutron is not installed ({exc})"
    return None if found else "neutron is not importable"


def version() -> str:
    return importlib.metadata.version("neutron")


class InProcessNeutron:
    """Neutron's ML2 plugin on sqlite in this process; :meth:`close` undoes
    every global it set (options, plugin directory, Neutron's manager)."""

    def __init__(self, *, bridge: str = "br-int", mtu: int = 1450,
                 socket_dir: str = "/var/run/openvswitch") -> None:
        self.bridge = bridge
        self.mtu = mtu
        self.socket_dir = socket_dir
        self.driver: str | None = None
        self.plugin: Any = None
        self._stack = contextlib.ExitStack()
        self._started = False

    # -- set-up ------------------------------------------------------------
    def _override(self, name: str, value: Any, group: str | None = None
                  ) -> None:
        cfg.CONF.set_override(name, value, group=group)
        self._stack.callback(cfg.CONF.clear_override, name, group=group)

    def start(self) -> InProcessNeutron:
        from neutron.common import config as n_config
        from neutron.conf.plugins.ml2 import config as ml2_config
        from neutron.conf.plugins.ml2.drivers import driver_type
        import neutron.db.migration.models.head  # noqa: F401 (every model)
        from neutron_lib import rpc as n_rpc
        from neutron_lib.db import api as db_api
        from neutron_lib.db import model_base
        from oslo_db import options as db_options
        import oslo_messaging
        from oslo_messaging import conffixture

        conf = cfg.CONF
        # Neutron registers command-line options, which oslo.config refuses
        # once the command line is parsed (our CLI has): parse it again,
        # same arguments, once they are registered.
        parsed = getattr(conf, "_args", None)
        if parsed is not None:
            again = (list(parsed), conf.project, conf.default_config_files,
                     conf.default_config_dirs)
            conf.clear()
        n_config.register_common_config_options()
        ml2_config.register_ml2_plugin_opts()
        driver_type.register_ml2_drivers_vxlan_opts()
        db_options.set_defaults(conf, connection="sqlite://")
        oslo_messaging.set_transport_defaults("neutron")
        messaging = conffixture.ConfFixture(conf)
        messaging.setUp()
        self._stack.callback(messaging.cleanUp)
        messaging.transport_url = "fake:/"
        if parsed is not None:
            args, project, files, dirs = again
            conf(args, project=project, default_config_files=files,
                 default_config_dirs=dirs)
        else:   # not run from our CLI: Neutron's policy engine needs it
            conf([], project="neutron", default_config_files=[],
                 default_config_dirs=[])
        self._override("core_plugin", "ml2")
        self._override("service_plugins", [])
        self._override("type_drivers", ["vxlan"], "ml2")
        self._override("project_network_types", ["vxlan"], "ml2")
        self._override("vni_ranges", ["1000:1999"], "ml2_type_vxlan")
        # Networks get ``mtu``: VXLAN over IPv4 takes 50 bytes.
        self._override("global_physnet_mtu", self.mtu + 50)
        n_rpc.init(conf)
        self._stack.callback(n_rpc.cleanup)
        engine = db_api.CONTEXT_WRITER.get_engine()
        model_base.BASEV2.metadata.create_all(engine)
        self._started = True
        return self

    def use_driver(self, driver: str) -> Any:
        """The ML2 plugin with ``[ml2] mechanism_drivers = driver`` (a new
        plugin when the driver changes; the database stays)."""
        if driver == self.driver:
            return self.plugin
        from neutron import manager
        from neutron_lib import fixture
        from neutron_lib.plugins import directory

        self._drop_plugin()
        self._override("mechanism_drivers", [driver], "ml2")
        plugins = fixture.PluginDirectoryFixture()
        plugins.setUp()
        self._plugin_cleanup = plugins.cleanUp
        manager.init()
        # The demo's guests are network namespaces on veth pairs that stand
        # in for libvirt's taps (Sandbox.attach_guest): the device exists
        # before the plug, as when libvirt creates it.  A binding asking
        # the host to create the tap (``ovs_create_tap``, which
        # pref_openvswitch sets for ovs on a netdev bridge) would have
        # os-vif create one in its place, so the demo's Neutron runs with
        # the option off.
        with contextlib.suppress(cfg.NoSuchOptError, cfg.NoSuchGroupError):
            self._override("ovs_create_tap", False, "OVS_DRIVER")
        self.plugin = directory.get_plugin()
        self.driver = driver
        return self.plugin

    def _drop_plugin(self) -> None:
        from neutron import manager

        if self.plugin is None:
            return
        manager.NeutronManager.clear_instance()
        self._plugin_cleanup()
        self.plugin = None
        self.driver = None

    def close(self) -> None:
        self._drop_plugin()
        self._stack.close()
        self._started = False

    def __enter__(self) -> InProcessNeutron:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what the services do ----------------------------------------------
    @staticmethod
    def _context() -> Any:
        from neutron_lib import context

        return context.get_admin_context()

    def agent(self, host: str, kind: str) -> None:
        """The Open vSwitch agent of ``host`` reports in (``kind``: a key
        of :data:`AGENTS`); a later report replaces the configuration."""
        from neutron_lib import constants
        from oslo_utils import timeutils

        conf = {"integration_bridge": self.bridge, "bridge_mappings": {},
                "tunnel_types": ["vxlan"], "ovs_hybrid_plug": False,
                "vhostuser_socket_dir": self.socket_dir,
                **AGENTS[kind]}
        self.plugin.create_or_update_agent(self._context(), {
            "binary": constants.AGENT_PROCESS_OVS, "host": host,
            "topic": constants.L2_AGENT_TOPIC,
            "agent_type": constants.AGENT_TYPE_OVS, "start_flag": True,
            "configurations": conf}, timeutils.utcnow())

    def network(self, name: str) -> dict[str, Any]:
        return self.plugin.create_network(self._context(), {"network": {
            "name": name, "admin_state_up": True, "shared": False,
            "project_id": "demo", "tenant_id": "demo",
            "router:external": False}})

    def delete_network(self, network_id: str) -> None:
        self.plugin.delete_network(self._context(), network_id)

    def bind(self, network_id: str, host: str,
             profile: Mapping[str, Any] | None,
             vnic_type: str = "normal") -> dict[str, Any]:
        """Nova's two steps; the port as Neutron stored it."""
        from neutron_lib import constants

        ctx = self._context()
        port = self.plugin.create_port(ctx, {"port": {
            "network_id": network_id, "name": "", "admin_state_up": True,
            "project_id": "demo", "tenant_id": "demo",
            "mac_address": constants.ATTR_NOT_SPECIFIED,
            "fixed_ips": constants.ATTR_NOT_SPECIFIED,
            "device_id": "", "device_owner": "",
            "binding:vnic_type": vnic_type}})
        body: dict[str, Any] = {"binding:host_id": host,
                                "device_owner": "compute:nova",
                                "device_id": "demo-instance"}
        if profile:
            body["binding:profile"] = dict(profile)
        self.plugin.update_port(ctx, port["id"], {"port": body})
        return self.plugin.get_port(ctx, port["id"])

    def delete_ports(self, ports: Iterable[Mapping[str, Any]]) -> None:
        ctx = self._context()
        for port in ports:
            self.plugin.delete_port(ctx, port["id"])


# --------------------------------------------------------------------------
# The child process and its handle


_OPS = ("use_driver", "agent", "network", "delete_network", "bind",
        "delete_ports")


def serve(requests: IO[str], replies: IO[str]) -> int:
    """The child's loop: ``{"op": ..., "args": {...}}`` per line; the first
    is ``start`` (the constructor's arguments), the last ``close``."""
    neutron: InProcessNeutron | None = None
    for line in requests:
        req = json.loads(line)
        op, args = req["op"], req.get("args", {})
        try:
            if op == "start":
                neutron = InProcessNeutron(**args).start()
                result: Any = version()
            elif op == "close":
                break
            elif neutron is not None and op in _OPS:
                result = getattr(neutron, op)(**args)
                if op == "use_driver":
                    result = None
            else:
                raise ValueError(f"unknown request {op!r}")
            reply = {"result": result}
        except Exception as exc:
            reply = {"error": f"{op}: {type(exc).__name__}: {exc}"}
        replies.write(json.dumps(reply, default=str) + "\n")
        replies.flush()
    if neutron is not None:
        neutron.close()
    return 0


class NeutronProcess:
    """:class:`InProcessNeutron` in a child process, same methods."""

    def __init__(self, **kwargs: Any) -> None:
        self._kwargs = kwargs
        self.proc: subprocess.Popen[str] | None = None
        self._log: IO[str] | None = None
        self.version: str | None = None

    def spawn(self) -> NeutronProcess:
        """Start the child (it imports Neutron meanwhile)."""
        self._log = tempfile.TemporaryFile("w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", __name__], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self._log, text=True)
        self._send("start", self._kwargs)
        return self

    def _send(self, op: str, args: Mapping[str, Any]) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"op": op, "args": dict(args)})
                              + "\n")
        self.proc.stdin.flush()

    def _reply(self) -> Any:
        assert self.proc is not None and self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise NeutronFailed(reason="the process ended: " + self._tail())
        reply = json.loads(line)
        if "error" in reply:
            raise NeutronFailed(reason=reply["error"])
        return reply["result"]

    def _tail(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read()[-2000:]

    def wait_ready(self) -> str:
        if self.version is None:
            self.version = self._reply()
        return self.version

    def _call(self, op: str, **args: Any) -> Any:
        self.wait_ready()
        self._send(op, args)
        return self._reply()

    def use_driver(self, driver: str) -> None:
        self._call("use_driver", driver=driver)

    def agent(self, host: str, kind: str) -> None:
        self._call("agent", host=host, kind=kind)

    def network(self, name: str) -> dict[str, Any]:
        return self._call("network", name=name)

    def delete_network(self, network_id: str) -> None:
        self._call("delete_network", network_id=network_id)

    def bind(self, network_id: str, host: str,
             profile: Mapping[str, Any] | None,
             vnic_type: str = "normal") -> dict[str, Any]:
        return self._call("bind", network_id=network_id, host=host,
                          profile=dict(profile or {}), vnic_type=vnic_type)

    def delete_ports(self, ports: Iterable[Mapping[str, Any]]) -> None:
        self._call("delete_ports", ports=[{"id": p["id"]} for p in ports])

    def close(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            if proc.poll() is None:
                assert proc.stdin is not None
                with contextlib.suppress(OSError):
                    proc.stdin.write(json.dumps({"op": "close"}) + "\n")
                    proc.stdin.close()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        finally:
            if proc.stdout is not None:
                proc.stdout.close()
            if self._log is not None:
                self._log.close()

    def __enter__(self) -> NeutronProcess:
        return self.spawn()

    def __exit__(self, *exc: object) -> None:
        self.close()


def main() -> int:
    """Child entry point: replies on the original stdout, anything else
    Neutron prints goes to stderr (the parent's log file)."""
    import logging
    import warnings
    warnings.filterwarnings("ignore")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    return serve(sys.stdin, replies)


if __name__ == "__main__":
    sys.exit(main())
