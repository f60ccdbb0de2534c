"""The one oslo.privsep context of os-vif-pref.

Every privileged operation of the package (Linux devices through netlink)
runs in this daemon.  It keeps only CAP_NET_ADMIN: creating, configuring and
deleting links, TUNSETIFF/TUNSETOWNER/TUNSETPERSIST on ``/dev/net/tun`` (mode
0666, so no CAP_DAC_OVERRIDE) and bridge/VLAN/macvtap membership all need
nothing more.  OVSDB is reached through its unix socket without privilege.

Like every Nova-hosted privsep context it starts, by default, as
``sudo privsep-helper --config-file ... --privsep_context
os_vif_pref.privsep.vif_plug --privsep_sock_path ...``.  Deployments using
rootwrap set ``[os_vif_pref_privileged] helper_command`` (for instance
``sudo nova-rootwrap /etc/nova/rootwrap.conf privsep-helper``); in a
virtualenv, point it at the venv's ``privsep-helper`` because sudo's
``secure_path`` does not include it.
"""

from __future__ import annotations

import copy

from oslo_config import cfg
from oslo_privsep import capabilities as caps
from oslo_privsep import priv_context

CFG_SECTION = "os_vif_pref_privileged"

vif_plug = priv_context.PrivContext(
    "os_vif_pref",
    cfg_section=CFG_SECTION,
    pypath=__name__ + ".vif_plug",
    capabilities=[caps.CAP_NET_ADMIN],
)


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    """oslo.privsep's own options, as registered for our section."""
    return [(CFG_SECTION, copy.deepcopy(priv_context.OPTS))]
