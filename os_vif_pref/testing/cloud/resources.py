"""What a fresh cloud needs before a server boots, and its readiness checks.

Registered at ``up``: the guest image (AMI style: a kernel, a ramdisk and a
tiny machine image whose ``os_command_line`` gives the guest ``pci=nomsi``,
without which QEMU under software emulation crashes on vhost-user), a
shared flat network on a documentation range, and two flavors, one with
hugepages.  ``DIR/resources.json`` records their ids; ``DIR/openrc`` (admin)
and ``DIR/openrc.member`` set the ``openstack`` CLI's environment.
"""

from __future__ import annotations

from collections.abc import Callable
import datetime
import json
import os
from pathlib import Path
from typing import Any

from os_vif_pref.testing.cloud import configs, control, image, ovn
from os_vif_pref.testing.cloud import layout as layout_mod
from os_vif_pref.testing.cloud.layout import Layout
from os_vif_pref.testing.cloud.procs import Procs, run

NETWORK = "guests"
SUBNET = "guests-v4"
FLAVOR = "ovp.small"
FLAVOR_HUGE = "ovp.hugepages"
IMAGE = "ovp-guest"
#: Guest addresses come from here (the rest of 203.0.113.0/24 is free for
#: fixed addresses a test chooses).
POOL = ("203.0.113.10", "203.0.113.199")

#: The image properties a vhost-user guest needs under QEMU's emulation:
#: the config drive on a virtio-scsi CD-ROM (the guest kernel has no AHCI).
IMAGE_PROPERTIES = {
    "hw_cdrom_bus": "scsi",
    "hw_scsi_model": "virtio-scsi",
    "hw_disk_bus": "virtio",
    "hw_vif_model": "virtio",
    # The guest has no ACPI handler: a clean shutdown (stop, cold
    # migration, resize) would wait [DEFAULT] shutdown_timeout (60 s) for
    # nothing before powering it off.  0: power off at once.
    "os_shutdown_timeout": "0",
}


def cache_dir() -> Path:
    """Where the guest image is cached between clouds."""
    env = os.environ.get("OS_VIF_PREF_CLOUD_CACHE")
    return Path(env) if env else image.default_cache_dir()


def build_image() -> image.GuestImage:
    """The guest image, built or taken from the cache."""
    return image.build_guest_image(cache_dir())


def load_info(lay: Layout) -> dict[str, Any]:
    path = lay.root / "resources.json"
    return json.loads(path.read_text()) if path.exists() else {}


def register(lay: Layout, guest: image.GuestImage) -> dict[str, Any]:
    """Upload the image, create the network and the flavors."""
    conn = control.admin_connection(lay)
    machine = lay.data("images") / "machine.raw"
    machine.write_bytes(b"\0" * (1 << 20))
    kernel = conn.image.create_image(
        name=IMAGE + "-kernel", filename=str(guest.kernel),
        disk_format="aki", container_format="aki", visibility="public")
    ramdisk = conn.image.create_image(
        name=IMAGE + "-ramdisk", filename=str(guest.initramfs),
        disk_format="ari", container_format="ari", visibility="public")
    ami = conn.image.create_image(
        name=IMAGE, filename=str(machine), disk_format="ami",
        container_format="ami", visibility="public",
        kernel_id=kernel.id, ramdisk_id=ramdisk.id,
        os_command_line=guest.cmdline, **IMAGE_PROPERTIES)
    net = conn.network.create_network(
        name=NETWORK, shared=True, provider_network_type="flat",
        provider_physical_network=layout_mod.PHYSNET)
    subnet = conn.network.create_subnet(
        name=SUBNET, network_id=net.id, ip_version=4,
        cidr=layout_mod.GUEST_CIDR, enable_dhcp=False, gateway_ip=None,
        allocation_pools=[{"start": POOL[0], "end": POOL[1]}])
    small = conn.compute.create_flavor(name=FLAVOR, ram=256, vcpus=1,
                                       disk=1, is_public=True)
    huge = conn.compute.create_flavor(name=FLAVOR_HUGE, ram=256, vcpus=1,
                                      disk=1, is_public=True)
    conn.compute.create_flavor_extra_specs(huge,
                                           {"hw:mem_page_size": "2MB"})
    info = {"image": ami.id, "kernel": kernel.id, "ramdisk": ramdisk.id,
            "network": net.id, "subnet": subnet.id,
            "flavor": small.id, "flavor_hugepages": huge.id,
            "compute_host": configs.COMPUTE_HOST,
            "guest_cmdline": guest.cmdline}
    (lay.root / "resources.json").write_text(json.dumps(info, indent=2))
    return info


