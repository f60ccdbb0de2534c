"""The ``os-vif-pref`` command: a cliff application.

Commands are loaded from the entry-point group ``os_vif_pref.cli`` (the
OpenStack convention, as in python-openstackclient), so every command gets
cliff's table/json/yaml/value formatters and ``-f json`` for machines.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import Any
import warnings

from cliff import app, commandmanager
from oslo_config import cfg

from os_vif_pref import version


class OsVifPrefApp(app.App):
    def __init__(self) -> None:
        super().__init__(
            description=(
                "Negotiated VIF binding: inspect the binding catalogue, the "
                "host's preference list and offer, and what Neutron and "
                "Nova would do with them."),
            version=version.version_string(),
            command_manager=commandmanager.CommandManager("os_vif_pref.cli"),
            deferred_help=True,
        )

    def build_option_parser(self, description: str | None,
                            version: str | None,
                            argparse_kwargs: dict[str, Any] | None = None,
                            ) -> Any:
        parser = super().build_option_parser(description, version,
                                             argparse_kwargs)
        parser.add_argument(
            "--config-file", action="append", default=[], metavar="PATH",
            help="oslo.config file(s) with [os_vif_pref] and plugin options "
                 "(as in nova.conf). Repeatable.")
        parser.add_argument(
            "--config-dir", action="append", default=[], metavar="DIR",
            help="oslo.config directory of *.conf files. Repeatable.")
        return parser

    def initialize_app(self, argv: list[str]) -> None:
        args: list[str] = []
        for path in self.options.config_file:
            args += ["--config-file", path]
        for path in self.options.config_dir:
            args += ["--config-dir", path]
        cfg.CONF(args, project="os-vif-pref", default_config_files=[],
                 default_config_dirs=[])

    def configure_logging(self) -> None:
        super().configure_logging()
        # Library chatter (eventlet deprecation, stevedore) is not for users.
        for name in ("stevedore", "oslo_service", "ovsdbapp"):
            logging.getLogger(name).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", module="oslo_service")
    # eventlet's EventletDeprecationWarning is a plain Warning, raised when
    # os-vif/oslo import it; it says nothing to an os-vif-pref user.
    warnings.filterwarnings("ignore", message=".*Eventlet is deprecated.*")
    if argv is None:
        argv = sys.argv[1:]
    app = OsVifPrefApp()
    rc = app.run(argv)
    # Output still buffered must reach its destination now, while we can
    # say so if it cannot: at interpreter exit a failed flush can pass
    # unnoticed (seen with a C locale: exit 0, output lost).
    try:
        app.stdout.flush()
    except OSError as exc:
        app.stderr.write(f"os-vif-pref: cannot write the output: {exc}\n")
        with contextlib.suppress(OSError):
            # Nothing more can go there; do not fail again at exit.
            os.dup2(os.open(os.devnull, os.O_WRONLY), app.stdout.fileno())
        return 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
