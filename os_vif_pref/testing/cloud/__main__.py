"""``python -m os_vif_pref.testing.cloud up|down|status --dir DIR``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import sys

from os_vif_pref.testing.cloud import launcher
from os_vif_pref.testing.cloud.layout import Settings
from os_vif_pref.testing.cloud.procs import CloudError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m os_vif_pref.testing.cloud",
        description="A real OpenStack cloud on this machine: every service "
                    "a process with its own configuration under DIR.")
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="start a cloud and leave it running")
    p_up.add_argument("--dir", required=True, type=Path)
    p_up.add_argument("--stock", action="store_true",
                      help="Neutron's stock openvswitch driver and the "
                           "Nova integration off (os-vif-pref not in use)")
    p_up.add_argument("--backend", choices=("ovs", "ovn"), default="ovs",
                      help="the network back end: the Open vSwitch agent "
                           "(default) or ML2/OVN (ovn-northd, its databases "
                           "and ovn-controller on the DPDK host)")
    p_up.add_argument(
        "--compute-option", action="append", default=[],
        metavar="SECTION.KEY=VALUE",
        help="an extra nova.conf option of the compute host (repeatable), "
             "e.g. os_vif_pref.catalogue_dirs=/srv/vendor/catalogue.d")
    p_up.add_argument(
        "--hosts", type=int, choices=(1, 2), default=1,
        help="compute hosts: 1 (compute1, OVS-DPDK) or 2 (and compute2: "
             "plain OVS in a network namespace of its own)")
    p_down = sub.add_parser("down", help="stop everything of the cloud")
    p_down.add_argument("--dir", required=True, type=Path)
    p_status = sub.add_parser("status", help="which services run")
    p_status.add_argument("--dir", required=True, type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            ovn = args.backend == "ovn"
            settings = Settings(
                neutron_driver="pref_ovn" if ovn else "pref_openvswitch",
                backend=args.backend)
            if args.stock:
                settings.neutron_driver = "ovn" if ovn else "openvswitch"
                settings.nova_integration = False
            for item in args.compute_option:
                name, sep, value = item.partition("=")
                section, dot, key = name.rpartition(".")
                if not (sep and dot and section and key):
                    parser.error(f"--compute-option {item!r}: want "
                                 "SECTION.KEY=VALUE")
                settings.compute_options.setdefault(section, {})[key] = value
            cloud = launcher.up(args.dir, settings=settings,
                                hosts=args.hosts)
            print(f"source {cloud.root / 'openrc'}   # admin")
            print(f"source {cloud.root / 'openrc.member'}   # member of demo")
            print(json.dumps(cloud.info, indent=2))
            names = ["compute1"] + (["compute2 (disabled: enable it with "
                                    "'openstack compute service set "
                                    "--enable compute2 nova-compute')"]
                                   if args.hosts == 2 else [])
            print("compute hosts: " + ", ".join(names))
        elif args.command == "down":
            launcher.down(args.dir)
        else:
            cloud = launcher.Cloud.attach(args.dir)
            for name in cloud.procs.names():
                state = "running" if cloud.procs.running(name) else "DEAD"
                print(f"{name:16} {cloud.procs.pid(name) or '-':>8} {state}")
    except (CloudError, FileExistsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
