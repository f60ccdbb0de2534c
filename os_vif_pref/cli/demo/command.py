"""The ``os-vif-pref demo`` cliff command: options, output, exit status.

Apart from the steps so that the steps can be driven (by tests, by the
end-to-end suite) without cliff.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
import logging

from cliff import command

from os_vif_pref import exceptions
from os_vif_pref.cli.demo.cases import CASES
from os_vif_pref.cli.demo.steps import run


class Demo(command.Command):
    """Run the whole negotiated path for real in a sandbox (root)."""

    def get_parser(self, prog_name: str) -> argparse.ArgumentParser:
        parser = super().get_parser(prog_name)
        parser.add_argument(
            "--case", action="append", choices=[c.name for c in CASES],
            help="Run only this case (repeatable); default: all.")
        parser.add_argument(
            "--ml2-context", action="store_true",
            help="Bind on an ML2-shaped port context even when Neutron is "
                 "installed (the path taken without it).")
        return parser

    def take_action(self, parsed_args: argparse.Namespace) -> int:
        from os_vif_pref.sandbox import ovs as private_ovs

        cases = [c for c in CASES
                 if not parsed_args.case or c.name in parsed_args.case]
        reason = private_ovs.available()
        if reason:
            self.app.stderr.write(f"error: cannot run the demo: {reason}\n")
            return 2

        if self.app.options.verbose_level <= 1:
            # Per-VIF INFO lines from os-vif and privsep drown the steps.
            for name in ("os_vif", "oslo.privsep", "oslo_privsep",
                         "os_vif_pref"):
                logging.getLogger(name).setLevel(logging.WARNING)

        def out(line: str) -> None:
            self.app.stdout.write(line + "\n")
            self.app.stdout.flush()

        try:
            report = run(cases, out,
                         real_neutron=not parsed_args.ml2_context)
        except (exceptions.OsVifPrefException, OSError,
                private_ovs.PrivateOVSError) as exc:
            self.app.stderr.write(f"error: {exc}\n")
            return 2
        return 1 if report.failures else 0


def iter_case_names() -> Iterator[str]:
    return (c.name for c in CASES)
