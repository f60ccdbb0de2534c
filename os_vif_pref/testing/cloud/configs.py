"""The configuration files of every service, as an operator writes them.

One function per service returns the sections of its ini file; the
launcher writes them under ``DIR/etc/<service>/``.  Nothing here touches
the machine's own ``/etc``: every service is started with these files
(``--config-file``, or the ``OS_*_CONFIG_DIR`` variable a WSGI application
reads).  What os-vif-pref adds is in :data:`GUIDE_NOVA` and
:data:`GUIDE_ML2`, the installation guide's lines, written as the guide
says and nothing more.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from os_vif_pref.testing.cloud import layout as layout_mod
from os_vif_pref.testing.cloud.layout import Layout

Sections = dict[str, dict[str, str]]

#: The compute host's change, as doc/source/install/index.rst gives it
#: (tests/cloud checks the guide still says exactly this).
GUIDE_NOVA = {"os_vif_pref": {"nova_integration": "true"}}
#: The network node's change, as the guide gives it for the OVS agent.
GUIDE_ML2 = {"ml2": {"mechanism_drivers": "pref_openvswitch"}}
#: The network node's change, as the guide gives it for ML2/OVN.
GUIDE_ML2_OVN = {"ml2": {"mechanism_drivers": "pref_ovn"}}

#: The compute host's name in Nova and Neutron.
COMPUTE_HOST = "compute1"


def render(sections: Mapping[str, Mapping[str, str]]) -> str:
    """An ini file's text."""
    out = []
    for name, opts in sections.items():
        out.append(f"[{name}]")
        out.extend(f"{key} = {value}" for key, value in opts.items())
        out.append("")
    return "\n".join(out)


