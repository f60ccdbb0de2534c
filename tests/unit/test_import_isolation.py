"""The Neutron side stands alone: neutron-server loads the wire format and
the drivers, never the host side (catalogue, probes, plugins, privsep,
pyroute2, YAML, jsonschema, os-vif).

Each check runs in a fresh interpreter, because this test process has
long since imported everything.  The child imports the modules under test
with an import hook that records every import of a host-side module, and
every import of a host-side third-party library made *directly by one of
our modules* (Neutron itself loads YAML through oslo.policy; that is not
ours to avoid, and a module already loaded costs nothing).

The same rule is a static contract too (setup.cfg ``[importlinter]``,
tests/unit/test_layering.py); this test stays because it sees what a static
graph cannot: modules imported by name at run time (``os_vif_pref.lazy``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

#: Our modules that only the compute host needs.
HOST_SIDE = ("os_vif_pref.catalogue", "os_vif_pref.probes",
             "os_vif_pref.plugins", "os_vif_pref.privsep",
             "os_vif_pref.preference", "os_vif_pref.linux",
             "os_vif_pref.ovs", "os_vif_pref.testing", "os_vif_pref.nova",
             "os_vif_pref.cli", "os_vif_pref.sandbox")
#: Third-party libraries only the host side uses.
HOST_LIBS = ("yaml", "yaml_rs", "jsonschema", "fastjsonschema", "pyroute2",
             "oslo_privsep", "os_vif", "ovsdbapp")

CHILD = textwrap.dedent("""
    import importlib, json, pkgutil, sys

    HOST_SIDE, HOST_LIBS, roots, walk = json.loads(sys.argv[1])
    seen = []

    class Guard:
        def find_spec(self, name, path=None, target=None):
            top = name.split(".")[0]
            ours = name.startswith(tuple(HOST_SIDE))
            if ours or top in HOST_LIBS:
                frame = sys._getframe(1)
                while frame is not None and (
                        "importlib" in frame.f_code.co_filename
                        or frame.f_globals.get("__name__") == __name__):
                    frame = frame.f_back
                by = frame.f_globals.get("__name__", "?") if frame else "?"
                if ours or by.startswith("os_vif_pref"):
                    seen.append([name, by])
            return None

    sys.meta_path.insert(0, Guard())
    imported = []
    for root in roots:
        mod = importlib.import_module(root)
        imported.append(root)
        if walk and hasattr(mod, "__path__"):
            for info in pkgutil.walk_packages(mod.__path__, root + "."):
                importlib.import_module(info.name)
                imported.append(info.name)
    loaded = sorted(m for m in sys.modules if m.startswith(tuple(HOST_SIDE)))
    print(json.dumps({"imported": imported, "seen": seen,
                      "loaded": loaded}))
""")


def _child(roots: list[str], walk: bool) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD,
         json.dumps([HOST_SIDE, HOST_LIBS, roots, walk])],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("roots, walk", [
    (["os_vif_pref.offer"], False),
    (["os_vif_pref", "os_vif_pref.exceptions", "os_vif_pref.versions"],
     False),
    # Every module of the Neutron package, found by walking it, so a new
    # driver module (ml2/...) is covered without editing this test.
    (["os_vif_pref.neutron"], True),
])
def test_neutron_side_loads_no_host_side_module(roots, walk):
    got = _child(roots, walk)
    assert set(roots) <= set(got["imported"])
    assert got["seen"] == [], (
        "imported on the Neutron side (module, imported by): "
        f"{got['seen']}")
    assert got["loaded"] == []


def test_the_guard_sees_a_host_side_import():
    """The check can fail: the catalogue does import a YAML parser."""
    got = _child(["os_vif_pref.catalogue"], False)
    found = {name.split(".")[0] for name, _ in got["seen"]}
    assert found & {"yaml", "yaml_rs"}, got["seen"]
    assert ["os_vif_pref.catalogue", "?"] in got["seen"]   # the root
    assert "os_vif_pref.catalogue" in got["loaded"]
