"""The second compute host of the one-machine cloud, the parts that need no
cloud: each host's nova.conf, the names and addresses of the wires between
the hosts, libvirtd's migration listener, and the forwarder that lets
compute2's namespace reach the control plane on the home's 127.0.0.1."""

from __future__ import annotations

from pathlib import Path
import socket
import subprocess
import sys
import threading
from typing import Any

import pytest

from os_vif_pref.testing.cloud import configs, hosts
from os_vif_pref.testing.cloud.layout import Layout, Settings
from os_vif_pref.testing.cloud.procs import Procs


def _layout(tmp_path: Path, settings: Settings | None = None,
            n_hosts: int = 2) -> Layout:
    return Layout(root=tmp_path, sock_dir=tmp_path / "ovpc-abcd_123",
                  ports={n: 1000 + i for i, n in enumerate(
                      ("mariadb", "rabbitmq", "keystone", "placement",
                       "glance", "nova_api", "neutron_api", "of_listen"))},
                  settings=settings or Settings(),
                  bin_dir=Path(sys.prefix) / "bin", hosts=n_hosts,
                  host_net=8 if n_hosts == 2 else None)


def test_each_host_has_its_own_address_ovs_and_libvirt(tmp_path: Path
                                                        ) -> None:
    lay = _layout(tmp_path)
    one = configs.nova_compute(lay)
    two = configs.nova_compute(hosts.Host2Layout.of(lay), host=hosts.HOST2)
    assert one["DEFAULT"]["host"] == "compute1"
    assert two["DEFAULT"]["host"] == "compute2"
    assert one["DEFAULT"]["my_ip"] == "192.0.2.9"
    assert two["DEFAULT"]["my_ip"] == "192.0.2.10"
    assert one["libvirt"]["live_migration_inbound_addr"] == "192.0.2.9"
    assert two["libvirt"]["live_migration_inbound_addr"] == "192.0.2.10"
    for section, key in (("libvirt", "connection_uri"),
                         ("os_vif_ovs", "ovsdb_connection"),
                         ("os_vif_pref_ovs", "ovsdb_connection"),
                         ("os_vif_pref_ovs", "vhostuser_socket_dir")):
        assert one[section][key] != two[section][key], (section, key)
        assert "/h2/" in two[section][key]
    # Shared storage: one instances_path (a cold migration finds it shared).
    assert one["DEFAULT"]["instances_path"] == \
        two["DEFAULT"]["instances_path"]
    # One host: nothing of the above (127.0.0.1 as before).
    single = configs.nova_compute(_layout(tmp_path, n_hosts=1))
    assert single["DEFAULT"]["my_ip"] == "127.0.0.1"
    assert "live_migration_inbound_addr" not in single["libvirt"]


def test_scheduler_tries_compute1_first(tmp_path: Path) -> None:
    """compute2 reserves more memory and RAM weighs most: a server that
    compute1 refuses is tried there first, then rescheduled."""
    two = _layout(tmp_path)
    written = hosts.nova_conf(two).read_text()
    assert f"reserved_host_memory_mb = {hosts.RESERVED_MB_HOST2}" in written
    assert "host = compute2" in written
    assert int(hosts.RESERVED_MB_HOST2) > int(
        configs.nova_compute(two)["DEFAULT"]["reserved_host_memory_mb"])
    assert float(configs.nova_controller(two)["filter_scheduler"][
        "ram_weight_multiplier"]) > 3
    assert "ram_weight_multiplier" not in configs.nova_controller(
        _layout(tmp_path, n_hosts=1))["filter_scheduler"]


def test_host_options_reach_only_their_host(tmp_path: Path) -> None:
    lay = _layout(tmp_path, Settings(host_options={
        "compute1": {"os_vif_pref": {"disabled": "ovs"}}}))
    one = configs.nova_compute(lay)
    two = configs.nova_compute(hosts.Host2Layout.of(lay), host=hosts.HOST2)
    assert one["os_vif_pref"]["disabled"] == "ovs"
    assert "disabled" not in two["os_vif_pref"]


