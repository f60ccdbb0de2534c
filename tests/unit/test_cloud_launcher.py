"""The cloud launcher's own parts that need no cloud.

* The installation guide is what the cloud follows: every os-vif-pref line
  the cloud's configuration has beyond stock is one the guide names, with
  the guide's value where the guide gives the value.
* A service that does not come up ends the wait naming it, with its log's
  last lines; every wait has a bound.
"""

from __future__ import annotations

from pathlib import Path
import re
import sys
import time

import pytest

from os_vif_pref.testing.cloud import configs
from os_vif_pref.testing.cloud.layout import Layout, Settings
from os_vif_pref.testing.cloud.procs import CloudError, Procs

GUIDE = Path(__file__).resolve().parents[2] / "doc/source/install/index.rst"


def guide_lines() -> set[tuple[str, str, str]]:
    """(section, key, value) of every ini line in the guide's literal blocks.

    A literal block follows a paragraph ending in ``::`` and is indented;
    comments (``#``) are dropped, as oslo.config drops them.
    """
    lines = GUIDE.read_text().splitlines()
    found: set[tuple[str, str, str]] = set()
    in_block = False
    section = ""
    for i, line in enumerate(lines):
        if line.rstrip().endswith("::"):
            in_block, section = True, ""
            continue
        if not in_block:
            continue
        if line.strip() and not line.startswith((" ", "\t")):
            in_block = False
            continue
        text = line.split("#", 1)[0].strip()
        m = re.fullmatch(r"\[([\w.-]+)\]", text)
        if m:
            section = m.group(1)
        elif "=" in text and section:
            key, value = (p.strip() for p in text.split("=", 1))
            found.add((section, key, value))
        del i
    return found


def _layout(tmp_path: Path, settings: Settings) -> Layout:
    return Layout(root=tmp_path, sock_dir=tmp_path / "s",
                  ports={n: 1 for n in ("mariadb", "rabbitmq", "keystone",
                                        "of_listen")},
                  settings=settings, bin_dir=Path(sys.prefix) / "bin")


def _flat(sections: dict[str, dict[str, str]]) -> set[tuple[str, str, str]]:
    return {(s, k, v) for s, opts in sections.items() for k, v in opts.items()}


def test_guide_lines_are_the_cloud_lines(tmp_path: Path) -> None:
    guide = guide_lines()
    named = {(s, k) for s, k, _ in guide}
    assert ("os_vif_pref", "nova_integration", "true") in guide
    assert ("ml2", "mechanism_drivers", "pref_openvswitch") in guide

    ours = _layout(tmp_path, Settings())
    stock = _layout(tmp_path, Settings(neutron_driver="openvswitch",
                                       nova_integration=False))
    nova_diff = _flat(configs.nova_compute(ours)) - _flat(
        configs.nova_compute(stock))
    ml2_diff = _flat(configs.ml2(ours)) - _flat(configs.ml2(stock))
    # The one line of each guide section, with the guide's value ...
    assert _flat(configs.GUIDE_NOVA) <= nova_diff
    assert _flat(configs.GUIDE_NOVA) <= guide
    assert ml2_diff == _flat(configs.GUIDE_ML2)
    assert _flat(configs.GUIDE_ML2) <= guide
    # ... and every other line the cloud adds is one the guide names.
    extra = {(s, k) for s, k, _ in nova_diff} - named
    assert not extra, f"the cloud sets what the guide does not say: {extra}"
    # Nothing else of nova.conf differs between stock and ours.
    assert all(s.startswith("os_vif_pref") for s, _, _ in nova_diff)


def test_guide_parser_reads_blocks(tmp_path: Path) -> None:
    """The parser above finds a block's lines and ignores prose and comments
    (a guide rewritten into prose would otherwise pass for empty)."""
    lines = guide_lines()
    assert ("os_vif_pref_ovs", "ovsdb_connection",
            "unix:/run/openvswitch/db.sock") in lines
    assert not any(k.startswith("#") for _, k, _ in lines)


def test_wait_names_a_service_that_exits(tmp_path: Path) -> None:
    procs = Procs(tmp_path)
    procs.start("broken", [sys.executable, "-c",
                           "print('cannot open the database: denied'); "
                           "raise SystemExit(3)"])
    with pytest.raises(CloudError) as info:
        procs.wait("broken", "its port", lambda: False, timeout=30)
    text = str(info.value)
    assert text.startswith("broken exited (status 3)")
    assert "cannot open the database: denied" in text
    assert not procs.running("broken")


def test_wait_is_bounded(tmp_path: Path) -> None:
    procs = Procs(tmp_path)
    procs.start("slow", [sys.executable, "-c",
                         "import time; print('still starting'); "
                         "time.sleep(60)"])
    try:
        t0 = time.monotonic()
        with pytest.raises(CloudError) as info:
            procs.wait("slow", "HTTP answer", lambda: False, timeout=1.5,
                       interval=0.1)
        assert time.monotonic() - t0 < 20
        assert "slow: HTTP answer not reached within 2 s" in str(info.value)
        assert "still starting" in str(info.value)
    finally:
        procs.stop("slow", term_wait=2)
    assert not procs.running("slow")
    assert procs.names() == []


