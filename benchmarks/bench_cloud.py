"""Ours vs stock in the same one-machine cloud, alternating rounds.

What a user of the cloud pays for the negotiation, measured on real
services: from ``POST /servers`` to ACTIVE, and to the guest's first
successful ping of a peer (read on its serial console), with the CPU
seconds nova-compute and the Neutron processes (API, RPC server, OVS
agent) spent meanwhile.  Both modes boot the same hugepages server, which
both bind ``vhostuser`` on the DPDK host: the data path is the same, so the
difference is what the offer, the driver's ordering and Nova's check cost.
Modes alternate ABBA (ours, stock, stock, ours, ...), so drift in the
machine's load falls on both; switching restarts neutron-server and
nova-compute, outside the timed part.  Also printed: the cloud's own
start-up time and memory (RSS and PSS of every process it started).

    python benchmarks/bench_cloud.py [--dir DIR] [--rounds N] [--backend ovn]

``--backend ovn`` runs the same on ML2/OVN (``pref_ovn`` against ``ovn``;
Neutron's CPU is then its API and RPC server, and OVN's daemons' CPU and
memory are printed on their own).

Without ``--dir`` a cloud is started in a temporary directory and stopped
at the end.  Nothing here is asserted: speed is reported, never tested.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from pathlib import Path
import statistics
import sys
import tempfile
import time

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from os_vif_pref.testing.cloud import guests, launcher  # noqa: E402
from os_vif_pref.testing.cloud.layout import Settings  # noqa: E402

MODES = {
    "ours": {"neutron_driver": "pref_openvswitch", "nova_integration": True},
    "stock": {"neutron_driver": "openvswitch", "nova_integration": False},
}
OVN_MODES = {
    "ours": {"neutron_driver": "pref_ovn", "nova_integration": True},
    "stock": {"neutron_driver": "ovn", "nova_integration": False},
}
PEER_IP = "203.0.113.5"
GUEST_IP = "203.0.113.31"
CLK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw.rsplit(")", 1)[1].split()


def group_pids(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            # fields[0] is the state; fields[2] the process group.
            if fields and int(fields[2]) == pgid:
                pids.append(int(entry.name))
    return pids


def cpu_seconds(cloud: launcher.Cloud, services: tuple[str, ...]) -> float:
    """utime + stime of every process of these services' process groups."""
    total = 0
    for name in services:
        pgid = cloud.procs.pid(name)
        if pgid is None:
            continue
        for pid in group_pids(pgid):
            fields = _stat(pid)
            if fields:
                total += int(fields[11]) + int(fields[12])
    return total / CLK


def memory(cloud: launcher.Cloud, services: tuple[str, ...] | None = None
           ) -> tuple[float, float, int]:
    """(RSS MiB, PSS MiB, processes) of everything the cloud started
    (or of ``services`` only)."""
    pids = []
    for name in services if services is not None else cloud.procs.names():
        pgid = cloud.procs.pid(name)
        if pgid is not None:
            pids += group_pids(pgid)
    rss = pss = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text(
                    ).splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
    return rss / 1024, pss / 1024, len(pids)


NOVA = ("nova_compute",)
NEUTRON = ("neutron_api", "neutron_rpc", "ovs_agent")
#: The OVN back end's daemons (ovn.SERVICES).
OVN = ("ovn_nb", "ovn_sb", "ovn_northd", "ovn_controller")


