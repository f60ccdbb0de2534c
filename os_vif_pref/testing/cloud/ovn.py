"""The ML2/OVN back end: OVN's databases, ovn-northd and the chassis.

``up --backend ovn`` runs these instead of the Open vSwitch agent:

* the Northbound and Southbound databases, each its own ``ovsdb-server``
  on a unix socket in the cloud's socket directory (``DIR``'s socket
  directory ``ovn/``; OVN's ``unix:`` paths must be absolute, and they
  are: no TCP port is needed);
* ``ovn-northd`` between them;
* ``ovn-controller`` on the compute host's Open vSwitch - the DPDK
  ``ovs-vswitchd`` the agent back end uses too, so the chassis publishes
  ``datapath-type=netdev`` and the ``dpdkvhostuser`` interface types (only
  the DPDK build reports them; ovn-controller copies them into the
  Southbound ``Chassis`` ``other_config``, which is what Neutron's OVN
  driver reads to bind ``vhostuser``).  Its ``system-id`` is the compute
  host's name, so the chassis and Nova's host are the same name.

Every daemon runs in the foreground as a service of
:class:`~os_vif_pref.testing.cloud.procs.Procs`, stopped by its pid at
``down`` like the others; the databases and run files live in the socket
directory, which ``down`` removes.  ``OVN_RUNDIR`` and friends point there
so nothing of OVN is written under ``/var/run/ovn`` or ``/etc/ovn``.

Traps (measured with Debian's OVN 23.03): ovn-controller rejects
``--unixctl`` (its control socket is ``$OVN_RUNDIR/ovn-controller.<pid>.ctl``);
Neutron's OVN driver refuses to bind a flat network's port on a chassis
without a bridge mapping for its physical network.
"""

from __future__ import annotations

import json
from pathlib import Path
import re
from typing import Any

from os_vif_pref.testing.cloud import compute, configs, control
from os_vif_pref.testing.cloud import layout as layout_mod
from os_vif_pref.testing.cloud.layout import Layout
from os_vif_pref.testing.cloud.procs import CloudError, Procs, run

SCHEMAS = Path("/usr/share/ovn")
#: The services of this back end, in start order.
SERVICES = ("ovn_nb", "ovn_sb", "ovn_northd", "ovn_controller")
#: The OVN router's address on the guests' network (DHCP's ``router``).
GATEWAY_IP = "203.0.113.1"
#: Neutron's agent type for a chassis.
CHASSIS_AGENT = "OVN Controller agent"
#: What neutron-ovn-db-sync-util logs when it went through everything.
SYNC_DONE = "Neutron OVN DBs sync completed"


def ovn_env(lay: Layout) -> dict[str, str]:
    """Run, database, log and config directories of OVN: the cloud's."""
    d = str(lay.ovn_dir)
    env = {"OVN_RUNDIR": d, "OVN_DBDIR": d, "OVN_LOGDIR": d,
           "OVN_SYSCONFDIR": d}
    env.update(compute.ovs_env(lay))
    return env


def nb_connection(lay: Layout) -> str:
    return f"unix:{lay.ovn_dir / 'nb.sock'}"


def sb_connection(lay: Layout) -> str:
    return f"unix:{lay.ovn_dir / 'sb.sock'}"


def nbctl(lay: Layout, *args: str) -> str:
    return run(["ovn-nbctl", f"--db={nb_connection(lay)}", "--timeout=30",
                *args], what="ovn-nbctl " + args[0], env=ovn_env(lay),
               timeout=40)


def sbctl(lay: Layout, *args: str) -> str:
    return run(["ovn-sbctl", f"--db={sb_connection(lay)}", "--timeout=30",
                *args], what="ovn-sbctl " + args[0], env=ovn_env(lay),
               timeout=40)


def _start_db(lay: Layout, procs: Procs, kind: str) -> None:
    """One ovsdb-server with OVN's ``kind`` ("nb" or "sb") schema."""
    d = lay.ovn_dir
    db = d / f"ovn{kind}_db.db"
    schema = SCHEMAS / f"ovn-{kind}.ovsschema"
    if not db.exists():
        run(["ovsdb-tool", "create", str(db), str(schema)],
            what=f"ovsdb-tool create (OVN {kind.upper()})")
    sock = d / f"{kind}.sock"
    name = f"ovn_{kind}"
    procs.start(name, [
        "ovsdb-server", str(db), f"--remote=punix:{sock}",
        f"--pidfile={d / f'ovsdb-server-{kind}.pid'}",
        f"--unixctl={d / f'ovsdb-server-{kind}.ctl'}", "--no-chdir"],
        env=ovn_env(lay))
    procs.wait(name, f"its socket {sock}", sock.exists, timeout=30)


