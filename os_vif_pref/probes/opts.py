"""The ``[os_vif_pref]`` options the probes read (timeout, cache TTL, OVSDB
connection and bridge, virt driver).

Registered here, once, for every family and the prober; listed for
oslo-config-generator through :mod:`os_vif_pref.conf`.
"""

from __future__ import annotations

from oslo_config import cfg

probe_opts = [
    cfg.FloatOpt(
        "probe_cache_ttl", default=30.0, min=0.0,
        help="Seconds a host capability probe result is reused before the "
             "preference list probes again (0: probe every time)."),
    cfg.FloatOpt(
        "probe_timeout", default=1.0, min=0.01,
        help="Seconds one probe may take (an OVSDB socket that accepts but "
             "never answers, a hung namespace test); past it the "
             "capability is reported missing with the reason."),
    cfg.StrOpt(
        "probe_ovsdb_connection",
        help="OVSDB connection the probes use. Unset: [os_vif_pref_ovs] "
             "ovsdb_connection (the pref_ovs plugin's option), so the "
             "probes look at the database the plugin will plug into."),
    cfg.StrOpt(
        "probe_ovs_bridge", default="br-int",
        help="OVS bridge the ovs_bridge capability looks for (Nova's "
             "[neutron] ovs_bridge)."),
    cfg.StrOpt(
        "virt_driver",
        help="Virt driver whose guest interface configuration the "
             "virt_vif:CLASS capabilities describe: libvirt (the os-vif "
             "objects Nova's LibvirtGenericVIFDriver configures), fake "
             "(Nova's fake drivers: every object) or any (no limit, for "
             "hosts where something else than Nova consumes the objects). "
             "Unset: the driver of Nova's [DEFAULT] compute_driver when it "
             "is set, else libvirt."),
]

CONF = cfg.CONF
CONF.register_opts(probe_opts, group="os_vif_pref")


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    return [("os_vif_pref", probe_opts)]