def one_boot(cloud: launcher.Cloud, mode: str, n: int) -> dict[str, float]:
    cpu0 = (cpu_seconds(cloud, NOVA), cpu_seconds(cloud, NEUTRON))
    t0 = time.monotonic()
    guest = guests.boot(cloud, f"bench-{mode}-{n}", GUEST_IP,
                        peers=[PEER_IP], hugepages=True, wait=False)
    try:
        guests.wait_status(cloud, guest, "ACTIVE", timeout=300)
        active = time.monotonic() - t0
        guests.peer_ok(cloud, guest, PEER_IP, timeout=300)
        ping = time.monotonic() - t0
        cpu1 = (cpu_seconds(cloud, NOVA), cpu_seconds(cloud, NEUTRON))
        vif_type = guests.binding(cloud, guest.ports[0].id)[0]
    finally:
        guests.delete(cloud, guest)
    return {"active": active, "ping": ping, "nova_cpu": cpu1[0] - cpu0[0],
            "neutron_cpu": cpu1[1] - cpu0[1], "vif_type": vif_type}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", type=Path, help="a running cloud")
    parser.add_argument("--rounds", type=int, default=3,
                        help="ABBA rounds: each boots 2 servers per mode")
    parser.add_argument("--backend", choices=("ovs", "ovn"), default="ovs",
                        help="the network back end of a cloud started here")
    args = parser.parse_args()
    modes = OVN_MODES if args.backend == "ovn" else MODES
    tmp = None
    if args.dir:
        cloud = launcher.Cloud.attach(args.dir)
        modes = OVN_MODES if cloud.lay.settings.backend == "ovn" else MODES
        print("cloud: attached to", args.dir)
    else:
        tmp = Path(tempfile.mkdtemp(prefix="bench-cloud-"))
        t0 = time.monotonic()
        cloud = launcher.up(tmp, settings=Settings(
            backend=args.backend, **modes["ours"]))
        started = time.monotonic() - t0
        rss, pss, count = memory(cloud)
        print(f"cloud start-up: {started:.1f} s from empty directories; "
              f"{count} processes, RSS {rss:.0f} MiB, PSS {pss:.0f} MiB")
        for step, secs in cloud.timings.items():
            print(f"  {step}: {secs:.1f} s")
    if cloud.lay.settings.backend == "ovn":
        rss, pss, count = memory(cloud, OVN)
        print(f"OVN daemons ({', '.join(OVN)}): {count} processes, RSS "
              f"{rss:.0f} MiB, PSS {pss:.0f} MiB, CPU so far "
              f"{cpu_seconds(cloud, OVN):.1f} s")
    try:
        cloud.reconfigure(**modes["ours"])
        peer = guests.boot(cloud, "bench-peer", PEER_IP, peers=[GUEST_IP],
                           hugepages=True)
        results: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
        order = []
        for r in range(args.rounds):
            pair = ["ours", "stock"] if r % 2 == 0 else ["stock", "ours"]
            order += [pair[0], pair[1], pair[1], pair[0]]
        # Collapse consecutive equal modes into one switch.
        n = 0
        for mode in order:
            cloud.reconfigure(**modes[mode])
            res = one_boot(cloud, mode, n)
            n += 1
            results[mode].append(res)
            print(f"{mode:5} boot {n:2}: ACTIVE {res['active']:5.1f} s, "
                  f"first ping {res['ping']:5.1f} s, nova-compute CPU "
                  f"{res['nova_cpu']:.2f} s, Neutron CPU "
                  f"{res['neutron_cpu']:.2f} s ({res['vif_type']})",
                  flush=True)
        guests.delete(cloud, peer)
        print()
        print(f"{'metric':28} {'ours':>8} {'stock':>8} {'ours/stock':>10}")
        for key, label in (("active", "POST to ACTIVE (s)"),
                           ("ping", "POST to first ping (s)"),
                           ("nova_cpu", "nova-compute CPU/boot (s)"),
                           ("neutron_cpu", "Neutron CPU/boot (s)")):
            ours = statistics.median(r[key] for r in results["ours"])
            stock = statistics.median(r[key] for r in results["stock"])
            ratio = ours / stock if stock else float("nan")
            print(f"{label:28} {ours:8.2f} {stock:8.2f} {ratio:10.2f}")
        print(f"(medians of {len(results['ours'])} boots each; load "
              f"{os.getloadavg()[0]:.1f})")
    finally:
        if tmp is not None:
            launcher.down(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
