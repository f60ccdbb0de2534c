"""The layering contracts hold: ``lint-imports`` over the package.

The contracts themselves are in ``setup.cfg`` (``[importlinter]``) and are
explained in doc/source/contributor/architecture.rst; ``tox -e pep8`` runs
them too.  They are run here as well so that CI (``tox -e all``) keeps them:
a layer importing a higher one, the Neutron side or the wire format reaching
for the host side, product code importing ``os_vif_pref.testing`` or a new
import cycle fails the suite, naming the import chain.

What a static graph cannot see (a module named in a string and imported at
run time, as :mod:`os_vif_pref.lazy` does) is checked by running code:
tests/unit/test_import_isolation.py and test_no_testing_imports.py.
"""

from __future__ import annotations

from pathlib import Path
import shutil
import subprocess
import sys

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_are_kept() -> None:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe, "import-linter is a test requirement (test-requirements.txt)"
    proc = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout, proc.stdout[-3000:]
