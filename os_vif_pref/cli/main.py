"""The ``os-vif-pref`` command: a cliff application.

Commands are loaded from the entry-point group ``os_vif_pref.cli`` (the
OpenStack convention, as in python-openstackclient), so every command gets
cliff's table/json/yaml/value formatters and ``-f json`` for machines.

Start-up costs what the command run needs and no more: cliff's own command
manager imports every command module up front (``demo`` alone pulls in
neutron-lib), so :class:`CommandManager` keeps the entry points unloaded
and cliff imports only the one found; the command modules import their
heavy dependencies themselves.  ``benchmarks/bench_cli_startup.py`` measures
it.
"""

from __future__ import annotations

import contextlib
from importlib import metadata
import logging
import os
import sys
from typing import Any
import warnings

from cliff import app, commandmanager
from oslo_config import cfg

from os_vif_pref import version


class CommandManager(commandmanager.CommandManager):
    """cliff's command manager without importing every command.

    cliff loads the group with stevedore, which imports each entry point's
    module.  Here the entry points stay unloaded (cliff calls ``.load()`` on
    the one it runs).  Our own distribution's entry points are read first,
    a few files; the whole group, which means reading every installed
    distribution's metadata (~25 ms in a Nova venv), only when a command is
    not among them or the full list is wanted (help, completion).
    """

    def load_commands(self, namespace: str) -> None:
        self.group_list.append(namespace)
        try:
            eps = metadata.distribution("os-vif-pref").entry_points.select(
                group=namespace)
        except metadata.PackageNotFoundError:  # running from a source tree
            eps = metadata.entry_points(group=namespace)
        self._add(eps)
        self._complete = False

    def _add(self, eps: Any) -> None:
        for ep in eps:
            name = (ep.name.replace("_", " ") if self.convert_underscores
                    else ep.name)
            self.commands.setdefault(name, ep)

    def _load_all(self) -> None:
        if not self._complete:
            self._complete = True
            for group in self.group_list:
                self._add(metadata.entry_points(group=group))

    def __iter__(self) -> Any:
        self._load_all()
        return super().__iter__()

    def find_command(self, argv: list[str]) -> Any:
        try:
            return super().find_command(argv)
        except ValueError:
            if self._complete:
                raise
            self._load_all()
            return super().find_command(argv)


class OsVifPrefApp(app.App):
    def __init__(self) -> None:
        super().__init__(
            description=(
                "Negotiated VIF binding: inspect the binding catalogue, the "
                "host's preference list and offer, and what Neutron and "
                "Nova would do with them."),
            version=version.version_string(),
            command_manager=CommandManager("os_vif_pref.cli"),
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
            help="oslo.config directory (its .conf files are read). "
                 "Repeatable.")
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
    # oslo.versionedobjects (os-vif's objects) imports oslo.messaging, which
    # imports eventlet, whose green DNS resolver (dnspython, ~0.15 s) only
    # serves a monkey-patched process; this command never patches.
    os.environ.setdefault("EVENTLET_NO_GREENDNS", "yes")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", module="oslo_service")
    # eventlet's EventletDeprecationWarning is a plain Warning, raised when
    # os-vif/oslo import it; it says nothing to an os-vif-pref user.
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
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
