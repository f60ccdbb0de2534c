"""contrib/nova: the Nova integration as a patch against Nova 34.0.0.

The patch must apply cleanly to the installed Nova (pinned to 34.0.0 in
test-requirements.txt) and, applied to a copy of it, must give the same
behaviour as the runtime hooks:

* the Nova functional cases of ``tests/nova/nova_cases.py`` (Nova's own
  functional harness: API, conductor, scheduler, compute on fake libvirt)
  run through the peer-suite runner with that copy first on the child's
  PYTHONPATH and the runtime hooks off (``OS_VIF_PREF_NOVA_HOOKS=contrib``);
* Nova's own unit tests of the patched modules pass on the patched copy
  with the integration on (as an upstream review would run them): libvirt
  ``test_vif.py`` whole, and of ``test_neutron.py`` every class but the
  big ``TestAPI``, plus those ``TestAPI`` tests whose code reaches a
  patched function (allocate/deallocate, unbind, port updates, migration
  finish), to keep CI within budget.

The setup hooks check the copy is the Nova imported, count the calls the
patched code makes into ``os_vif_pref.nova.integration`` and that the
runtime hooks were never installed.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import os
from pathlib import Path
import re
import shutil
import subprocess
import sys

from tests import peer_suite

PATCH = (Path(__file__).resolve().parents[2] / "contrib" / "nova"
         / "nova-34.0.0.patch")
HOOK = "tests.nova_unit.hooks:patched_nova"
UNIT_HOOK = "tests.nova_unit.hooks:patched_nova_integration_on"
NEUTRON_TESTS = "nova.tests.unit.network.test_neutron"
#: TestAPI tests whose code reaches a function the patch changes.
REACHES_PATCH = re.compile(
    r"allocate_for_instance|unbind_ports|_update_port\b|_update_ports_for|"
    r"_update_port_binding_for_instance|migrate_instance_finish|"
    r"setup_instance_network_on_host|deallocate")


def _patched_files() -> list[str]:
    return [line[len("+++ b/"):].strip()
            for line in PATCH.read_text().splitlines()
            if line.startswith("+++ b/")]


def _installed_nova() -> Path:
    """The installed nova package's directory (without importing it)."""
    spec = importlib.util.find_spec("nova")
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations)))


def patched_copy(dest: Path) -> Path:
    """``dest/nova``: the installed Nova with the patch applied.

    Directories on the way to a patched file and the patched files are
    real copies; everything else is a symbolic link into the installed
    package (a full copy of its 67 MB takes longer than the tests).
    """
    site = _installed_nova().parent
    copied = set()
    for rel in _patched_files():
        parts = Path(rel).parts
        for depth in range(1, len(parts)):
            copied.add(Path(*parts[:depth]))
        copied.add(Path(rel))

    def build(rel: Path) -> None:
        src, dst = site / rel, dest / rel
        if rel not in copied:
            dst.symlink_to(src, target_is_directory=src.is_dir())
        elif src.is_dir():
            dst.mkdir()
            for child in sorted(src.iterdir()):
                if child.name != "__pycache__":
                    build(rel / child.name)
        elif src.exists():
            shutil.copy2(src, dst)
        # else: a file the patch creates

    dest.mkdir(parents=True, exist_ok=True)
    build(Path("nova"))
    # Nova's test config reads <dir of nova>/etc/nova/api-paste.ini
    # (tools/nova_test_config.py puts it next to the installed Nova).
    if (site / "etc").exists():
        (dest / "etc").symlink_to(site / "etc", target_is_directory=True)
    subprocess.run(["git", "apply", "--check", str(PATCH)], cwd=dest,
                   check=True, capture_output=True, text=True)
    subprocess.run(["git", "apply", str(PATCH)], cwd=dest, check=True,
                   capture_output=True, text=True)
    return dest / "nova"


