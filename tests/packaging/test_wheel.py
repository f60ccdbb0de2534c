"""The wheel carries the catalogue: build it, install it in a fresh venv.

This proves the bundled catalogue is read with importlib.resources from the
installed package, not from the checkout: the CLI runs from a directory
outside the tree, in a virtualenv that never saw the source.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import shutil
import subprocess
import sys
import zipfile

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: What would let the fresh venv see something other than its own
#: site-packages, or let pip install somewhere else.  With the checkout on
#: PYTHONPATH (or '' and the checkout as cwd), pip finds the
#: os_vif_pref.egg-info the wheel build leaves in the tree, takes the
#: wheel's version as installed already, installs nothing (no console
#: script) and exits 0; and the CLI would read the tree.
_LEAKS = ("PYTHONPATH", "PYTHONHOME", "PYTHONUSERBASE", "PIP_TARGET",
          "PIP_PREFIX", "PIP_ROOT", "PIP_USER")


def _fresh_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _LEAKS}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # setuptools builds in-tree; a stale build/ would smuggle deleted files
    # into the wheel and hide a packaging bug.
    shutil.rmtree(ROOT / "build", ignore_errors=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps",
         "--no-build-isolation", "-q", "-w", str(out), str(ROOT)],
        check=True, cwd=ROOT)
    (whl,) = out.glob("os_vif_pref-*.whl")
    return whl


def test_wheel_contains_catalogue_schema_and_entry_points(wheel: Path):
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        bundled = sorted(p.name for p in (ROOT / "catalogue").glob("*.yaml"))
        assert bundled
        for name in bundled:
            assert f"os_vif_pref/catalogue_data/{name}" in names
        assert "os_vif_pref/schema/catalogue-v1.json" in names
        eps = next(n for n in names if n.endswith("entry_points.txt"))
        text = zf.read(eps).decode()
    assert "[os_vif]" in text and "pref_ovs" in text
    assert "[console_scripts]" in text and "os-vif-pref" in text
    assert "[oslo.config.opts]" in text


def test_installed_wheel_lists_the_catalogue(wheel: Path, tmp_path: Path,
                                            home_netns: None):
    venv = tmp_path / "venv"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = _fresh_env()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True,
                   cwd=elsewhere, env=env)
    pip = venv / "bin" / "pip"
    proc = subprocess.run([str(pip), "install", str(wheel)], cwd=elsewhere,
                          env=env, capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    script = venv / "bin" / "os-vif-pref"
    assert script.is_file(), proc.stdout
    proc = subprocess.run(
        [str(script), "catalogue", "list", "--long", "-f", "json"],
        cwd=elsewhere, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    rows = {r["Name"]: r for r in json.loads(proc.stdout)}
    assert {"ovs", "linux-bridge", "tap", "macvtap"} <= set(rows)
    # Read from the installed package, not from this checkout.
    assert str(venv) in rows["ovs"]["Origin"]
    assert str(ROOT) not in rows["ovs"]["Origin"]
    proc = subprocess.run(
        [str(script), "catalogue", "validate"],
        cwd=elsewhere, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and proc.stdout.startswith("OK: "), (
        proc.stdout + proc.stderr)
