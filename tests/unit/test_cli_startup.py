"""The CLI imports what the command run needs, not every command's needs.

How long start-up takes is measured by benchmarks/bench_cli_startup.py,
never asserted here; what is checked is the structure that makes it fast:
which modules a real ``os-vif-pref`` process has imported when it is done.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from os_vif_pref import catalogue

SCRIPT = """
import json, sys
from os_vif_pref.cli import main
rc = main.main(sys.argv[1:])
sys.stdout.flush()
sys.stderr.write("\\nMODULES " + json.dumps(sorted(sys.modules)) + "\\n")
sys.exit(rc)
"""

#: Imported by no listing command: the demo's neutron-lib, Nova, the
#: testing helpers, and jsonschema (only for a catalogue file with errors).
NEVER = ("neutron_lib", "neutron", "nova", "os_vif_pref.testing",
         "os_vif_pref.cli.demo", "jsonschema")


def modules_of(*argv: str, cache: str) -> set[str]:
    env = dict(os.environ, XDG_CACHE_HOME=cache, COLUMNS="100")
    proc = subprocess.run([sys.executable, "-c", SCRIPT, *argv], env=env,
                          capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = proc.stderr.rsplit("MODULES ", 1)[1]
    return set(json.loads(line))


def imported(mods: set[str], name: str) -> bool:
    return name in mods or any(m.startswith(name + ".") for m in mods)


@pytest.mark.parametrize("argv", [("catalogue", "list"), ("preferences",)])
def test_only_the_command_run_is_imported(tmp_path, argv):
    mods = modules_of(*argv, cache=str(tmp_path))
    for name in NEVER:
        assert not imported(mods, name), name
    other = {"catalogue": "os_vif_pref.cli.preferences",
             "preferences": "os_vif_pref.cli.negotiation"}[argv[0]]
    assert other not in mods


def test_catalogue_list_with_a_warm_model_cache_skips_os_vif(tmp_path):
    first = modules_of("catalogue", "list", cache=str(tmp_path))
    assert imported(first, "oslo_versionedobjects")  # filled the cache
    assert list((tmp_path / "os-vif-pref").glob("os-vif-objects-*.json"))
    again = modules_of("catalogue", "list", cache=str(tmp_path))
    assert not imported(again, "oslo_versionedobjects")
    assert not imported(again, "oslo_messaging")


def test_plugins_import_netlink_and_ovsdb_only_to_plug():
    code = ("import sys; from os_vif_pref.plugins import ovs, linux_bridge;"
            "ovs.OvsPlugin.load('pref_ovs').describe();"
            "print(sorted(m for m in sys.modules if m.startswith("
            "('pyroute2', 'ovsdbapp', 'os_vif_pref.linux.net'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, timeout=120, check=True).stdout
    assert out.strip() == "[]", out


def test_model_cache_matches_os_vif(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(catalogue.objects, "_model", None)
    computed = catalogue.os_vif_model()
    monkeypatch.setattr(catalogue.objects, "_model", None)
    cached = catalogue.os_vif_model()  # read back from the file
    assert cached == computed
    assert cached["VIFOpenVSwitch"].kind == "vif"
    assert cached["VIFPortProfileOpenVSwitch"].kind == "port_profile"
    assert "bridge_name" in cached["VIFOpenVSwitch"].fields
    classes = catalogue.os_vif_classes()
    assert cached["VIFVHostUser"].version == classes["VIFVHostUser"].VERSION


def test_broken_cache_file_is_recomputed(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(catalogue.objects, "_model", None)
    catalogue.os_vif_model()
    (path,) = (tmp_path / "os-vif-pref").glob("*.json")
    path.write_text("[{\"name\": 1")
    monkeypatch.setattr(catalogue.objects, "_model", None)
    assert catalogue.os_vif_model()["VIFBridge"].kind == "vif"
