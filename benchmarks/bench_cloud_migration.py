"""Cold migration between the cloud's two hosts, ours vs stock, ABBA rounds.

A hugepages server bound ``vhostuser`` on compute1 (OVS-DPDK) is
cold-migrated to compute2 (plain OVS: bound ``ovs`` there, re-negotiated
by ours, chosen by the agent's report in stock) and confirmed; then back.
Timed: ``POST .../action migrate`` to ``VERIFY_RESIZE``, and to the
guest's first ping of a peer after the move (on its serial console; the
peer runs on compute2).  What differs between the modes is the
destination's offer and Nova's check: the data path is the same.  Modes
alternate ABBA (ours, stock, stock, ours, ...); switching restarts
neutron-server and both nova-computes, outside the timed part.

    python benchmarks/bench_cloud_migration.py [--dir DIR] [--rounds N]

``--dir`` is a cloud started with ``up --hosts 2``; without it one is
started in a temporary directory and stopped at the end.  Live migration
is not measured: libvirt refuses it without shared storage it recognises
(see doc/source/reference/cloud.rst).  Nothing here is asserted.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
import statistics
import sys
import tempfile
import time

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from os_vif_pref.testing.cloud import guests, hosts, launcher  # noqa: E402
from os_vif_pref.testing.cloud.layout import Settings  # noqa: E402
from tests.cloud.test_two_hosts import boot_on  # noqa: E402

MODES = {
    "ours": {"neutron_driver": "pref_openvswitch", "nova_integration": True},
    "stock": {"neutron_driver": "openvswitch", "nova_integration": False},
}
PEER_IP = "203.0.113.41"
GUEST_IP = "203.0.113.42"


def one_migration(cloud: launcher.Cloud, guest: guests.Guest,
                  dest: str) -> dict[str, float | str]:
    admin = cloud.admin()
    before = guests.console(cloud, guest)
    t0 = time.monotonic()
    admin.compute.migrate_server(guest.id, host=dest)
    guests.wait_status(cloud, guest, "VERIFY_RESIZE", timeout=600)
    verify = time.monotonic() - t0
    admin.compute.confirm_server_resize(guest.id)
    guests.peer_ok(cloud, guest, PEER_IP, before=before, timeout=600)
    ping = time.monotonic() - t0
    guests.wait_status(cloud, guest, "ACTIVE", timeout=120)
    return {"verify": verify, "ping": ping,
            "vif_type": guests.binding(cloud, guest.ports[0].id)[0]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", type=Path, help="a running 2-host cloud")
    parser.add_argument("--rounds", type=int, default=1,
                        help="ABBA rounds: each migrates 2 servers per "
                             "mode there and back")
    args = parser.parse_args()
    tmp = None
    if args.dir:
        cloud = launcher.Cloud.attach(args.dir)
    else:
        tmp = Path(tempfile.mkdtemp(prefix="bench-migration-"))
        cloud = launcher.up(tmp, settings=Settings(**MODES["ours"]),
                            hosts=2)
    hosts.set_enabled(cloud.lay, True)
    results: dict[str, list[dict[str, float | str]]] = {m: [] for m in MODES}
    try:
        order = []
        for r in range(args.rounds):
            pair = ["ours", "stock"] if r % 2 == 0 else ["stock", "ours"]
            order += [pair[0], pair[1], pair[1], pair[0]]
        for n, mode in enumerate(order):
            cloud.reconfigure(**MODES[mode])
            peer = boot_on(cloud, hosts.HOST2, f"bench-mpeer-{n}", PEER_IP,
                           [GUEST_IP])
            guest = boot_on(cloud, "compute1", f"bench-mig-{mode}-{n}",
                            GUEST_IP, [PEER_IP], hugepages=True)
            try:
                for g in (peer, guest):
                    guests.wait_status(cloud, g, "ACTIVE", timeout=600)
                guests.peer_ok(cloud, guest, PEER_IP, timeout=600)
                for dest in (hosts.HOST2, "compute1"):
                    res = one_migration(cloud, guest, dest)
                    results[mode].append(res)
                    print(f"{mode:5} -> {dest}: VERIFY_RESIZE "
                          f"{res['verify']:5.1f} s, first ping "
                          f"{res['ping']:5.1f} s ({res['vif_type']})",
                          flush=True)
            finally:
                guests.delete(cloud, guest)
                guests.delete(cloud, peer)
        print()
        print(f"{'metric':30} {'ours':>8} {'stock':>8} {'ours/stock':>10}")
        for key, label in (("verify", "migrate to VERIFY_RESIZE (s)"),
                           ("ping", "migrate to first ping (s)")):
            ours = statistics.median(float(r[key]) for r in results["ours"])
            stock = statistics.median(float(r[key])
                                      for r in results["stock"])
            print(f"{label:30} {ours:8.2f} {stock:8.2f} "
                  f"{ours / stock:10.2f}")
        print(f"(medians of {len(results['ours'])} migrations each; load "
              f"{os.getloadavg()[0]:.1f})")
    finally:
        hosts.set_enabled(cloud.lay, False)
        if tmp is not None:
            launcher.down(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
