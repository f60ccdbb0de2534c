"""``os-vif-pref preferences`` and ``os-vif-pref probe``.

``preferences`` is the question an operator asks first: on this host, which
bindings will Nova offer Neutron, in which order, and why is each of the
others not offered.  ``--profile`` prints the exact ``binding:profile``
payload; ``--instance FILE`` answers for one instance.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from cliff import lister
import yaml

from os_vif_pref import catalogue, exceptions, preference, probes
from os_vif_pref.cli import base, inputs


def _read_instance(path: str) -> dict[str, Any]:
    """An instance description from a JSON or YAML file (``-``: stdin).

    Read within the same bounds as a catalogue file (size, no YAML
    aliases, depth, nodes, scalar length): a few lines of YAML must not
    expand to gigabytes here either.
    """
    text = inputs.read_text(path, "--instance", sys.stdin)
    over = catalogue.yaml_over_bounds(path, text)
    if over:
        raise exceptions.InvalidArgument(
            name="--instance", value=path, reason=str(over[0]))
    try:
        data = yaml.safe_load(text)  # JSON is YAML
    except yaml.YAMLError as exc:
        raise exceptions.InvalidArgument(
            name="--instance", value=path,
            reason=f"neither JSON nor YAML: {exc}") from None
    if not isinstance(data, dict):
        raise exceptions.InvalidArgument(
            name="--instance", value=path,
            reason="expected an object (see 'preferences --help')")
    return data


class Preferences(base.Base, lister.Lister):
    """This host's bindings in preference order, usable or not, and why.

    The usable ones, in this order, are what Nova offers Neutron.  With
    --instance FILE (JSON/YAML: {"mem_page_size": "large", "vif_model":
    "virtio", "vnic_type": "normal"}, or Nova's flavor.extra_specs /
    image.properties / port shape) the list is the offer for that instance.
    """

    fit_optional = ("Versions", "os-vif object", "VNIC types", "Plugin",
                    "VIF type")
    fit_wide = ("Why",)

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument(
            "--profile", action="store_true",
            help="Print the binding:profile payload Nova sends to Neutron "
                 "(JSON, within [os_vif_pref] offer_budget_bytes) instead "
                 "of the list.")
        parser.add_argument(
            "--host", metavar="NAME",
            help="With --profile: the host the offer names (default: "
                 "[DEFAULT] host, else this machine's name).")
        parser.add_argument(
            "--instance", metavar="FILE",
            help="Compute the offer for one instance (JSON or YAML file, "
                 "'-' for stdin).")
        parser.add_argument(
            "--usable", action="store_true",
            help="List only the entries that are offered.")
        parser.add_argument(
            "--host-info", action="store_true",
            help="Print the os-vif HostInfo (preference-ordered) as JSON "
                 "instead of the list.")
        return parser

    def _plist(self, parsed_args: argparse.Namespace,
               ) -> preference.PreferenceList:
        cat = catalogue.get_catalogue()
        for err in cat.errors:
            self.app.stderr.write(f"error: {err}\n")
        # A one-shot process: plugins' descriptions may come from the
        # cache (see probes.description_cache), sparing os-vif's objects.
        with probes.description_cache():
            plist = preference.compute(cat)
        if parsed_args.instance:
            plist = plist.for_instance(_read_instance(parsed_args.instance))
        for r in plist:
            for warning in r.warnings:
                self.app.stderr.write(f"warning: {r.name}: {warning}\n")
        return plist

    def run(self, parsed_args: argparse.Namespace) -> int:
        if parsed_args.profile or parsed_args.host_info:
            plist = self._plist(parsed_args)
            if parsed_args.profile:
                # What Nova sends: this host's name, within the budget.
                text = json.dumps(plist.profile(parsed_args.host),
                                  indent=2)
            else:
                text = json.dumps(plist.host_info().obj_to_primitive(),
                                  indent=2)
            self.app.stdout.write(text + "\n")
            return 0
        return super().run(parsed_args)

    def take_action(self, parsed_args: argparse.Namespace
                    ) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
        plist = self._plist(parsed_args)
        columns = ("Position", "Name", "Usable", "VIF type", "VNIC types",
                   "os-vif object", "Versions", "Plugin", "Why")
        rows = []
        for r in plist:
            if parsed_args.usable and not r.usable:
                continue
            e = r.entry
            versions = f"{e.vif_versions.min}..{e.vif_versions.max}"
            if e.port_profile is not None:
                versions += (f" +{e.port_profile.object} "
                             f"{e.port_profile.versions.min}.."
                             f"{e.port_profile.versions.max}")
            rows.append((r.position, r.name, r.usable, e.vif_type,
                         ",".join(e.vnic_types), e.vif_object, versions,
                         e.plugin, "; ".join(r.reasons + r.warnings)))
        return columns, rows


class Probe(base.Base, lister.Lister):
    """Each host capability the catalogue can require: value, time taken."""

    fit_optional = ("Time (ms)",)
    fit_wide = ("Value", "Reason")

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument(
            "capability", nargs="*",
            help="Capabilities to probe (default: every one the catalogue "
                 "requires, plus the ones this module knows).")
        return parser

    def take_action(self, parsed_args: argparse.Namespace
                    ) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
        prober = probes.default_prober()
        if parsed_args.capability:
            results = prober.probe(parsed_args.capability)
        else:
            cat = catalogue.get_catalogue()
            extra: dict[str, None] = {}
            for e in cat.entries:
                extra.update(dict.fromkeys(e.requires))
                extra["plugin:" + e.plugin] = None
            results = prober.probe_all(extra)
        columns = ("Capability", "OK", "Value", "Reason", "Time (ms)")
        rows = []
        for cap, res in results.items():
            value = res.value
            if cap.startswith("plugin:") and res.ok:
                try:
                    value = ", ".join(
                        f"{v.vif_object_name} {v.min_version}.."
                        f"{v.max_version}" for v in value.vif_info)
                except (AttributeError, TypeError, ValueError):
                    value = str(value)
            rows.append((cap, res.ok, value if value is not None else "",
                         res.reason, round(res.duration * 1000, 3)))
        return columns, rows