def neutron_unit_targets() -> list[str]:
    """test_neutron's classes but TestAPI, and the TestAPI tests reaching
    the patch (found in the module's source: Nova is not imported here)."""
    # Not find_spec(NEUTRON_TESTS): that imports nova.tests.unit, whose
    # eventlet monkey patching must never reach the pytest process.
    src = (_installed_nova() / "tests" / "unit" / "network"
           / "test_neutron.py").read_text()
    targets = []
    for node in ast.parse(src).body:
        if not isinstance(node, ast.ClassDef):
            continue
        tests = [n for n in node.body if isinstance(n, ast.FunctionDef)
                 and n.name.startswith("test_")]
        if node.name != "TestAPI":
            if tests:
                targets.append(f"{NEUTRON_TESTS}.{node.name}")
            continue
        targets += [f"{NEUTRON_TESTS}.TestAPI.{n.name}" for n in tests
                    if REACHES_PATCH.search(ast.get_source_segment(src, n))]
    return targets


def patched_totals(outcomes: peer_suite.Outcomes, hook: str, site: Path,
                   keys: tuple[str, ...]) -> dict[str, int]:
    """Check every shard ran the patched copy at ``site`` without runtime
    hooks; the hook's counts of ``keys`` summed over the shards."""
    reports = outcomes.report_values(hook)
    assert len(reports) == len(outcomes.logs), outcomes.reports
    for report in reports:
        # The patched copy, not the installed Nova, ran the tests.
        assert Path(report["nova"]).is_relative_to(site), report
        assert report.get("runtime_hooks_install", 0) == 0, report
    return {key: sum(r.get(key, 0) for r in reports) for key in keys}


def test_patch_is_against_the_installed_nova() -> None:
    assert importlib.metadata.version("nova") == "34.0.0"
    assert _patched_files() == [
        "nova/compute/manager.py", "nova/network/binding_preference.py",
        "nova/network/neutron.py", "nova/virt/libvirt/vif.py"]


def test_patch_applies_and_only_adds_calls(tmp_path: Path) -> None:
    nova = patched_copy(tmp_path)
    vif = (nova / "virt" / "libvirt" / "vif.py").read_text()
    assert vif.count("binding_preference.") == 3  # get_config, plug, unplug
    neutron = (nova / "network" / "neutron.py").read_text()
    assert neutron.count("binding_preference.") == 4
    # Untouched modules are the installed ones.
    assert (nova / "objects").is_symlink()


def test_patched_nova_is_detected(tmp_path: Path) -> None:
    # nova-compute on a patched Nova switches on without the runtime hooks.
    from os_vif_pref.nova import hooks

    assert not hooks.nova_carries_hooks()  # the installed, stock Nova
    patched_copy(tmp_path)
    code = ("from os_vif_pref.nova import hooks; "
            "print(hooks.nova_carries_hooks())")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                         capture_output=True, text=True).stdout
    assert out.strip() == "True"


def test_nova_functional_cases_on_patched_nova(tmp_path: Path) -> None:
    patched_copy(tmp_path / "site")
    outcomes = peer_suite.run(
        "nova_contrib_patch", ["tests.nova.nova_cases"], setup=HOOK,
        preimport=["nova.tests.functional"], shards=2, timeout=400,
        pythonpath=[tmp_path / "site"],
        env={"OS_VIF_PREF_NOVA_HOOKS": "contrib"}, workdir=tmp_path / "run")
    peer_suite.check(outcomes, min_ran=10)
    total = patched_totals(outcomes, HOOK, tmp_path / "site",
                           ("add_offer:offered", "checked_vif:converted",
                            "remove_offer"))
    # The patched Nova sent offers and converted bindings inside them
    # through the integration, and unbound ports without the offer.
    assert all(total.values()), (total, outcomes.reports)
    assert os.environ.get("OS_VIF_PREF_NOVA_HOOKS") is None


def test_nova_unit_tests_on_patched_nova(tmp_path: Path) -> None:
    patched_copy(tmp_path / "site")
    targets = neutron_unit_targets()
    assert len(targets) > 80, targets  # 78 TestAPI tests + the classes
    outcomes = peer_suite.run(
        "nova_unit_contrib",
        [*targets, "nova.tests.unit.virt.libvirt.test_vif"],
        setup=UNIT_HOOK, shards=2, timeout=480,
        pythonpath=[tmp_path / "site"], workdir=tmp_path / "run")
    peer_suite.check(outcomes, min_ran=270)
    total = patched_totals(outcomes, UNIT_HOOK, tmp_path / "site",
                           ("add_offer", "remove_offer", "checked_vif",
                            "check_bound_port"))
    # Nova's tests went through every patched call site.
    assert all(total.values()), (total, outcomes.reports)
