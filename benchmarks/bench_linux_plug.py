"""Plug + unplug of N tap-on-bridge VIFs, three ways, side by side.

* ``os_vif``: ``os_vif.plug``/``os_vif.unplug`` of VIFBridge objects through
  ``pref_linux_bridge`` (``create_tap = True``) with the real
  ``sudo privsep-helper`` daemon - what Nova would do.  The timing includes
  waiting for the batched kernel deletion to finish (``flush_deleted``).
* ``subprocess``: the classic way, ``ip tuntap add`` + ``ip link set ...
  master ... up`` per plug and ``ip link del`` per unplug.
* ``pyroute2 floor``: the same netlink operations our daemon performs, as
  raw pyroute2 calls in this process (no os-vif, no privsep): the floor.
* ``pyroute2 naive``: raw pyroute2 with one ``RTM_DELLINK`` per unplug
  (shows what the batched deletion saves).

Everything runs in a throw-away network namespace.  Needs root and sudo.

    python benchmarks/bench_linux_plug.py [-n 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import uuid

BRIDGE = "bbr0"
MTU = 1500


def _names(n: int, tag: str) -> list[str]:
    return [f"b{tag}{i}" for i in range(n)]


def bench_os_vif(n: int) -> float:
    import os_vif
    from os_vif import objects

    from os_vif_pref.linux import net

    inst = objects.instance_info.InstanceInfo(
        uuid=str(uuid.uuid4()), name="bench", project_id="bench")
    network = objects.network.Network(id=str(uuid.uuid4()), bridge=BRIDGE,
                                      mtu=MTU)
    vifs = [objects.vif.VIFBridge(
        id=str(uuid.uuid4()),
        address=f"fa:16:3e:00:{i >> 8:02x}:{i & 255:02x}",
        plugin="pref_linux_bridge", bridge_name=BRIDGE, vif_name=name,
        network=network) for i, name in enumerate(_names(n, "o"))]
    t0 = time.perf_counter()
    for vif in vifs:
        os_vif.plug(vif, inst)
    for vif in vifs:
        os_vif.unplug(vif, inst)
    net.flush_deleted()
    return time.perf_counter() - t0


def bench_subprocess(n: int) -> float:
    def ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True)

    t0 = time.perf_counter()
    for name in _names(n, "s"):
        ip("tuntap", "add", "dev", name, "mode", "tap", "vnet_hdr")
        ip("link", "set", name, "mtu", str(MTU), "master", BRIDGE, "up")
    for name in _names(n, "s"):
        ip("link", "del", name)
    return time.perf_counter() - t0


def bench_pyroute2_floor(n: int, group: int = 0x7ABCDE) -> float:
    """The daemon's netlink operations, minus os-vif and privsep."""
    import socket

    from pyroute2 import IPRoute

    names = _names(n, "f")
    with IPRoute() as ipr:
        t0 = time.perf_counter()
        for name in names:
            br = socket.if_nametoindex(BRIDGE)
            ipr.link("set", index=br, mtu=MTU, state="up")
            ipr.link("add", ifname=name, kind="tuntap", mode="tap")
            ipr.link("set", index=socket.if_nametoindex(name), mtu=MTU,
                     master=br, state="up")
        for name in names:
            idx = socket.if_nametoindex(name)
            ipr.link("get", index=idx)
            ipr.link("set", index=idx, state="down", master=0)
            ipr.link("set", index=idx, ifname=f"fdel{idx}", group=group)
        ipr.link("del", group=group)
        return time.perf_counter() - t0


def bench_pyroute2_naive(n: int) -> float:
    from pyroute2 import IPRoute

    names = _names(n, "p")
    with IPRoute() as ipr:
        t0 = time.perf_counter()
        br = ipr.link_lookup(ifname=BRIDGE)[0]
        for name in names:
            ipr.link("add", ifname=name, kind="tuntap", mode="tap")
            ipr.link("set", ifname=name, mtu=MTU, master=br, state="up")
        for name in names:
            ipr.link("del", ifname=name)
        return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200, help="VIFs per run")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)

    import os_vif
    from oslo_config import cfg

    from os_vif_pref.linux import net
    from os_vif_pref.plugins import linux_bridge
    from os_vif_pref.testing.netns import TestNetns

    with TestNetns() as ns:
        cfg.CONF.register_opts(linux_bridge.CONFIG_OPTS,
                               group=linux_bridge.CFG_GROUP)
        cfg.CONF.set_override("create_tap", True,
                              group=linux_bridge.CFG_GROUP)
        os_vif.initialize(reset=True)
        net.ensure_bridge(BRIDGE, mtu=MTU)   # also starts the daemon
        print(f"netns {ns.name}: {args.n} tap-on-bridge VIFs, plug+unplug, "
              f"{args.rounds} rounds (median)")
        runs: dict[str, list[float]] = {
            "os_vif + privsep": [], "subprocess (ip)": [],
            "pyroute2 floor": [], "pyroute2 naive": []}
        for _ in range(args.rounds):
            runs["os_vif + privsep"].append(bench_os_vif(args.n))
            runs["subprocess (ip)"].append(bench_subprocess(args.n))
            runs["pyroute2 floor"].append(bench_pyroute2_floor(args.n))
            runs["pyroute2 naive"].append(bench_pyroute2_naive(args.n))
        med = {k: statistics.median(v) for k, v in runs.items()}
        for k, v in med.items():
            print(f"  {k:18s} {v * 1000:9.1f} ms total "
                  f"{v / args.n * 1000:7.2f} ms/VIF")
        ours = med["os_vif + privsep"]
        print(f"os_vif / floor      = {ours / med['pyroute2 floor']:.2f}x "
              "(goal <= 1.5x)")
        print(f"subprocess / os_vif = {med['subprocess (ip)'] / ours:.2f}x "
              "(goal >= 5x)")
        print(f"naive / os_vif      = {med['pyroute2 naive'] / ours:.2f}x")
        net.delete_net_devs([BRIDGE])
        net.flush_deleted()
    return 0


if __name__ == "__main__":
    sys.exit(main())