def start_central(lay: Layout, procs: Procs) -> None:
    """The NB and SB databases and ovn-northd (what a controller runs)."""
    lay.ovn_dir.mkdir(parents=True, exist_ok=True)
    _start_db(lay, procs, "nb")
    _start_db(lay, procs, "sb")
    nbctl(lay, "--no-wait", "init")
    d = lay.ovn_dir
    procs.start("ovn_northd", [
        "ovn-northd", f"--ovnnb-db={nb_connection(lay)}",
        f"--ovnsb-db={sb_connection(lay)}",
        f"--pidfile={d / 'ovn-northd.pid'}",
        f"--unixctl={d / 'ovn-northd.ctl'}", "--no-chdir"],
        env=ovn_env(lay))

    def northd_active() -> bool:
        out = run(["ovn-appctl", "-t", str(d / "ovn-northd.ctl"),
                   "status"], what="ovn-appctl status", env=ovn_env(lay),
                  timeout=20)
        return "active" in out and "standby" not in out
    procs.wait("ovn_northd", "status active", northd_active, timeout=60,
               interval=0.3)


def start_controller(lay: Layout, procs: Procs,
                     host: str = configs.COMPUTE_HOST) -> None:
    """ovn-controller on the compute host's (DPDK) Open vSwitch.

    Waits until the chassis is in the Southbound database with the
    DPDK interface types, which is what Neutron's driver binds from.
    """
    compute.vsctl(
        lay, "set", "Open_vSwitch", ".",
        f"external_ids:system-id={host}",
        f"external_ids:hostname={host}",
        f'external_ids:ovn-remote="{sb_connection(lay)}"',
        "external_ids:ovn-encap-type=geneve",
        "external_ids:ovn-encap-ip=127.0.0.1",
        "external_ids:ovn-bridge=br-int",
        "external_ids:ovn-bridge-datapath-type=netdev",
        f"external_ids:ovn-bridge-mappings={layout_mod.PHYSNET}:br-phys")
    procs.start("ovn_controller", [
        "ovn-controller", lay.ovsdb_connection,
        f"--pidfile={lay.ovn_dir / 'ovn-controller.pid'}", "--no-chdir"],
        env=ovn_env(lay))
    procs.wait("ovn_controller", f"chassis {host} with dpdkvhostuser in "
               "the Southbound database",
               lambda: "dpdkvhostuser" in chassis(lay, host).get(
                   "other_config", {}).get("iface-types", ""),
               timeout=120, interval=0.3)


def chassis(lay: Layout, host: str = configs.COMPUTE_HOST) -> dict[str, Any]:
    """The Southbound ``Chassis`` row of ``host`` ({} if none)."""
    rows = _sb_rows(lay, "Chassis", "name,hostname,other_config",
                    f"name={host}")
    return rows[0] if rows else {}


def port_binding(lay: Layout, port_id: str) -> dict[str, Any]:
    """The Southbound ``Port_Binding`` of Neutron port ``port_id``.

    ``chassis`` is the claiming chassis' name ("" when unclaimed) and
    ``up`` a bool ({} if there is no such row).
    """
    rows = _sb_rows(lay, "Port_Binding", "logical_port,chassis,up,type",
                    f"logical_port={port_id}")
    if not rows:
        return {}
    row = rows[0]
    ref = row["chassis"]
    row["chassis"] = ""
    if ref:
        row["chassis"] = sbctl(lay, "get", "Chassis", ref,
                               "name").strip().strip('"')
    row["up"] = row.get("up") is True
    return row


def _sb_rows(lay: Layout, table: str, columns: str,
             condition: str) -> list[dict[str, Any]]:
    out = sbctl(lay, "--format=json", f"--columns={columns}", "find",
                table, condition)
    data = json.loads(out)
    return [{h: _ovsdb_value(v) for h, v in zip(data["headings"], row,
                                                    strict=True)}
            for row in data["data"]]


def _ovsdb_value(value: Any) -> Any:
    """An ovsdb JSON value as Python: maps, sets (empty -> None), uuids."""
    if isinstance(value, list) and len(value) == 2:
        kind, body = value
        if kind == "map":
            return {k: _ovsdb_value(v) for k, v in body}
        if kind == "set":
            items = [_ovsdb_value(v) for v in body]
            return items[0] if len(items) == 1 else (items or None)
        if kind == "uuid":
            return body
    return value


