"""Where a cloud lives: its directory, its ports and its settings.

Everything a cloud owns is under one directory (``--dir``): configuration
files, databases, logs, pid files, sockets, instances.  ``cloud.json``
records the ports picked at ``up`` and the settings the services were last
configured with, so ``down``, ``reconfigure`` and a later test find them.
Unix socket paths are limited to 107 bytes, so sockets live in a short
directory of their own under ``/tmp`` (recorded here too).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from pathlib import Path
import shutil
import socket
import sys
import tempfile

#: Services that listen on a TCP port of 127.0.0.1.
PORT_NAMES = (
    "mariadb", "rabbitmq", "epmd", "rabbitmq_dist", "keystone", "placement",
    "glance", "nova_api", "neutron_api", "of_listen",
)

#: The documentation range the guests' network uses (RFC 5737 TEST-NET-3):
#: never routed anywhere, so no guest traffic can leave the machine.
GUEST_CIDR = "203.0.113.0/24"

#: The physical network the flat provider network maps to.
PHYSNET = "physnet1"

#: The compute hosts' own addresses (with ``--hosts 2``) come from RFC 5737
#: TEST-NET-1, 192.0.2.0/24, a /30 per cloud: only on a veth pair.
HOSTS_PREFIX = "192.0.2"


@dataclasses.dataclass
class Settings:
    """What the services are configured with; changed by reconfigure()."""

    #: ``[ml2] mechanism_drivers`` of Neutron.
    neutron_driver: str = "pref_openvswitch"
    #: ``[os_vif_pref] nova_integration`` of nova-compute.
    nova_integration: bool = True
    #: ``[os_vif_pref] preference_order`` of nova-compute ("" = catalogue's).
    preference_order: str = ""
    #: ``[os_vif_pref] disabled`` of nova-compute.
    disabled: str = ""
    #: More nova.conf options of the compute host, ``{section: {key: value}}``
    #: (a vendor's plugin options, ``catalogue_dirs``, ...).
    compute_options: dict[str, dict[str, str]] = dataclasses.field(
        default_factory=dict)
    #: More nova.conf options of one compute host, ``{host: {section:
    #: {key: value}}}`` (e.g. a binding an operator disabled on compute1
    #: only, which makes compute1 refuse a server compute2 then takes).
    host_options: dict[str, dict[str, dict[str, str]]] = dataclasses.field(
        default_factory=dict)
    #: The network back end: ``"ovs"`` (the Open vSwitch agent) or
    #: ``"ovn"`` (ML2/OVN: northd, the databases and ovn-controller;
    #: :mod:`os_vif_pref.testing.cloud.ovn`).  Chosen at ``up`` only.
    backend: str = "ovs"


@dataclasses.dataclass
class Layout:
    """The paths and ports of one cloud directory."""

    root: Path
    sock_dir: Path
    ports: dict[str, int]
    settings: Settings
    bin_dir: Path
    hugepages_before: int | None = None
    #: How many compute hosts (1: compute1 only; 2: compute2 in its own
    #: network namespace, see hosts.py).
    hosts: int = 1
    #: With 2 hosts: the /30 of 192.0.2.0/24 the hosts' veth pair uses
    #: (its first address; picked free at ``up`` so two clouds never clash).
    host_net: int | None = None

    STATE = "cloud.json"

    @classmethod
    def create(cls, root: Path, hosts: int = 1) -> Layout:
        root = root.resolve()
        root.mkdir(parents=True, exist_ok=True)
        if (root / cls.STATE).exists():
            raise FileExistsError(
                f"{root} already holds a cloud ({cls.STATE}): "
                "run 'down --dir' first or choose another directory")
        sock_dir = Path(tempfile.mkdtemp(prefix="ovpc-", dir="/tmp"))
        layout = cls(root=root, sock_dir=sock_dir, ports=_free_ports(),
                     settings=Settings(), bin_dir=Path(sys.executable).parent,
                     hosts=hosts)
        layout.save()
        return layout

    @classmethod
    def load(cls, root: Path) -> Layout:
        root = root.resolve()
        data = json.loads((root / cls.STATE).read_text())
        return cls(root=root, sock_dir=Path(data["sock_dir"]),
                   ports=data["ports"],
                   settings=Settings(**data["settings"]),
                   bin_dir=Path(data["bin_dir"]),
                   hugepages_before=data.get("hugepages_before"),
                   hosts=data.get("hosts", 1),
                   host_net=data.get("host_net"))

    def save(self) -> None:
        data = {"sock_dir": str(self.sock_dir), "ports": self.ports,
                "settings": dataclasses.asdict(self.settings),
                "bin_dir": str(self.bin_dir),
                "hugepages_before": self.hugepages_before,
                "hosts": self.hosts, "host_net": self.host_net}
        tmp = self.root / (self.STATE + ".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        os.replace(tmp, self.root / self.STATE)

    def forget(self) -> None:
        """Remove the socket directory and the state (after ``down``)."""
        shutil.rmtree(self.sock_dir, ignore_errors=True)
        with contextlib.suppress(OSError):
            (self.root / self.STATE).unlink()

    # -- paths ------------------------------------------------------------
    def etc(self, service: str) -> Path:
        path = self.root / "etc" / service
        path.mkdir(parents=True, exist_ok=True)
        return path

    def data(self, name: str) -> Path:
        path = self.root / "data" / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def bin(self, name: str) -> str:
        """A console script of the environment the cloud runs from."""
        return str(self.bin_dir / name)

    @property
    def python(self) -> str:
        return str(self.bin_dir / "python")

    @property
    def ovs_dir(self) -> Path:
        return self.sock_dir / "ovs"

    @property
    def ovsdb_connection(self) -> str:
        return f"unix:{self.ovs_dir / 'db.sock'}"

    @property
    def ovn_dir(self) -> Path:
        """OVN's databases, sockets and run files (``backend = "ovn"``)."""
        return self.sock_dir / "ovn"

    @property
    def vhost_dir(self) -> Path:
        return self.sock_dir / "vhost"

    @property
    def libvirt_run(self) -> Path:
        """libvirtd's socket directory (its /run/libvirt, seen from here)."""
        return self.sock_dir / "libvirt" / "run" / "libvirt"

    @property
    def libvirt_uri(self) -> str:
        return f"qemu:///system?socket={self.libvirt_run}/libvirt-sock"

    @property
    def mariadb_socket(self) -> Path:
        return self.sock_dir / "mysqld.sock"

    def db_url(self, name: str) -> str:
        return (f"mysql+pymysql://root:{DB_PASSWORD}@127.0.0.1:"
                f"{self.ports['mariadb']}/{name}?charset=utf8")

    @property
    def transport_url(self) -> str:
        return (f"rabbit://{RABBIT_USER}:{RABBIT_PASSWORD}@127.0.0.1:"
                f"{self.ports['rabbitmq']}/")

    def url(self, service: str, path: str = "") -> str:
        return f"http://127.0.0.1:{self.ports[service]}{path}"

    @property
    def auth_url(self) -> str:
        return self.url("keystone", "/v3")

    def host_addr(self, index: int) -> str:
        """Compute host ``index``'s (1 or 2) own address: 127.0.0.1 with
        one host, else its end of the hosts' veth pair in 192.0.2.0/24."""
        if self.hosts < 2 or self.host_net is None:
            return "127.0.0.1"
        return f"{HOSTS_PREFIX}.{self.host_net + index}"


#: Test-only credentials of a cloud nobody but the machine's root reaches
#: (127.0.0.1 only).
DB_PASSWORD = "ovp-db-secret"
RABBIT_USER = "ovp"
RABBIT_PASSWORD = "ovp-rabbit-secret"
ADMIN_PASSWORD = "ovp-admin-secret"
SERVICE_PASSWORD = "ovp-service-secret"
MEMBER_PASSWORD = "ovp-member-secret"


def _free_ports() -> dict[str, int]:
    """Ports nothing listens on now, held until all are picked."""
    held: list[socket.socket] = []
    ports: dict[str, int] = {}
    try:
        for name in PORT_NAMES:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            held.append(sock)
            ports[name] = sock.getsockname()[1]
    finally:
        for sock in held:
            sock.close()
    return ports
