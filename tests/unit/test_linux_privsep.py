"""os_vif_pref.testing.privsep: helper_command for both contexts."""

from __future__ import annotations

import os
import sys

from oslo_config import cfg
import pytest

from os_vif_pref import privsep
from os_vif_pref.testing import privsep as privsep_testing


def test_configure_points_both_contexts_at_this_prefix():
    conf = cfg.ConfigOpts()
    from oslo_privsep import priv_context
    for section in privsep_testing.CONTEXTS:
        conf.register_opts(priv_context.OPTS, group=section)
    command = privsep_testing.configure(conf)
    assert command == "sudo " + os.path.join(sys.prefix, "bin",
                                             "privsep-helper")
    for section in privsep_testing.CONTEXTS:
        assert conf[section].helper_command == command


def test_missing_sudo_is_an_error_not_a_skip():
    with pytest.raises(privsep_testing.SudoMissing, match="apt-get"):
        privsep_testing.configure(cfg.ConfigOpts(),
                                  sudo="no-such-sudo-binary")


def test_helper_command_for_our_context():
    cmd = privsep.vif_plug.helper_command("privsep.sock")
    assert cmd[-4:] == ["--privsep_context", "os_vif_pref.privsep.vif_plug",
                        "--privsep_sock_path", "privsep.sock"]


def test_list_opts_names_the_section():
    (group, opts), = privsep.list_opts()
    assert group == "os_vif_pref_privileged"
    assert "helper_command" in {o.name for o in opts}
