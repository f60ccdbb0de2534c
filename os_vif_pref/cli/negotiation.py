"""``os-vif-pref negotiate | convert | migrate-check``.

What Neutron would choose from an offer and why, what Nova would plug for
a bound port, and whether a binding survives a live migration - the same
functions the services call, run on files.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from cliff import command, show

from os_vif_pref import catalogue, exceptions, neutron, nova, offer
from os_vif_pref.cli import base

#: Refuse input files larger than this before parsing them: an offer is a
#: few KiB and a port a few more; anything near this is a mistake.
MAX_INPUT_BYTES = 16 * 1024 * 1024


def read_json(path: str, what: str, stdin: Any = None) -> Any:
    """JSON from a file or ``-`` (stdin), bounded, with a clear error."""
    try:
        if path == "-":
            stream = stdin if stdin is not None else sys.stdin
            text = stream.read(MAX_INPUT_BYTES + 1)
        else:
            with open(path, encoding="utf-8") as f:
                text = f.read(MAX_INPUT_BYTES + 1)
    except (OSError, UnicodeDecodeError) as exc:
        raise exceptions.InvalidArgument(name=what, value=path,
                                         reason=str(exc)) from None
    if len(text) > MAX_INPUT_BYTES:
        raise exceptions.InvalidArgument(
            name=what, value=path,
            reason=f"larger than {MAX_INPUT_BYTES} bytes")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise exceptions.InvalidArgument(name=what, value=path,
                                         reason=f"not JSON: {exc}") from None


def as_profile(data: Any) -> tuple[Any, str | None]:
    """A ``binding:profile`` from what an offer file may hold.

    Accepted: a whole profile (``{"os_vif_pref": ...}``), just the value
    (``{"version": 1, "offer": [...]}``) or a Neutron port carrying the
    profile (its ``binding:vnic_type`` is returned too).
    """
    if isinstance(data, dict):
        if "binding:profile" in data:
            return data.get("binding:profile"), data.get("binding:vnic_type")
        if offer.KEY not in data and "offer" in data:
            return {offer.KEY: data}, None
    return data, None


def _offer_of(path: str, cmd: command.Command) -> Any:
    return read_json(path, "--offer", cmd.app.stdin)


def _fmt_details(details: Any) -> str:
    return json.dumps(details, sort_keys=True)


class Negotiate(base.Base, show.ShowOne):
    """What Neutron would bind for an offer, and why."""

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
        return parser

    def take_action(self, parsed_args: argparse.Namespace
                    ) -> tuple[tuple[str, ...], tuple[Any, ...]]:
        profile, port_vnic = as_profile(_offer_of(parsed_args.offer, self))
        served = neutron.parse_served(parsed_args.serve)
        default = (neutron.parse_served(parsed_args.default)[0]
                   if parsed_args.default else (served[0] if served
                                                else None))
        vnic = parsed_args.vnic_type or port_vnic or "normal"
        the_offer, problem = neutron.read_offer(profile)
        choice = neutron.choose(profile, served, default, vnic_type=vnic,
                                port_id=parsed_args.offer)
        offered = ("(none)" if the_offer is None else
                   ", ".join(f"{i.name}={i.vif_type}"
                             for i in the_offer.items[:50]))
        if problem:
            offered = f"(unreadable: {problem})"
        return (("entry", "vif_type", "vif_details", "host_rank",
                 "fallback", "reason", "vnic_type", "offered", "served"),
                (choice.entry, choice.vif_type,
                 _fmt_details(choice.vif_details),
                 None if choice.rank is None else choice.rank + 1,
                 choice.fallback, choice.reason, vnic, offered,
                 ", ".join(map(str, served))))


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


class Convert(base.Base, command.Command):
    """The os-vif object Nova would plug for a bound port, as JSON."""

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
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> int:
        port = read_json(parsed_args.port, "port", self.app.stdin)
        the_offer = None
        if parsed_args.offer:
            profile, _ = as_profile(_offer_of(parsed_args.offer, self))
            the_offer = offer.decode(profile) if isinstance(
                profile, dict) else offer.decode_value(profile)
            if the_offer is None:
                raise exceptions.MalformedOffer(reason="the file holds none")
        if isinstance(port, dict) and the_offer is None and isinstance(
                port.get("binding:profile"), dict):
            # A port carrying the host's offer: honour it as Nova would.
            the_offer = offer.decode(port["binding:profile"])
        obj = nova.to_os_vif(port, offer=the_offer, entry=parsed_args.entry,
                             catalogue=catalogue.get_catalogue(),
                             **_extras(parsed_args, self))
        json.dump(obj.obj_to_primitive(), self.app.stdout, indent=2,
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
                 "port or Nova VIF, JSON; '-' reads stdin).")
        parser.add_argument(
            "--offer", required=True, metavar="FILE|-",
            help="The destination host's offer.")
        parser.add_argument(
            "--serve", metavar="TYPES",
            help="What Neutron's driver serves (as for negotiate); without "
                 "it the same vif_type is preferred.")
        return parser

    def take_action(self, parsed_args: argparse.Namespace
                    ) -> tuple[tuple[str, ...], tuple[Any, ...]]:
        if parsed_args.port == "-" and parsed_args.offer == "-":
            raise exceptions.InvalidArgument(
                name="input", value="-",
                reason="only one of PORT and --offer can be stdin")
        port = read_json(parsed_args.port, "port", self.app.stdin)
        profile, _ = as_profile(_offer_of(parsed_args.offer, self))
        served = (neutron.parse_served(parsed_args.serve)
                  if parsed_args.serve else None)
        verdict = nova.migrate_check(port, profile, served)
        item = verdict.bind_instead
        return (("status", "entry", "bind_instead", "vif_type",
                 "vif_details", "reason"),
                (verdict.status, verdict.entry,
                 None if item is None else item.name,
                 None if item is None else item.vif_type,
                 None if item is None else _fmt_details(
                     dict(item.vif_details)),
                 verdict.reason))