def test_compute2_is_configured_like_compute1_by_the_guide(tmp_path: Path
                                                           ) -> None:
    """Ours differs from stock on compute2 exactly as on compute1: the
    guide's lines, no per-host type setting."""
    def diff(host_lay: Layout, host: str) -> set[tuple[str, str, str]]:
        ours = configs.nova_compute(host_lay, host=host)
        host_lay.settings = Settings(nova_integration=False)
        stock = configs.nova_compute(host_lay, host=host)
        host_lay.settings = Settings()
        flat = {(s, k, v) for s, o in ours.items() for k, v in o.items()}
        return flat - {(s, k, v) for s, o in stock.items()
                       for k, v in o.items()}
    lay = _layout(tmp_path)
    one = diff(lay, "compute1")
    two = diff(hosts.Host2Layout.of(lay), hosts.HOST2)
    assert {(s, k) for s, k, _ in one} == {(s, k) for s, k, _ in two}
    assert all(s.startswith("os_vif_pref") for s, _, _ in one | two)


def test_names_fit_and_clouds_do_not_clash(tmp_path: Path) -> None:
    a = _layout(tmp_path)
    b = _layout(tmp_path)
    b.sock_dir = tmp_path / "ovpc-zz9_8765"
    for lay in (a, b):
        assert all(len(name) <= 15 for name in hosts.links(lay).values())
        assert hosts.netns(lay).startswith("ovp-cloud-")
    assert hosts.netns(a) != hosts.netns(b)
    assert not set(hosts.links(a).values()) & set(hosts.links(b).values())


def test_libvirt_migration_listener(tmp_path: Path) -> None:
    lay = _layout(tmp_path)
    one, two = hosts.libvirt_extra(lay, 1), hosts.libvirt_extra(lay, 2)
    assert 'listen_addr = "192.0.2.9"' in one
    assert 'listen_addr = "192.0.2.10"' in two
    assert "listen_tcp = 1" in one and 'auth_tcp = "none"' in two
    # libvirt refuses a migration to "the same host": distinct host UUIDs.
    uuid_of = {line for line in (one + two).splitlines()
               if line.startswith("host_uuid")}
    assert len(uuid_of) == 2
    assert hosts.libvirt_extra(_layout(tmp_path, n_hosts=1), 1) == ""


def test_host_net_skips_used_addresses(monkeypatch: pytest.MonkeyPatch
                                       ) -> None:
    used = ("2: ovma inet 192.0.2.1/30 scope global ovma\n"
            "3: ovmb inet 192.0.2.6/30 scope global ovmb\n")

    def fake_run(*args: Any, **kwargs: Any) -> Any:
        return subprocess.CompletedProcess(args, 0, stdout=used, stderr="")
    monkeypatch.setattr(hosts.subprocess, "run", fake_run)
    assert hosts._pick_host_net() == 8


def test_forwarder_reaches_home_from_another_namespace(tmp_path: Path
                                                       ) -> None:
    """A connection to 127.0.0.1:PORT inside compute2's namespace reaches
    the server on the home's 127.0.0.1:PORT (the same port number)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    port = server.getsockname()[1]

    def echo() -> None:
        conn, _ = server.accept()
        with conn:
            conn.sendall(b"home:" + conn.recv(100))
    threading.Thread(target=echo, daemon=True).start()
    ns = f"ovp-fwdtest-{port}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    procs = Procs(tmp_path)
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"],
                       check=True)
        procs.start("fwd", [sys.executable, "-m", hosts.__name__, "forward",
                            ns, str(port)])
        procs.wait("fwd", "listening", lambda: "forwarding" in
                   procs.log("fwd").read_text(), timeout=30)
        client = ("import socket; s = socket.create_connection("
                  f"('127.0.0.1', {port}), timeout=10); s.sendall(b'hi'); "
                  "print(s.recv(100).decode())")
        out = subprocess.run(["ip", "netns", "exec", ns, sys.executable,
                              "-c", client], capture_output=True, text=True,
                             timeout=60, check=True).stdout
        assert out.strip() == "home:hi", out
    finally:
        procs.stop("fwd", term_wait=2)
        subprocess.run(["ip", "netns", "delete", ns], check=False)
        server.close()
