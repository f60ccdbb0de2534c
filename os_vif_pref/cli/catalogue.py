"""``os-vif-pref catalogue list | show | validate | schema``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from cliff import command, lister, show

from os_vif_pref import catalogue
from os_vif_pref.cli import base


def report_errors(cmd: command.Command, cat: catalogue.Catalogue) -> None:
    """Errors go to stderr on every command: a broken file is never silent."""
    for err in cat.errors:
        cmd.app.stderr.write(f"error: {err}\n")


class CatalogueList(base.Base, lister.Lister):
    """List the binding catalogue's entries in preference order."""

    fit_optional = ("os-vif object", "Preference", "VIF type")
    fit_wide = ("VNIC types", "Requires", "Origin")

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("--all", action="store_true",
                            help="Include entries disabled by a later layer.")
        parser.add_argument("--long", action="store_true",
                            help="Add requirements and the defining file.")
        return parser

    def take_action(self, parsed_args: argparse.Namespace
                    ) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
        cat = catalogue.get_catalogue()
        report_errors(self, cat)
        entries = list(cat.entries)
        if parsed_args.all:
            entries += list(cat.disabled)
        columns: tuple[str, ...] = ("Name", "Preference", "VIF type",
                                    "VNIC types", "os-vif object", "Plugin",
                                    "Enabled")
        if parsed_args.long:
            columns += ("Requires", "Origin")
        rows = []
        for e in entries:
            row: tuple[Any, ...] = (
                e.name, e.preference, e.vif_type, ",".join(e.vnic_types),
                e.vif_object, e.plugin, e.enabled)
            if parsed_args.long:
                row += (",".join(e.requires), e.origin)
            rows.append(row)
        return columns, rows


class CatalogueShow(base.Base, show.ShowOne):
    """Show one catalogue entry."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("name", help="Entry name.")
        return parser

    def take_action(self, parsed_args: argparse.Namespace
                    ) -> tuple[tuple[str, ...], tuple[Any, ...]]:
        cat = catalogue.get_catalogue()
        report_errors(self, cat)
        entry = cat.get(parsed_args.name)
        data = entry.to_dict()
        flat = {
            "name": data["name"],
            "description": data["description"],
            "preference": data["preference"],
            "enabled": data["enabled"],
            "vif_type": data["neutron"]["vif_type"],
            "vnic_types": ",".join(data["neutron"]["vnic_types"]),
            "vif_details": data["neutron"]["vif_details"],
            "os_vif": data["os_vif"],
            "plugin": data["plugin"],
            "alt_plugins": ",".join(data["alt_plugins"]),
            "requires": ",".join(data["requires"]),
            "instance": data["instance"],
            "deprecated": data.get("deprecated", False),
            "origin": data["origin"],
        }
        return tuple(flat), tuple(flat.values())


class CatalogueValidate(base.Base, command.Command):
    """Validate catalogue files; exit 1 with file:line:column messages.

    Without FILE the whole layered catalogue of this host is checked. With
    FILEs they are checked as the last layer on top of the host's others, so
    a collision with a bundled entry shows before the file is deployed.
    """

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument("files", nargs="*", metavar="FILE")
        parser.add_argument(
            "--alone", action="store_true",
            help="Check the FILEs by themselves, not on top of the host's "
                 "catalogue.")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> int:
        if parsed_args.files:
            errors = catalogue.validate_files(
                parsed_args.files, with_defaults=not parsed_args.alone)
            what = f"{len(parsed_args.files)} file(s)"
        else:
            cat = catalogue.load()
            errors = list(cat.errors)
            what = (f"{len(cat.files)} file(s), {len(cat.entries)} enabled "
                    "entries")
        for err in errors:
            self.app.stdout.write(f"{err}\n")
        if errors:
            self.app.stdout.write(f"{len(errors)} error(s) in {what}\n")
            return 1
        self.app.stdout.write(f"OK: {what}\n")
        return 0


class CatalogueSchema(base.Base, command.Command):
    """Print the JSON Schema of catalogue files (for editors)."""

    def take_action(self, parsed_args: argparse.Namespace) -> int:
        self.app.stdout.write(json.dumps(catalogue.schema(), indent=2) + "\n")
        return 0