def wait_chassis_agent(lay: Layout, procs: Procs,
                       host: str = configs.COMPUTE_HOST) -> None:
    """Neutron lists the chassis as an alive ``OVN Controller agent``."""
    def alive() -> bool:
        conn = control.admin_connection(lay)
        agents = [a for a in conn.network.agents(host=host)
                  if a.agent_type == CHASSIS_AGENT]
        return bool(agents) and all(a.is_alive for a in agents)
    procs.wait("ovn_controller", "its chassis alive in Neutron's agent list",
               alive, timeout=180, interval=1)


def adapt_network(lay: Layout, info: dict[str, Any]) -> None:
    """The guests' subnet as OVN serves it: DHCP on, a gateway address.

    :func:`~os_vif_pref.testing.cloud.resources.register` makes the subnet
    the agent back end uses (no DHCP: that back end runs no DHCP agent,
    no gateway); on OVN, ovn-controller answers DHCP itself, so the
    guests take their addresses from it (the guest's init asks when the
    config drive says ``ipv4_dhcp``), with the router's address as their
    default route.  The subnet is made again rather than updated: Neutron
    29's OVN L3 plugin fails in its subnet-update callback when the old
    gateway was none ("argument of type 'NoneType' is not iterable").
    ``info`` and ``DIR/resources.json`` get the new subnet's id.
    """
    conn = control.admin_connection(lay)
    old = conn.network.get_subnet(info["subnet"])
    conn.network.delete_subnet(old)
    subnet = conn.network.create_subnet(
        name=old.name, network_id=old.network_id, ip_version=4,
        cidr=old.cidr, enable_dhcp=True, gateway_ip=GATEWAY_IP,
        allocation_pools=old.allocation_pools)
    info["subnet"] = subnet.id
    (lay.root / "resources.json").write_text(json.dumps(info, indent=2))


def db_sync_check(lay: Layout) -> tuple[list[str], list[str]]:
    """What ``neutron-ovn-db-sync-util`` in ``log`` mode would repair.

    The tool logs each difference between Neutron's database and OVN's
    databases at WARNING (logger ``...ovsdb.ovn_db_sync``).  Returns
    (differences, lines not counted), the latter with why:

    * counters it always prints ("... to add: 0, remove: 0") and "Host X
      found both in OVN SB DB and Neutron", printed for every chassis on
      every run: no difference;
    * what only the ``pvlan`` and ``segments`` service plugins write (the
      ``pvlan_pg_drop`` port group; a chassis' segment host mapping):
      the tool loads both plugins itself, whatever the server runs, so on
      a server without them (this cloud, as the guide's block) it reports
      them missing for the stock ``ovn`` driver alike.

    The tool refuses to start unless the literal name ``ovn`` is in
    ``[ml2] mechanism_drivers`` (and then replaces the drivers by its own
    sync driver anyway): with ``pref_ovn`` it is run with one more
    configuration file saying ``ovn``, as the installation guide tells
    operators to.
    """
    etc = lay.etc("neutron")
    override = configs.write(etc / "ovn-db-sync.ini",
                             {"ml2": {"mechanism_drivers": "ovn"}})
    log = lay.root / "logs" / "ovn-db-sync.log"
    log.unlink(missing_ok=True)
    run([lay.bin("neutron-ovn-db-sync-util"),
         "--config-file", str(etc / "neutron.conf"),
         "--config-file", str(etc / "ml2_conf.ini"),
         "--config-file", str(override),
         "--ovn-neutron_sync_mode", "log", "--log-file", str(log)],
        what="neutron-ovn-db-sync-util", timeout=300)
    out = log.read_text() if log.exists() else ""
    if SYNC_DONE not in out:
        raise CloudError(f"neutron-ovn-db-sync-util: no {SYNC_DONE!r} in "
                         f"{log}:\n{out[-2000:]}")
    plugins = configs.neutron(lay)["DEFAULT"]["service_plugins"].split(",")
    differences, ignored = [], []
    for line in out.splitlines():
        if " WARNING " not in line or "ovn_db_sync " not in line:
            continue
        text = line.split(" WARNING ", 1)[1]
        if _zero_counter(text) or "found both in OVN SB DB and Neutron" \
                in text:
            ignored.append(f"{line} (no difference)")
        elif "pvlan_pg_drop not found" in text and "pvlan" not in plugins:
            ignored.append(f"{line} (no pvlan plugin in the server)")
        elif "SegmentHostMapping" in text and "segments" not in plugins:
            ignored.append(f"{line} (no segments plugin in the server)")
        else:
            differences.append(line)
    return differences, ignored


def _zero_counter(text: str) -> bool:
    numbers = re.findall(r":\s*(\d+)", text)
    return bool(numbers) and all(n == "0" for n in numbers)
