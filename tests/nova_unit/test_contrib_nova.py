"""contrib/nova: the Nova integration as a patch against Nova 34.0.0.

The patch must apply cleanly to the installed Nova (pinned to 34.0.0 in
test-requirements.txt) and, applied to a copy of it, must give the same
behaviour as the runtime hooks:

* the Nova functional cases of ``tests/nova/nova_cases.py`` (Nova's own
  functional harness: API, conductor, scheduler, compute on fake libvirt)
  run through the peer-suite runner with that copy first on the child's
  PYTHONPATH and the runtime hooks off (``OS_VIF_PREF_NOVA_HOOKS=contrib``);
* Nova's own unit tests of the patched modules pass on the patched copy
  with the integration on (as an upstream review would run them):
  ``network/test_neutron.py`` and ``virt/libvirt/test_vif.py`` whole, and
  of ``compute/test_compute_mgr.py`` the tests of
  ``check_can_live_migrate_destination`` (the one manager method the patch
  changes; a pattern in ``tests/peer_lists/nova_unit_contrib.txt`` leaves
  the rest of that module out, and says why). Every loaded test that is
  not excluded there must run; the tests that differ are listed there with
  the reason.

The setup hooks check the copy is the Nova imported, count the calls the
patched code makes into ``os_vif_pref.nova.integration`` per test module
(``test_neutron``'s tests build Nova instances and bind ports: offers must
have been made there, not only nothing broken) and that the runtime hooks
were never installed.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import os
from pathlib import Path
import shutil
import subprocess
import sys

from tests import peer_suite
from tests.nova_unit import hooks
from tests.nova_unit.test_nova_unit_modules import (
    COMPUTE_MGR,
    MIN_RAN,
    MODULES,
    NEUTRON,
    VIF,
)

PATCH = (Path(__file__).resolve().parents[2] / "contrib" / "nova"
         / "nova-34.0.0.patch")
HOOK = "tests.nova_unit.hooks:patched_nova"
UNIT_HOOK = "tests.nova_unit.hooks:patched_nova_integration_on"
#: Every case of tests/nova/nova_cases.py.
FUNCTIONAL_CASES = 13
PROFILE = "binding:profile"
OFFER_KEY = "os_vif_pref"
#: The listed tests asserting that no profile is sent at all (list file).
PROFILE_SENT = {f"{NEUTRON}.TestAPI.test_update_port_bindings_for_instance_"
                f"{name}" for name in ("with_live_migration",
                                       "with_resource_req_live_mig")}


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


def _calls(lines: list[str]) -> list[tuple] | None:
    """``update_port(a, b)`` or ``[call(a, b), ...]`` (a repr that may go
    on over the next lines) as argument tuples; None if it is not one."""
    for end in range(1, len(lines) + 1):
        text = " ".join(line.strip() for line in lines[:end])
        try:
            if text.startswith("update_port("):
                return [ast.literal_eval("(" + text[len("update_port("):])]
            if text.startswith("[call("):
                return list(ast.literal_eval(text.replace("call(", "(")))
            return None
        except (SyntaxError, ValueError):
            continue
    return None


def _without_offer(call: tuple, expected_port: dict) -> tuple:
    port_id, body = call
    port = dict(body["port"])
    profile = dict(port.get(PROFILE) or {})
    if profile.pop(OFFER_KEY, None) is not None and not profile \
            and PROFILE not in expected_port:
        port.pop(PROFILE)
    elif PROFILE in port:
        port[PROFILE] = profile
    return (port_id, {"port": port})


def offer_is_the_difference(detail: str) -> bool:
    """Whether a failing Nova test's ``update_port`` assertion (the
    ``Expected:`` / ``Actual:`` lines of its traceback, one call or a list)
    fails only because the calls carried our offer: with the offer taken
    out of ``binding:profile`` (and a profile it leaves empty dropped where
    none was expected), the expected calls are among those made."""
    found = {}
    lines = detail.splitlines()
    for number, line in enumerate(lines):
        label, _, text = line.strip().partition(": ")
        if label in ("Expected", "Actual"):
            found[label] = _calls([text, *lines[number + 1:]])
    expected, actual = found.get("Expected"), found.get("Actual")
    if not expected or not actual or not any(
            OFFER_KEY in (c[1]["port"].get(PROFILE) or {}) for c in actual):
        return False
    port = expected[0][1]["port"]
    stripped = [_without_offer(c, port) for c in actual]
    return any(stripped[i:i + len(expected)] == expected
               for i in range(len(stripped) - len(expected) + 1))


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
    peer_suite.check(outcomes, min_ran=FUNCTIONAL_CASES)
    total = patched_totals(outcomes, HOOK, tmp_path / "site",
                           ("add_offer:offered", "checked_vif:converted",
                            "remove_offer"))
    # The patched Nova sent offers and converted bindings inside them
    # through the integration, and unbound ports without the offer.
    assert all(total.values()), (total, outcomes.reports)
    assert os.environ.get("OS_VIF_PREF_NOVA_HOOKS") is None


def test_nova_unit_tests_on_patched_nova(tmp_path: Path) -> None:
    patched_copy(tmp_path / "site")
    # The same modules and selection as the runtime hooks' run
    # (test_nova_unit_modules.py), in two children (~3 min wall here).
    outcomes = peer_suite.run(
        "nova_unit_contrib", MODULES, setup=UNIT_HOOK, shards=2, timeout=900,
        pythonpath=[tmp_path / "site"], workdir=tmp_path / "run")
    peer_suite.check(outcomes, min_ran=MIN_RAN)
    total = patched_totals(outcomes, UNIT_HOOK, tmp_path / "site",
                           ("add_offer", "remove_offer", "checked_vif",
                            "check_bound_port", "destination_profiles"))
    # Nova's tests went through every patched call site.
    assert all(total.values()), (total, outcomes.reports)
    per_module = hooks.module_totals(outcomes.report_values(UNIT_HOOK))
    # test_neutron's tests build Nova instances and bind ports: the patched
    # Nova made offers there; test_vif's went through the check before
    # plugging; the destination check's, through its patched call.
    assert per_module[NEUTRON]["add_offer:offered"] > 0, per_module
    assert per_module[VIF]["checked_vif"] >= 80, per_module
    assert per_module[COMPUTE_MGR]["destination_profiles"] > 0, per_module
    # The listed failures fail because the request carried the offer, and
    # for no other reason.
    failed = {i: r for i, r in outcomes.results.items()
              if r.outcome == "fail"}
    assert PROFILE_SENT <= set(failed) and len(failed) > 20, sorted(failed)
    for test_id in PROFILE_SENT:
        assert f"'{OFFER_KEY}': {{'v': " in failed.pop(test_id).detail
    others = [i for i, r in failed.items()
              if not offer_is_the_difference(r.detail)]
    assert not others, others