def test_stop_reaches_the_process_group(tmp_path: Path) -> None:
    """A service's children (uwsgi's workers) stop with it."""
    procs = Procs(tmp_path)
    child_pid = tmp_path / "child.pid"
    procs.start("parent", [sys.executable, "-c",
                           "import subprocess, sys, time\n"
                           "p = subprocess.Popen([sys.executable, '-c', "
                           "'import time; time.sleep(600)'])\n"
                           f"open({str(child_pid)!r}, 'w').write(str(p.pid))\n"
                           "time.sleep(600)\n"])
    procs.wait("parent", "child started", child_pid.exists, timeout=30)
    pid = int(child_pid.read_text())
    procs.stop("parent", term_wait=5)
    deadline = time.monotonic() + 10
    from os_vif_pref.testing.cloud.procs import alive

    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pid)


def test_compute_options_reach_the_compute_conf(tmp_path: Path) -> None:
    """``up --compute-option`` is how a vendor tries a plugin: its options
    land in the compute host's nova.conf and survive a reconfigure."""
    settings = Settings(compute_options={
        "os_vif_pref": {"catalogue_dirs": "/srv/acme/catalogue.d"},
        "os_vif_acme": {"mode": "fast"}})
    lay = _layout(tmp_path, settings)
    conf = configs.nova_compute(lay)
    assert conf["os_vif_pref"]["catalogue_dirs"] == "/srv/acme/catalogue.d"
    assert conf["os_vif_pref"]["nova_integration"] == "true"
    assert conf["os_vif_acme"] == {"mode": "fast"}
    lay.save()
    again = Layout.load(tmp_path)
    assert again.settings.compute_options == settings.compute_options


def test_compute_option_syntax_is_checked(capsys: pytest.CaptureFixture
                                           ) -> None:
    from os_vif_pref.testing.cloud.__main__ import main

    with pytest.raises(SystemExit) as info:
        main(["up", "--dir", "/nonexistent/x", "--compute-option", "novalue"])
    assert info.value.code == 2
    assert "want SECTION.KEY=VALUE" in capsys.readouterr().err


def test_console_since_a_snapshot() -> None:
    """A restarted guest's console may begin with the very lines the old one
    began with (same MAC, same address): its BOOT id tells them apart."""
    from os_vif_pref.testing.cloud.guests import since

    old = "\r\nBOOT 1111\r\nNIC eth0 UP m 203.0.113.21/24\r\nGUEST READY\r\n"
    grown = old + "PEER 203.0.113.5 OK\r\n"
    assert since(grown, old) == "PEER 203.0.113.5 OK\r\n"
    restarted = old.replace("1111", "2222") + "PEER 203.0.113.5 OK\r\n"
    assert since(restarted, old) == restarted
    assert since("\r\n", old) == "\r\n"  # new console, nothing printed yet
    assert since(grown, "") == grown


def _layout_at(tmp_path: Path, name: str) -> Layout:
    root = tmp_path / name
    root.mkdir()
    sock = tmp_path / "socks" / f"ovpc-{name}"
    sock.mkdir(parents=True)
    return Layout(root=root, sock_dir=sock, ports={}, settings=Settings(),
                  bin_dir=Path(sys.executable).parent)


def test_hugepages_go_back_with_the_last_cloud(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two clouds at once: the first one down leaves the pages to the
    second, which restores the machine's own value (not the first's)."""
    from os_vif_pref.testing.cloud import compute

    nr = tmp_path / "nr_hugepages"
    nr.write_text("0\n")
    monkeypatch.setattr(compute, "NR_HUGEPAGES", nr)
    a, b = _layout_at(tmp_path, "a"), _layout_at(tmp_path, "b")
    compute.reserve_hugepages(a)
    assert int(nr.read_text()) == compute.HUGEPAGES
    compute.reserve_hugepages(b)
    assert (a.hugepages_before, b.hugepages_before) == (0, 0)
    assert compute.hugepages_holders(b) == {a.sock_dir: 0}

    compute.release_hugepages(a)
    assert int(nr.read_text()) == compute.HUGEPAGES, "b still runs"
    assert compute.hugepages_holders(b) == {}
    compute.release_hugepages(b)
    assert int(nr.read_text()) == 0


def test_domain_helpers_close_their_connection(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """domain_xml and destroy_domain look the guest up by its server id on
    the cloud's libvirtd and close the connection, also when libvirt
    raises."""
    import types

    from os_vif_pref.testing.cloud import guests

    calls: list[str] = []

    class Dom:
        def XMLDesc(self, flags: int) -> str:
            return "<domain/>"

        def destroy(self) -> None:
            calls.append("destroy")
            raise RuntimeError("libvirt says no")

    class Conn:
        def lookupByUUIDString(self, uuid: str) -> Dom:
            calls.append(f"lookup {uuid}")
            return Dom()

        def close(self) -> None:
            calls.append("close")

    fake = types.SimpleNamespace(open=lambda uri: calls.append(uri) or Conn())
    monkeypatch.setitem(sys.modules, "libvirt", fake)
    cloud = types.SimpleNamespace(
        lay=types.SimpleNamespace(libvirt_uri="qemu+unix:///x"))
    guest = types.SimpleNamespace(id="srv-1")
    assert guests.domain_xml(cloud, guest) == "<domain/>"
    with pytest.raises(RuntimeError):
        guests.destroy_domain(cloud, guest)
    assert calls == ["qemu+unix:///x", "lookup srv-1", "close",
                     "qemu+unix:///x", "lookup srv-1", "destroy", "close"]
