"""How the integration switches on: os_vif.initialize() inside nova-compute.

Each case is a fresh Python process (os-vif initialises once per process,
and the hooks patch Nova for good), started the way nova-compute starts:
Nova's configuration parsed, then ``os_vif.initialize()``, which loads our
plugins, whose ``load()`` switches the integration on.  The probes run for
real (not in Nova's test harness: nothing is poisoned here).  The option
left off is tested in-process (tests/unit/test_nova_integration.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

_CHILD = textwrap.dedent("""
    import json, logging, sys
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s %(message)s")
    sys.argv[0] = {argv0!r}
    from oslo_config import cfg
    import nova.conf  # noqa: F401  Nova's options ([DEFAULT] host, ...)
    from os_vif_pref.nova import hooks, integration
    cfg.CONF([], project="nova", default_config_files=[],
             default_config_dirs=[])
    cfg.CONF.set_override("host", "compute-test")
    cfg.CONF.set_override("nova_integration", {option}, "os_vif_pref")
    cfg.CONF.set_override("nova_offer_refresh_interval", 0, "os_vif_pref")
    {tamper}
    import os_vif
    os_vif.initialize()
    from nova.network import neutron
    print(json.dumps({{
        "enabled": integration.enabled(),
        "installed": hooks.installed(),
        "hosts": sorted(integration.served_hosts()),
        "wrapped": getattr(neutron.API._update_ports_for_instance,
                           "_os_vif_pref_hook", False),
    }}))
""")

CASES = {
    "nova-compute": dict(argv0="/usr/bin/nova-compute", option=True,
                         tamper=""),
    "not-compute": dict(argv0="/usr/bin/neutron-openvswitch-agent",
                        option=True, tamper=""),
    "other-release": dict(argv0="/usr/bin/nova-compute", option=True,
                          tamper="hooks.VERIFIED_NOVA = ('33.0.0',)"),
    "other-shape": dict(
        argv0="/usr/bin/nova-compute", option=True,
        tamper="from nova.virt.libvirt import vif; "
               "vif.LibvirtGenericVIFDriver.plug = "
               "lambda self, instance, vif, extra: None"),
}


@pytest.fixture(scope="module")
def runs() -> dict[str, tuple[dict, str]]:
    """Every case, started together (each spends seconds importing Nova)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.getcwd(), os.environ.get("PYTHONPATH", "")]))
    procs = {name: subprocess.Popen(
        [sys.executable, "-c", _CHILD.format(**case)], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name, case in CASES.items()}
    out = {}
    for name, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, f"{name}: {stderr[-3000:]}"
        out[name] = (json.loads(stdout.strip().splitlines()[-1]), stderr)
    return out


def _ours(stderr: str, level: str) -> list[str]:
    return [line for line in stderr.splitlines()
            if line.startswith(f"{level} os_vif_pref.nova")]


def test_switches_on_inside_nova_compute(runs) -> None:
    state, stderr = runs["nova-compute"]
    assert state == {"enabled": True, "installed": True,
                     "hosts": ["compute-test"], "wrapped": True}
    assert _ours(stderr, "ERROR") == []


def test_stays_off_outside_nova_compute(runs) -> None:
    state, stderr = runs["not-compute"]
    assert state == {"enabled": False, "installed": False, "hosts": [],
                     "wrapped": False}
    assert _ours(stderr, "ERROR") == []


@pytest.mark.parametrize("case, reason", [
    ("other-release", "nova 34.0.0 is not a release this integration was "
                      "verified against (33.0.0)"),
    ("other-shape", "nova.virt.libvirt.vif.LibvirtGenericVIFDriver.plug"
                    "(self, instance, vif, extra) is not the verified "
                    "(self, instance, vif)"),
])
def test_refuses_unverified_nova_with_one_line(runs, case: str,
                                               reason: str) -> None:
    state, stderr = runs[case]
    assert state == {"enabled": False, "installed": False, "hosts": [],
                     "wrapped": False}
    errors = _ours(stderr, "ERROR")
    assert len(errors) == 1, stderr
    assert "Nova integration NOT switched on (Nova behaves as stock)" in (
        errors[0])
    assert reason in errors[0]
