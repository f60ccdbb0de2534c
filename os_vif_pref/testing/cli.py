"""Run ``os-vif-pref`` in-process, with captured streams (for tests)."""

from __future__ import annotations

import io

from os_vif_pref.cli import main as cli_main


def run(*argv: str, stdin: str = "") -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``os-vif-pref ARGV...``.

    The real cliff application, so parsing, formatters and error handling
    are what a user gets; only the streams are swapped for strings.
    """
    out, err = io.StringIO(), io.StringIO()
    app = cli_main.OsVifPrefApp()
    app.stdout, app.stderr, app.stdin = out, err, io.StringIO(stdin)
    rc = app.run(list(argv))
    return rc, out.getvalue(), err.getvalue()