def write_openrc(lay: Layout) -> None:
    for user, name in (("admin", "openrc"), ("member", "openrc.member")):
        env = openrc_env(lay, user)
        lines = [f"export {k}={v}" for k, v in env.items() if k != "PATH"]
        lines.append(f"export PATH={lay.bin_dir}:$PATH")
        (lay.root / name).write_text("\n".join(lines) + "\n")


def compute_service(lay: Layout, host: str = configs.COMPUTE_HOST) -> Any:
    """nova-compute's service record of ``host`` (None before its first)."""
    conn = control.admin_connection(lay)
    for svc in conn.compute.services(binary="nova-compute"):
        if svc.host == host:
            return svc
    return None



def _utc(stamp: str | None) -> datetime.datetime | None:
    if not stamp:
        return None
    value = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    return value


def wait_compute_ready(lay: Layout, procs: Procs,
                       say: Callable[[str], None]) -> None:
    """nova-compute reporting, mapped to the cell, its agent alive."""
    say("  waiting for nova-compute to report")
    procs.wait("nova_compute", "its service record",
               lambda: compute_service(lay) is not None, timeout=240,
               interval=1)
    say("  nova-manage cell_v2 discover_hosts")
    nova_conf = str(lay.etc("nova") / "nova.conf")

    def discovered() -> bool:
        run([lay.bin("nova-manage"), "--config-file", nova_conf, "cell_v2",
             "discover_hosts"], what="nova-manage cell_v2 discover_hosts")
        conn = control.admin_connection(lay)
        return any(True for _ in conn.compute.hypervisors())
    procs.wait("nova_compute", "a hypervisor visible in the API",
               discovered, timeout=180, interval=2)
    say("  waiting for the OVS agent")
    wait_agent_alive(lay, procs)


def wait_agent_alive(lay: Layout, procs: Procs,
                     host: str = configs.COMPUTE_HOST,
                     name: str = "ovs_agent") -> None:
    if lay.settings.backend == "ovn":
        ovn.wait_chassis_agent(lay, procs)
        return
    def alive() -> bool:
        conn = control.admin_connection(lay)
        agents = list(conn.network.agents(
            binary="neutron-openvswitch-agent", host=host))
        return bool(agents) and all(a.is_alive for a in agents)
    procs.wait(name, f"agent alive in Neutron ({host})", alive,
               timeout=180, interval=1)


def wait_compute_restarted(lay: Layout, procs: Procs,
                           since: datetime.datetime,
                           host: str = configs.COMPUTE_HOST,
                           name: str = "nova_compute") -> None:
    """Wait for a restarted nova-compute's first report after ``since``.

    nova-compute reports once its start-up (driver init, re-plugging every
    VIF of running guests) is over, so this is "restarted and ready".
    """
    def reported() -> bool:
        svc = compute_service(lay, host)
        stamp = _utc(svc.updated_at) if svc is not None else None
        return stamp is not None and stamp > since and svc.state == "up"
    procs.wait(name, f"a service report after the restart ({host})",
               reported, timeout=240, interval=1)


def openrc_env(lay: Layout, user: str = "admin") -> dict[str, str]:
    """The environment ``openstack`` needs, as openrc sets it."""
    password = (layout_mod.ADMIN_PASSWORD if user == "admin"
                else layout_mod.MEMBER_PASSWORD)
    return {
        "OS_AUTH_URL": lay.auth_url, "OS_USERNAME": user,
        "OS_PASSWORD": password,
        "OS_PROJECT_NAME": "admin" if user == "admin" else "demo",
        "OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_NAME": "Default",
        "OS_REGION_NAME": "RegionOne", "OS_IDENTITY_API_VERSION": "3",
        "OS_INTERFACE": "public",
        "PATH": f"{lay.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    }
