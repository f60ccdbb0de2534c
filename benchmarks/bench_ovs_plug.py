"""Side-by-side: ``pref_ovs`` versus os-vif's own ``ovs`` plugin.

Both plug into the same private userspace OVS (ovsdb-server + ovs-vswitchd,
netdev datapath) started inside a fresh network namespace; both use their
real privsep daemons started through sudo.  Measured, per plugin:

* one VIF at a time, as Nova calls it: plug every VIF, then unplug every
  VIF (so the bridge holds up to N ports, as on a busy host);
  VIFOpenVSwitch with ``create_port`` + ``create_tap``, and hybrid
  VIFBridge (qbr/qvb/qvo);
* ours only: bulk plug + bulk unplug of the VIFOpenVSwitch set
  (``plug_many``/``unplug_many``);
* the floor: one raw ovsdbapp transaction per port (add, then delete),
  with the tap already there, no privsep, no os-vif.

Run as root (it creates a namespace)::

    .venv/bin/python benchmarks/bench_ovs_plug.py [--ovs 200] [--hybrid 50]

Prints medians and means in ms, the ratios upstream/ours, and the goals
(>= 3x per VIF; bulk 200 plug + unplug < 2 s).  Not a test: nothing is
asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import os
import statistics
import sys
import tempfile
import time
import uuid
import warnings

warnings.simplefilter("ignore")

# These imports are after the warnings filter on purpose (eventlet noise).
import os_vif  # noqa: E402
from os_vif import objects  # noqa: E402
from oslo_config import cfg  # noqa: E402

from os_vif_pref.linux import net as linux_net  # noqa: E402
from os_vif_pref.ovs import ovsdb  # noqa: E402
from os_vif_pref.testing import netns as netns_testing  # noqa: E402
from os_vif_pref.testing import private_ovs  # noqa: E402
from os_vif_pref.testing import privsep as privsep_testing  # noqa: E402

BRIDGE = "br-int"


def _mac(n: int) -> str:
    return "fa:16:3e:" + ":".join(f"{n >> s & 0xFF:02x}" for s in (16, 8, 0))


class Factory:
    def __init__(self) -> None:
        self.n = 0
        self.net = objects.network.Network(id=str(uuid.uuid4()),
                                           bridge=BRIDGE, mtu=1450)

    def ovs(self, plugin: str) -> objects.vif.VIFOpenVSwitch:
        self.n += 1
        pid = str(uuid.uuid4())
        profile = objects.vif.VIFPortProfileOpenVSwitch(
            interface_id=pid, create_port=True, create_tap=True,
            datapath_type="netdev")
        return objects.vif.VIFOpenVSwitch(
            id=pid, address=_mac(self.n), network=self.net, plugin=plugin,
            vif_name=("tap" + pid)[:14], bridge_name=BRIDGE,
            port_profile=profile)

    def hybrid(self, plugin: str) -> objects.vif.VIFBridge:
        self.n += 1
        pid = str(uuid.uuid4())
        profile = objects.vif.VIFPortProfileOpenVSwitch(
            interface_id=pid, datapath_type="netdev")
        return objects.vif.VIFBridge(
            id=pid, address=_mac(self.n), network=self.net, plugin=plugin,
            vif_name=("tap" + pid)[:14], bridge_name=("qbr" + pid)[:14],
            port_profile=profile)


def _ms(samples: list[float]) -> str:
    return (f"median {statistics.median(samples):7.2f}  "
            f"mean {statistics.fmean(samples):7.2f}")


def drain(db: ovsdb.Ovsdb) -> float:
    """Wait for background work to finish; return the time it took (ms).

    Our unplug returns before ovs-vswitchd has applied the removal and
    before the kernel has unregistered the devices (they are renamed and
    down at once, deleted in a batch moments later).  That work is real,
    so it is measured here and reported with the per-VIF numbers.
    """
    t = time.perf_counter()
    db.wait_for_vswitchd()
    linux_net.flush_deleted()
    return (time.perf_counter() - t) * 1000


def one_at_a_time(vifs: list, inst: objects.instance_info.InstanceInfo,
                  db: ovsdb.Ovsdb) -> tuple[list[float], list[float], float]:
    """Plug each VIF, then unplug each; returns per-call ms and the
    background drain (ms) left after each phase, summed."""
    plug, unplug = [], []
    drain(db)                   # leftovers of earlier runs: not counted
    for vif in vifs:
        t = time.perf_counter()
        os_vif.plug(vif, inst)
        plug.append((time.perf_counter() - t) * 1000)
    drained = drain(db)
    for vif in vifs:
        t = time.perf_counter()
        os_vif.unplug(vif, inst)
        unplug.append((time.perf_counter() - t) * 1000)
    drained += drain(db)
    return plug, unplug, drained


def floor(server: private_ovs.PrivateOVS, n: int) -> tuple[list, list]:
    """One raw ovsdbapp transaction per port (ovsdbapp's defaults)."""
    from ovsdbapp.backend.ovs_idl import connection, idlutils
    from ovsdbapp.schema.open_vswitch import impl_idl

    helper = idlutils.get_schema_helper(server.connection, "Open_vSwitch")
    helper.register_all()
    conn = connection.Connection(
        connection.OvsdbIdl(server.connection, helper), timeout=30)
    api = impl_idl.OvsdbIdl(conn)
    names = [f"flr{i}" for i in range(n)]
    for name in names:
        linux_net.create_tap(name, mtu=1450, up=True)
    add, delete = [], []
    for i, name in enumerate(names):
        t = time.perf_counter()
        with api.transaction(check_error=True) as txn:
            txn.add(api.add_port(BRIDGE, name))
            txn.add(api.db_set("Interface", name, ("external_ids", {
                "iface-id": str(i), "iface-status": "active",
                "attached-mac": _mac(i), "vm-uuid": "x"}),
                ("mtu_request", 1450)))
        add.append((time.perf_counter() - t) * 1000)
    for name in names:
        t = time.perf_counter()
        api.del_port(name, bridge=BRIDGE).execute(check_error=True)
        delete.append((time.perf_counter() - t) * 1000)
    linux_net.delete_net_devs(names)
    conn.stop(timeout=5)
    return add, delete


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ovs", type=int, default=200,
                        help="VIFOpenVSwitch count (default 200)")
    parser.add_argument("--hybrid", type=int, default=50,
                        help="hybrid VIFBridge count (default 50)")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("run as root (creates a network namespace)", file=sys.stderr)
        return 2

    with contextlib.ExitStack() as stack:
        stack.enter_context(netns_testing.TestNetns())
        server = stack.enter_context(private_ovs.PrivateOVS((BRIDGE,)))
        stack.callback(ovsdb.reset)
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        conf_file = os.path.join(tmp, "bench.conf")
        helper = privsep_testing.helper_command()
        with open(conf_file, "w") as f:
            # Upstream's plugin reads its options when os-vif loads it.
            f.write(f"[os_vif_ovs]\novsdb_connection = {server.connection}\n"
                    f"ovs_vsctl_timeout = 30\n"
                    f"[os_vif_pref_ovs]\n"
                    f"ovsdb_connection = {server.connection}\n"
                    f"ovsdb_timeout = 30\n"
                    f"[vif_plug_ovs_privileged]\nhelper_command = {helper}\n"
                    f"[os_vif_pref_privileged]\nhelper_command = {helper}\n")
        cfg.CONF(["--config-file", conf_file], project="bench")
        os_vif.initialize()
        inst = objects.instance_info.InstanceInfo(uuid=str(uuid.uuid4()),
                                                  name="bench")
        make = Factory()
        ours = os_vif._EXT_MANAGER["pref_ovs"].obj

        print(f"os-vif {importlib.metadata.version('os-vif')}, ovsdbapp "
              f"{importlib.metadata.version('ovsdbapp')}, "
              f"{server.vsctl('--version').splitlines()[0]}; "
              f"{args.ovs} VIFOpenVSwitch + {args.hybrid} hybrid per plugin")
        db = ovsdb.get(server.connection, 30)
        # Warm-up: privsep daemons start (~0.6 s each), connections open.
        for plugin in ("ovs", "pref_ovs"):
            one_at_a_time([make.ovs(plugin), make.hybrid(plugin)], inst, db)

        results: dict[tuple[str, str], tuple[list, list, float]] = {}
        for plugin in ("ovs", "pref_ovs"):
            for kind, maker, count in (("ovs", make.ovs, args.ovs),
                                       ("hybrid", make.hybrid, args.hybrid)):
                vifs = [maker(plugin) for _ in range(count)]
                results[plugin, kind] = one_at_a_time(vifs, inst, db)

        print("\none VIF at a time, ms per VIF (drain: background work "
              "left after the calls returned - vswitchd applying removals, "
              "kernel unregistering devices - per VIF)")
        grand: dict[str, float] = {}
        for kind in ("ovs", "hybrid"):
            totals = {}
            for plugin in ("ovs", "pref_ovs"):
                plug, unplug, drained = results[plugin, kind]
                per_vif_drain = drained / len(plug)
                calls = statistics.fmean(plug) + statistics.fmean(unplug)
                totals[plugin] = (calls, calls + per_vif_drain)
                print(f"  {kind:6} {plugin:8}  plug {_ms(plug)}   "
                      f"unplug {_ms(unplug)}   drain {per_vif_drain:6.2f}")
            up, me = totals["ovs"], totals["pref_ovs"]
            print(f"  {kind:6} upstream/ours, plug+unplug means: calls "
                  f"{up[0]:.2f}/{me[0]:.2f} = {up[0] / me[0]:.1f}x; "
                  f"with drain {up[1]:.2f}/{me[1]:.2f} = "
                  f"{up[1] / me[1]:.1f}x   (goal >= 3x)")
            for plugin in totals:
                grand.setdefault(plugin, 0.0)
                grand[plugin] += totals[plugin][1] * len(
                    results[plugin, kind][0])
        print(f"  whole mix ({args.ovs} + {args.hybrid} VIFs, plug+unplug "
              f"with drain): upstream {grand['ovs'] / 1000:.2f} s, ours "
              f"{grand['pref_ovs'] / 1000:.2f} s = "
              f"{grand['ovs'] / grand['pref_ovs']:.1f}x")

        vifs = [make.ovs("pref_ovs") for _ in range(args.ovs)]
        t = time.perf_counter()
        ours.plug_many([(v, inst) for v in vifs])
        bulk_plug = time.perf_counter() - t
        t = time.perf_counter()
        ours.unplug_many([(v, inst) for v in vifs])
        bulk_unplug = time.perf_counter() - t
        bulk_drain = drain(db) / 1000
        print(f"\nbulk ({args.ovs} VIFOpenVSwitch, pref_ovs): plug "
              f"{bulk_plug:.3f} s + unplug {bulk_unplug:.3f} s = "
              f"{bulk_plug + bulk_unplug:.3f} s (+ drain {bulk_drain:.3f} s)"
              "   (goal < 2 s)")

        add, delete = floor(server, args.ovs)
        linux_net.flush_deleted()
        print(f"\nfloor: raw ovsdbapp transaction per port: add {_ms(add)}"
              f"   del {_ms(delete)}   (add+del mean "
              f"{statistics.fmean(add) + statistics.fmean(delete):.2f})")
        plug, unplug, drained = results["pref_ovs", "ovs"]
        me = (statistics.fmean(plug) + statistics.fmean(unplug)
              + drained / len(plug))
        fl = statistics.fmean(add) + statistics.fmean(delete)
        print(f"  VIFOpenVSwitch plug+unplug with drain: ours {me:.2f} ms, "
              f"floor {fl:.2f} ms (ours/floor {me / fl:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
