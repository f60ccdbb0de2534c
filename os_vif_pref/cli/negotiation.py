"""``os-vif-pref negotiate | convert | migrate-check``.

What Neutron would choose from an offer and why, what Nova would plug for
a bound port, and whether a binding survives a live migration - the same
functions the services call, run on files.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from cliff import command, show

from os_vif_pref import catalogue, exceptions, neutron, nova, offer
from os_vif_pref.cli import base, inputs

#: Kept for callers of the old names; the readers live in cli/inputs.py.
MAX_INPUT_BYTES = inputs.MAX_INPUT_BYTES
read_json = inputs.read_json


def as_profile(data: Any) -> tuple[Any, str | None]:
    """The first ``(binding:profile, vnic_type)`` an offer file holds."""
    profile, vnic, _ = inputs.profiles(data, offer.KEY)[0][0]
    return profile, vnic


def _offers_of(path: str, cmd: command.Command,
               wanted: str | None = None) -> tuple[inputs.Offers, bool]:
    data = inputs.read_json(path, "--offer", cmd.app.stdin)
    found, many = inputs.profiles(data, offer.KEY, "--offer", path)
    if wanted is not None:
        found = [f for f in found if f[2] == wanted]
        if not found:
            raise exceptions.InvalidArgument(
                name="--port", value=wanted,
                reason=f"no such port in {path}")
    return found, many


def _fmt_details(details: Any) -> str:
    return json.dumps(details, sort_keys=True)


def _port_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port", metavar="ID|NAME", dest="port_id",
        help="Of several ports in the input ({\"ports\": [...]}, a network "
             "info cache), only this one.")


class Negotiate(base.Base, show.ShowOne):
    """What Neutron would bind for an offer, and why.

    The offer file may be a binding:profile, the os_vif_pref value in it,
    or a port carrying it in any shape 'convert' reads (several ports: one
    answer each).
    """

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument(
            "--offer", required=True, metavar="FILE|-",
            help="The offer: a binding:profile, the os_vif_pref value, or a "
                 "port carrying it ('-' reads stdin).")
        parser.add_argument(
            "--serve", required=True, metavar="TYPES",
            help="What the mechanism driver serves, in its order: "
                 "VIF_TYPE or VIF_TYPE:KEY=VALUE[:KEY=VALUE] (exact "
                 "vif_details), comma separated. E.g. "
                 "'ovs:ovs_hybrid_plug=false:port_filter=true,vhostuser'.")
        parser.add_argument(
            "--default", metavar="VIF_TYPE[:KEY=VALUE...]",
            help="The driver's configured binding, used when the offer is "
                 "absent or unreadable (default: the first served).")
        parser.add_argument(
            "--vnic-type", default=None,
            help="The port's vnic_type (default: the port's, else normal).")
        _port_arg(parser)
        return parser

    def take_action(self, parsed_args: argparse.Namespace
                    ) -> tuple[tuple[str, ...], Any]:
        found, several = _offers_of(parsed_args.offer, self,
                                    parsed_args.port_id)
        served = neutron.parse_served(parsed_args.serve)
        default = (neutron.parse_served(parsed_args.default)[0]
                   if parsed_args.default else (served[0] if served
                                                else None))
        columns = ("entry", "vif_type", "vif_details", "host_rank",
                   "fallback", "reason", "vnic_type", "offered", "served")
        rows = []
        for profile, port_vnic, port_id in found:
            vnic = parsed_args.vnic_type or port_vnic or "normal"
            the_offer, problem = neutron.read_offer(profile)
            choice = neutron.choose(profile, served, default, vnic_type=vnic,
                                    port_id=port_id or parsed_args.offer)
            offered = ("(none)" if the_offer is None else
                       ", ".join(f"{i.name}={i.vif_type}"
                                 for i in the_offer.items[:50]))
            if problem:
                offered = f"(unreadable: {problem})"
            rows.append((choice.entry, choice.vif_type,
                         _fmt_details(choice.vif_details),
                         None if choice.rank is None else choice.rank + 1,
                         choice.fallback, choice.reason, vnic, offered,
                         ", ".join(map(str, served))))
        if not several or len(found) == 1 and parsed_args.port_id:
            return columns, rows[0]
        return base.many(columns, [f[2] for f in found], rows)


def _extras(parsed_args: argparse.Namespace, cmd: command.Command,
            ) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if parsed_args.network:
        extra["network"] = read_json(parsed_args.network, "--network",
                                     cmd.app.stdin)
    if parsed_args.subnets:
        extra["subnets"] = read_json(parsed_args.subnets, "--subnets",
                                     cmd.app.stdin)
    if parsed_args.preserve_on_delete:
        extra["preserve_on_delete"] = True
    return extra


def _the_offer(parsed_args: argparse.Namespace,
               cmd: command.Command) -> Any:
    if not parsed_args.offer:
        return None
    profile = _offers_of(parsed_args.offer, cmd)[0][0][0]
    the_offer = offer.decode(profile) if isinstance(
        profile, dict) else offer.decode_value(profile)
    if the_offer is None:
        raise exceptions.MalformedOffer(reason="the file holds none")
    return the_offer


class Convert(base.Base, command.Command):
    """The os-vif object Nova would plug for a bound port, as JSON.

    PORT is a Neutron port ({"port": ...}, the port dict, 'openstack port
    show -f json' output), several ({"ports": [...]}: a JSON list of
    objects is printed) or a Nova VIF / network info cache.
    """

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument(
            "port", metavar="PORT.json",
            help="A bound Neutron port or a Nova VIF (network info cache "
                 "entry) as JSON ('-' reads stdin).")
        parser.add_argument(
            "--offer", metavar="FILE",
            help="The host's offer: the binding must be in it and the "
                 "object is built at the versions it accepts.")
        parser.add_argument("--entry", help="Force this catalogue entry.")
        parser.add_argument(
            "--network", metavar="FILE",
            help="The Neutron network of a Neutron port (name, mtu).")
        parser.add_argument(
            "--subnets", metavar="FILE",
            help="The Neutron subnets of a Neutron port (a JSON list).")
        parser.add_argument("--preserve-on-delete", action="store_true",
                            help="The port was created outside Nova.")
        _port_arg(parser)
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> int:
        found, many = inputs.read_ports(parsed_args.port, self.app.stdin,
                                        wanted=parsed_args.port_id)
        many = many and not parsed_args.port_id
        the_offer = _the_offer(parsed_args, self)
        extras = _extras(parsed_args, self)
        cat = catalogue.get_catalogue()
        out = []
        for port in found:
            port_offer = the_offer
            profile = inputs.profile_of(port)
            if port_offer is None and isinstance(profile, dict):
                # A port carrying the host's offer: honour it as Nova would.
                port_offer = offer.decode(profile)
            obj = nova.to_os_vif(port, offer=port_offer,
                                 entry=parsed_args.entry, catalogue=cat,
                                 **extras)
            out.append(obj.obj_to_primitive())
        json.dump(out if many else out[0], self.app.stdout, indent=2,
                  sort_keys=True)
        self.app.stdout.write("\n")
        return 0


class MigrateCheck(base.Base, show.ShowOne):
    """Does the source's binding work on the destination, or what instead?"""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument(
            "port", metavar="PORT.json",
            help="The port with the binding active on the source (Neutron "
                 "port or Nova VIF in any shape 'convert' reads; several: one "
                 "answer each; '-' reads stdin).")
        parser.add_argument(
            "--offer", required=True, metavar="FILE|-",
            help="The destination host's offer.")
        parser.add_argument(
            "--serve", metavar="TYPES",
            help="What Neutron's driver serves (as for negotiate); without "
                 "it the same vif_type is preferred.")
        _port_arg(parser)
        return parser

    def take_action(self, parsed_args: argparse.Namespace
                    ) -> tuple[tuple[str, ...], Any]:
        if parsed_args.port == "-" and parsed_args.offer == "-":
            raise exceptions.InvalidArgument(
                name="input", value="-",
                reason="only one of PORT and --offer can be stdin")
        found, many = inputs.read_ports(parsed_args.port, self.app.stdin,
                                        wanted=parsed_args.port_id)
        many = many and not parsed_args.port_id
        profile = _offers_of(parsed_args.offer, self)[0][0][0]
        served = (neutron.parse_served(parsed_args.serve)
                  if parsed_args.serve else None)
        columns = ("status", "entry", "bind_instead", "vif_type",
                   "vif_details", "reason")
        rows = []
        for port in found:
            verdict = nova.migrate_check(port, profile, served)
            item = verdict.bind_instead
            rows.append((verdict.status, verdict.entry,
                         None if item is None else item.name,
                         None if item is None else item.vif_type,
                         None if item is None else _fmt_details(
                             dict(item.vif_details)),
                         verdict.reason))
        if not many:
            return columns, rows[0]
        return base.many(columns, [p.get("id") for p in found], rows)
