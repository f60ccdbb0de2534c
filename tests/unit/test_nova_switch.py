"""Loading our plugins does not import the Nova integration outside
nova-compute (issue 19: it cost ~47 ms and closed an import cycle
plugins -> nova.integration -> preference -> probes -> plugins); inside
nova-compute with the option set it still switches on
(tests/nova/test_switch_on.py runs the real thing)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from unittest import mock

import pytest

from os_vif_pref import nova_switch

_CHILD = textwrap.dedent("""
    import json, sys
    from oslo_config import cfg
    from os_vif_pref.plugins import linux_bridge, noop, ovs, tap
    cfg.CONF([], project="os-vif-pref", default_config_files=[],
             default_config_dirs=[])
    cfg.CONF.set_override("nova_integration", True, "os_vif_pref")
    for cls, name in [(tap.TapPlugin, "pref_tap"),
                      (noop.NoopPlugin, "pref_noop"),
                      (ovs.OvsPlugin, "pref_ovs"),
                      (linux_bridge.LinuxBridgePlugin, "pref_linux_bridge")]:
        cls.load(name)
    print(json.dumps(sorted(m for m in sys.modules
                            if m.startswith(("os_vif_pref.nova",
                                             "os_vif_pref.preference",
                                             "os_vif_pref.probes")))))
""")


def test_plugin_load_outside_nova_compute_imports_no_integration() -> None:
    proc = subprocess.run([sys.executable, "-c", _CHILD],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert loaded == ["os_vif_pref.nova_switch"]


@pytest.fixture
def fresh() -> object:
    with mock.patch.object(nova_switch, "_tried", False):
        yield


@pytest.mark.parametrize("option, argv0, on", [
    (True, "/usr/bin/nova-compute", True),
    (False, "/usr/bin/nova-compute", False),
    (True, "/usr/bin/neutron-openvswitch-agent", False),
])
def test_forwards_to_the_integration_only_when_wanted(
        fresh: object, option: bool, argv0: str, on: bool) -> None:
    from oslo_config import cfg

    from os_vif_pref.nova import integration

    cfg.CONF.set_override("nova_integration", option, "os_vif_pref")
    try:
        with mock.patch.object(integration, "on_plugins_loaded") as called, \
                mock.patch("sys.argv", [argv0]):
            nova_switch.on_plugins_loaded()
            nova_switch.on_plugins_loaded()  # once per process
        assert called.call_count == (1 if on else 0)
    finally:
        cfg.CONF.clear_override("nova_integration", "os_vif_pref")


def test_unreadable_configuration_is_no(fresh: object) -> None:
    with mock.patch.object(nova_switch, "CONF") as conf, \
            mock.patch.object(nova_switch.LOG, "error") as error:
        type(conf).os_vif_pref = mock.PropertyMock(
            side_effect=RuntimeError("bad nova.conf"))
        assert nova_switch.wanted() is False
    assert "bad nova.conf" in str(error.call_args)