def write(path: Path, sections: Mapping[str, Mapping[str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(sections))
    return path


def _auth(lay: Layout, user: str) -> dict[str, str]:
    """A keystoneauth password section for service user ``user``."""
    return {
        "auth_type": "password",
        "auth_url": lay.auth_url,
        "project_domain_name": "Default",
        "user_domain_name": "Default",
        "project_name": "service",
        "username": user,
        "password": layout_mod.SERVICE_PASSWORD,
        "region_name": "RegionOne",
    }


def _authtoken(lay: Layout, user: str) -> dict[str, str]:
    opts = _auth(lay, user)
    opts["www_authenticate_uri"] = lay.auth_url
    opts["service_token_roles_required"] = "true"
    return opts


def _privsep(lay: Layout, *sections: str) -> Sections:
    """Every privsep context started with the environment's helper.

    The services run from a virtualenv as root: ``sudo`` would reset PATH
    (and lose the venv's ``privsep-helper``), so each context gets the
    helper's full path, as the installation guide says for a venv.
    """
    return {s: {"helper_command": lay.bin("privsep-helper")}
            for s in sections}


def keystone(lay: Layout) -> Sections:
    return {
        "DEFAULT": {"debug": "false"},
        "database": {"connection": lay.db_url("keystone")},
        "token": {"provider": "fernet"},
        "fernet_tokens": {
            "key_repository": str(lay.etc("keystone") / "fernet-keys")},
        "credential": {
            "key_repository": str(lay.etc("keystone") / "credential-keys")},
    }


def placement(lay: Layout) -> Sections:
    return {
        "DEFAULT": {"debug": "false"},
        "api": {"auth_strategy": "keystone"},
        "placement_database": {"connection": lay.db_url("placement")},
        "keystone_authtoken": _authtoken(lay, "placement"),
    }


def glance(lay: Layout) -> Sections:
    store = lay.data("glance")
    return {
        "DEFAULT": {"debug": "false", "enabled_backends": "fs:file",
                    "workers": "1"},
        "database": {"connection": lay.db_url("glance")},
        "glance_store": {"default_backend": "fs"},
        "fs": {"filesystem_store_datadir": str(store / "images")},
        "os_glance_staging_store": {
            "filesystem_store_datadir": str(store / "staging")},
        "os_glance_tasks_store": {
            "filesystem_store_datadir": str(store / "tasks")},
        "keystone_authtoken": _authtoken(lay, "glance"),
        "paste_deploy": {"flavor": "keystone"},
        "oslo_concurrency": {"lock_path": str(store / "locks")},
    }


def _nova_common(lay: Layout) -> Sections:
    state = lay.data("nova")
    return {
        "DEFAULT": {
            "debug": "false",
            "transport_url": lay.transport_url,
            "my_ip": "127.0.0.1",
            "state_path": str(state),
        },
        "api": {"auth_strategy": "keystone"},
        "api_database": {"connection": lay.db_url("nova_api")},
        "database": {"connection": lay.db_url("nova")},
        "keystone_authtoken": _authtoken(lay, "nova"),
        "service_user": {**_auth(lay, "nova"),
                         "send_service_user_token": "true"},
        "placement": _auth(lay, "nova"),
        "neutron": _auth(lay, "nova"),
        "glance": {"region_name": "RegionOne"},
        "oslo_concurrency": {"lock_path": str(state / "locks")},
        "oslo_messaging_notifications": {"driver": "noop"},
        "conductor": {"workers": "1"},
        "scheduler": {"workers": "1", "max_attempts": "3",
                      "discover_hosts_in_cells_interval": "-1"},
        "filter_scheduler": {
            "enabled_filters": "ComputeFilter,ComputeCapabilitiesFilter,"
                               "ImagePropertiesFilter,NUMATopologyFilter"},
        "vnc": {"enabled": "false"},
        "spice": {"enabled": "false"},
        "serial_console": {"enabled": "false"},
        "wsgi": {"api_paste_config": str(lay.etc("nova") / "api-paste.ini")},
    }


def nova_controller(lay: Layout) -> Sections:
    """nova.conf of nova-api, nova-conductor and nova-scheduler."""
    conf = _nova_common(lay)
    if lay.hosts >= 2:
        # compute2 reserves more memory (hosts.py): with the RAM weigher
        # dominating, a server is tried on compute1 first (the reschedule
        # scenario), whatever the CPU and disk weighers make of the guests
        # already running there.
        conf["filter_scheduler"]["ram_weight_multiplier"] = "10.0"
    return conf


def nova_compute(lay: Layout, host: str = COMPUTE_HOST,
                 extra: Mapping[str, Mapping[str, str]] | None = None
                 ) -> Sections:
    """nova.conf of the compute host: libvirt under QEMU, OVS-DPDK."""
    conf = _nova_common(lay)
    instances = lay.data("instances")
    conf["DEFAULT"].update({
        "host": host,
        "compute_driver": "libvirt.LibvirtDriver",
        "instances_path": str(instances),
        "force_config_drive": "true",
        "vif_plugging_timeout": "120",
        "vif_plugging_is_fatal": "true",
        "heal_instance_info_cache_interval": "-1",
        "reserved_host_memory_mb": "512",
        "resume_guests_state_on_host_boot": "false",
    })
    conf["libvirt"] = {
        "virt_type": "qemu",
        "cpu_mode": "custom",
        "cpu_models": "qemu64",
        "connection_uri": lay.libvirt_uri,
        "hw_machine_type": "x86_64=q35",
    }
    conf["os_vif_ovs"] = {"ovsdb_connection": lay.ovsdb_connection,
                          "ovsdb_interface": "native"}
    conf.update(_privsep(lay, "nova_sys_admin", "vif_plug_ovs_privileged",
                         "vif_plug_linux_bridge_privileged",
                         "privsep_osbrick"))
    if lay.hosts >= 2:
        # Each host's own address (the veth pair of hosts.py): Nova's
        # migrations reach the other host's libvirtd and QEMU there.
        addr = lay.host_addr(2 if host == "compute2" else 1)
        conf["DEFAULT"]["my_ip"] = addr
        conf["libvirt"].update({"live_migration_scheme": "tcp",
                                "live_migration_inbound_addr": addr})
        # A netdev-datapath ``ovs`` port gets its tap from QEMU, which on
        # the destination starts only with the migration: no plug-time
        # event would ever come (Nova's option for such back ends).
        conf["compute"] = {"live_migration_wait_for_vif_plug": "false"}
    if lay.settings.nova_integration:
        conf.update(os_vif_pref_compute(lay))
    for more in (lay.settings.compute_options,
                 lay.settings.host_options.get(host, {}), extra or {}):
        for section, opts in more.items():
            conf.setdefault(section, {}).update(opts)
    return conf


def os_vif_pref_compute(lay: Layout) -> Sections:
    """What the installation guide has a compute host add, and only that.

    The one line (:data:`GUIDE_NOVA`), and what the guide says a host
    needs where its Open vSwitch is not at os-vif's defaults (the OVSDB
    connection, the vhost-user socket directory: the same values as
    ``[os_vif_ovs]`` and the agent's) and in a virtualenv (the privsep
    helper).  tests/cloud checks each of these sections is in the guide.
    """
    s = lay.settings
    conf: Sections = {section: dict(opts)
                      for section, opts in GUIDE_NOVA.items()}
    if s.preference_order:
        conf["os_vif_pref"]["preference_order"] = s.preference_order
    if s.disabled:
        conf["os_vif_pref"]["disabled"] = s.disabled
    conf["os_vif_pref_ovs"] = {"ovsdb_connection": lay.ovsdb_connection,
                               "vhostuser_socket_dir": str(lay.vhost_dir)}
    conf.update(_privsep(lay, "os_vif_pref_privileged"))
    return conf


def neutron(lay: Layout) -> Sections:
    state = lay.data("neutron")
    return {
        "DEFAULT": {
            "debug": "false",
            "core_plugin": "ml2",
            # ML2/OVN routes in OVN itself (its L3 plugin); the agent back
            # end runs no L3 agent, so no router plugin.
            "service_plugins": ("ovn-router"
                                if lay.settings.backend == "ovn" else ""),
            "auth_strategy": "keystone",
            "transport_url": lay.transport_url,
            "state_path": str(state),
            "api_workers": "1",
            "rpc_workers": "1",
            "rpc_state_report_workers": "1",
            "notify_nova_on_port_status_changes": "true",
            "notify_nova_on_port_data_changes": "true",
            "api_paste_config": str(lay.etc("neutron") / "api-paste.ini"),
            "agent_down_time": "30",
        },
        "database": {"connection": lay.db_url("neutron")},
        "keystone_authtoken": _authtoken(lay, "neutron"),
        "nova": _auth(lay, "nova"),
        "oslo_concurrency": {"lock_path": str(state / "locks")},
        "oslo_messaging_notifications": {"driver": "noop"},
        "agent": {"report_interval": "5", "root_helper": "env"},
    }


def ml2(lay: Layout) -> Sections:
    if lay.settings.backend == "ovn":
        return ml2_ovn(lay)
    return {
        "ml2": {
            "type_drivers": "flat",
            "tenant_network_types": "",
            "mechanism_drivers": lay.settings.neutron_driver,
            "extension_drivers": "port_security",
        },
        "ml2_type_flat": {"flat_networks": layout_mod.PHYSNET},
        "securitygroup": {"firewall_driver": "noop",
                          "enable_security_group": "true"},
    }


def ovs_agent(lay: Layout, host: str = COMPUTE_HOST) -> Sections:
    conf: Sections = {
        "DEFAULT": {"host": host},
        "ovs": {
            "integration_bridge": "br-int",
            "datapath_type": "netdev",
            "bridge_mappings": f"{layout_mod.PHYSNET}:br-phys",
            "ovsdb_connection": lay.ovsdb_connection,
            "of_listen_address": "127.0.0.1",
            "of_listen_port": str(lay.ports["of_listen"]),
            "vhostuser_socket_dir": str(lay.vhost_dir),
        },
        "agent": {"tunnel_types": "", "root_helper": "env",
                  "report_interval": "5"},
        "securitygroup": {"firewall_driver": "noop"},
    }
    conf.update(_privsep(lay, "privsep", "privsep_dhcp_release",
                         "privsep_ovs_vsctl", "privsep_namespace",
                         "privsep_conntrack", "privsep_link"))
    return conf


def ml2_ovn(lay: Layout) -> Sections:
    """ml2_conf.ini for ML2/OVN, as the installation guide's OVN block.

    Every ``[ml2]``, ``[ml2_type_geneve]`` and ``[ovn]`` key here is one
    the guide's ML2/OVN block names (tests/cloud_ovn checks it); the
    values that are this cloud's own are the databases' sockets and the
    vhost-user socket directory, which must be the compute host's
    ``[os_vif_pref_ovs] vhostuser_socket_dir``.
    """
    ovn_dir = lay.ovn_dir
    return {
        "ml2": {
            "type_drivers": "flat,geneve",
            "tenant_network_types": "geneve",
            "mechanism_drivers": lay.settings.neutron_driver,
            "extension_drivers": "port_security",
            "overlay_ip_version": "4",
        },
        "ml2_type_flat": {"flat_networks": layout_mod.PHYSNET},
        "ml2_type_geneve": {"vni_ranges": "1:65536",
                            "max_header_size": "38"},
        "securitygroup": {"enable_security_group": "true"},
        "ovn": {
            "ovn_nb_connection": f"unix:{ovn_dir / 'nb.sock'}",
            "ovn_sb_connection": f"unix:{ovn_dir / 'sb.sock'}",
            "ovn_metadata_enabled": "false",
            "vhost_sock_dir": str(lay.vhost_dir),
        },
    }
