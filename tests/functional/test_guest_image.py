"""The cloud's guest image, booted for real: two QEMU guests (TCG) on a
Linux bridge in a private namespace, each told its address and its peer by
a config drive as Nova writes one, report on their serial consoles that
traffic flows, stops when a tap goes down, and flows again; a NIC
hot-plugged later is set up too.  The awk program the guest runs on
``network_data.json`` is run here with the host's busybox, on the same
text the image ships.

Self-contained: no OVS and no privsep; the namespace (``ovp-img-*``), the
QEMU processes (by pid) and every file are removed also when a test fails
half-way.  The image is cached between runs (``default_cache_dir()``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
import contextlib
import dataclasses
import json
import os
import pathlib
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from os_vif_pref.testing.cloud import image as guest_image

pytestmark = pytest.mark.functional

BOOT_TIMEOUT = 120.0  # TCG boot + first ping, on a loaded 2-vCPU machine
CHANGE_TIMEOUT = 30.0  # a PEER line changes within a few ping rounds


@pytest.fixture
def workdir() -> Iterator[pathlib.Path]:
    """A private directory, removed afterwards (pytest's tmp_path stays)."""
    path = pathlib.Path(tempfile.mkdtemp(prefix="ovp-img-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def built() -> guest_image.GuestImage:
    return guest_image.build_guest_image(guest_image.default_cache_dir())


# -- network_data.json parsing: the shipped awk, run by busybox ------------

def nova_network_data(links: list[tuple[str, str]],
                      networks: list[dict]) -> dict:
    """network_data.json as Nova's netutils.get_network_metadata writes
    it (links by tap name, networks pointing at them, nested routes)."""
    return {
        "links": [{"id": tap, "vif_id": tap[3:], "type": "ovs", "mtu": 1450,
                   "ethernet_mac_address": mac} for tap, mac in links],
        "networks": networks,
        "services": [{"type": "dns", "address": "203.0.113.2"}],
    }


def ipv4(num: int, link: str, addr: str, mask: str) -> dict:
    return {"id": f"network{num}", "type": "ipv4", "link": link,
            "ip_address": addr, "netmask": mask,
            "routes": [{"network": "0.0.0.0", "netmask": "0.0.0.0",
                        "gateway": "203.0.113.1"}],
            "network_id": f"net-{num}",
            "services": [{"type": "dns", "address": "203.0.113.2"}]}


def run_awk(workdir: pathlib.Path, text: str) -> list[str]:
    program = workdir / "netdata.awk"
    program.write_text(guest_image.NETDATA_AWK)
    data = workdir / "network_data.json"
    data.write_text(text)
    out = subprocess.run(["busybox", "awk", "-f", str(program), str(data)],
                         capture_output=True, text=True, timeout=30,
                         check=True)
    return out.stdout.splitlines()


@pytest.mark.parametrize("indent", [None, 2])
def test_netdata_awk_nova_format(workdir, indent):
    data = nova_network_data(
        [("tapaaaa", "FA:16:3E:00:00:01"), ("tapbbbb", "fa:16:3e:00:00:02"),
         ("tapcccc", "fa:16:3e:00:00:03")],
        [ipv4(0, "tapaaaa", "203.0.113.5", "255.255.255.0"),
         {"id": "network1", "type": "ipv4_dhcp", "link": "tapbbbb",
          "network_id": "net-1"},
         {"id": "network2", "type": "ipv6", "link": "tapbbbb",
          "ip_address": "2001:db8::5", "netmask": "ffff:ffff:ffff:ffff::"},
         ipv4(3, "tapcccc", "203.0.113.130", "255.255.255.128"),
         ipv4(4, "tapnone", "203.0.113.77", "255.255.254.0")])
    assert run_awk(workdir, json.dumps(data, indent=indent)) == [
        "fa:16:3e:00:00:01 203.0.113.5/24",
        "fa:16:3e:00:00:02 dhcp",
        "fa:16:3e:00:00:03 203.0.113.130/25",
        "- 203.0.113.77/23",
    ]


@pytest.mark.parametrize("text", [
    "", "{}", '{"links": [], "networks": []}',
    '{"networks": [{"type": "ipv4", "link": "x"}]}',  # no address
])
def test_netdata_awk_nothing_to_configure(workdir, text):
    assert run_awk(workdir, text) == []


def test_netdata_awk_escapes_and_key_order(workdir):
    text = ('{"services": [], "networks": [{"netmask": "255.255.255.0", '
            '"ip_address": "203.0.113.9", "link": "t\\"ap", "type": '
            '"ipv4", "routes": []}], "links": [{"ethernet_mac_address": '
            '"fa:16:3e:00:00:09", "id": "t\\"ap", "mtu": null}]}')
    assert run_awk(workdir, text) == ["fa:16:3e:00:00:09 203.0.113.9/24"]


# -- the build and its cache --------------------------------------------------

def test_build_is_cached_by_content(built, workdir, monkeypatch):
    info = json.loads((built.kernel.parent / "image.json").read_text())
    deb = guest_image.default_cache_dir() / "debs" / info["kernel_deb"]
    cache = workdir / "cache"
    first = guest_image.build_guest_image(cache, kernel_deb=deb)
    assert first.key == built.key  # same inputs, same image
    assert first.cmdline == guest_image.GUEST_CMDLINE
    assert "pci=nomsi" in first.cmdline.split()
    assert "console=ttyS0" in first.cmdline.split()
    mtime = first.initramfs.stat().st_mtime_ns
    again = guest_image.build_guest_image(cache, kernel_deb=deb)
    assert again == first
    assert again.initramfs.stat().st_mtime_ns == mtime  # not rebuilt
    before = first.initramfs.read_bytes()
    monkeypatch.setattr(guest_image, "INIT_SCRIPT",
                        guest_image.INIT_SCRIPT + "# changed\n")
    changed = guest_image.build_guest_image(cache, kernel_deb=deb)
    assert changed.key != first.key
    assert changed.initramfs.read_bytes() != before
    # Only the current image stays; no build directory is left.
    assert [p.name for p in cache.iterdir() if p.name != ".lock"] == [
        changed.kernel.parent.name]


def test_build_names_a_missing_kernel_package(workdir):
    with pytest.raises(guest_image.GuestImageError, match="does not exist"):
        guest_image.build_guest_image(workdir,
                                      kernel_deb=workdir / "no.deb")


# -- two guests on a bridge ---------------------------------------------------

def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, timeout=30,
                   capture_output=True)


@pytest.fixture
def netns() -> Iterator[str]:
    """A namespace with bridge ``br0``; deleting it removes its taps."""
    name = f"ovp-img-{secrets.token_hex(4)}"
    ip("netns", "add", name)
    try:
        ip("-n", name, "link", "set", "lo", "up")
        ip("-n", name, "link", "add", "br0", "type", "bridge")
        ip("-n", name, "link", "set", "br0", "up")
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], timeout=30,
                       check=False)


def add_tap(ns: str, tap: str) -> None:
    ip("-n", ns, "tuntap", "add", "dev", tap, "mode", "tap")
    ip("-n", ns, "link", "set", tap, "master", "br0")
    ip("-n", ns, "link", "set", tap, "up")


def iso_config_drive(path: pathlib.Path, files: dict[str, str]) -> None:
    """Nova's default config drive: iso9660, label config-2."""
    tree = path.with_suffix(".d")
    for name, text in files.items():
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_text(text)
    subprocess.run(["genisoimage", "-quiet", "-V", "config-2", "-J", "-r",
                    "-o", str(path), str(tree)], check=True, timeout=60,
                   capture_output=True)


def vfat_config_drive(path: pathlib.Path, files: dict[str, str]) -> None:
    """Nova's ``config_drive_format = vfat`` (a disk, not a CD-ROM)."""
    with open(path, "wb") as f:
        f.truncate(8 << 20)
    run = {"check": True, "timeout": 60, "capture_output": True}
    subprocess.run(["mkfs.vfat", "-n", "config-2", str(path)], **run)
    for d in ("openstack", "openstack/latest"):
        subprocess.run(["mmd", "-i", str(path), f"::{d}"], **run)
    for name, text in files.items():
        src = path.parent / f"{path.stem}-{name.replace('/', '_')}"
        src.write_text(text)
        subprocess.run(["mcopy", "-i", str(path), str(src), f"::{name}"],
                       **run)


@dataclasses.dataclass
class Guest:
    name: str
    mac: str
    proc: subprocess.Popen
    console: pathlib.Path
    stderr: pathlib.Path
    qmp: pathlib.Path
    started: float

    def text(self) -> str:
        return self.console.read_text(errors="replace") if (
            self.console.exists()) else ""

    def wait_for(self, line: str, after: int = 0,
                 timeout: float = BOOT_TIMEOUT) -> float:
        """Seconds since start until ``line`` appeared on the console at
        or after offset ``after``; fails with the console's tail."""
        # Whole lines only (the tty ends them with \r\n): never a line
        # still being written.
        pattern = re.compile(rf"^{re.escape(line)}(?=\r?\n)", re.MULTILINE)
        deadline = time.monotonic() + timeout
        while True:
            if pattern.search(self.text(), after):
                return time.monotonic() - self.started
            if self.proc.poll() is not None:
                pytest.fail(f"guest {self.name}: QEMU exited "
                            f"({self.proc.returncode}) before {line!r}:\n"
                            f"{self.stderr.read_text()[-2000:]}\n"
                            f"console:\n{self.tail()}")
            if time.monotonic() > deadline:
                pytest.fail(f"guest {self.name}: no {line!r} within "
                            f"{timeout:.0f} s; console:\n{self.tail()}")
            time.sleep(0.25)

    def tail(self) -> str:
        return "\n".join(self.text().splitlines()[-25:])

    def qmp_command(self, execute: str, **arguments) -> dict:
        """One QMP command on a fresh connection (QEMU's monitor)."""
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(30)
            sock.connect(str(self.qmp))
            f = sock.makefile("rw")
            json.loads(f.readline())  # greeting
            for cmd in ({"execute": "qmp_capabilities"},
                        {"execute": execute, "arguments": arguments}):
                f.write(json.dumps(cmd) + "\n")
                f.flush()
                while True:
                    reply = json.loads(f.readline())
                    if "event" not in reply:
                        break
                if "error" in reply:
                    pytest.fail(f"guest {self.name}: QMP {cmd}: {reply}")
            return reply


@pytest.fixture
def guests(netns, workdir, built) -> Iterator[
        tuple[str, pathlib.Path, dict[str, Guest], Callable[..., Guest]]]:
    """Start guests (QEMU in the namespace); all killed by pid after."""
    started: dict[str, Guest] = {}

    def start(name: str, mac: str, tap: str, drive: list[str],
              machine: str = "q35") -> Guest:
        console = workdir / f"{name}.console"
        stderr = workdir / f"{name}.stderr"
        qmp = workdir / f"{name}.qmp"
        cmd = [
            "ip", "netns", "exec", netns,  # execs QEMU: same pid
            "qemu-system-x86_64", "-accel", "tcg", "-cpu", "qemu64",
            "-M", machine, "-m", "256", "-smp", "1",
            "-nographic", "-nodefaults", "-no-reboot",
            "-serial", f"file:{console}", "-monitor", "none",
            "-qmp", f"unix:{qmp},server=on,wait=off",
            "-kernel", str(built.kernel), "-initrd", str(built.initramfs),
            "-append", built.cmdline,
            "-netdev", f"tap,id=n0,ifname={tap},script=no,downscript=no",
            "-device", f"virtio-net-pci,netdev=n0,mac={mac},romfile=",
            *drive,
        ]
        with open(stderr, "wb") as err:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                    stdout=err, stderr=err)
        guest = Guest(name, mac, proc, console, stderr, qmp,
                      time.monotonic())
        started[name] = guest
        return guest

    try:
        yield netns, workdir, started, start
    finally:
        for guest in started.values():
            if guest.proc.poll() is None:
                guest.proc.terminate()
                try:
                    guest.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    guest.proc.kill()
                    guest.proc.wait(timeout=10)


def lines(guest: Guest) -> list[str]:
    """The guest's own console lines: whole lines in the contract's
    vocabulary (firmware and kernel output left out)."""
    words = ("CONFIG-DRIVE ", "NIC ", "GUEST READY", "PEER ", "MODULE ")
    return [ln.rstrip("\r") for ln in guest.text().split("\n")[:-1]
            if ln.startswith(words)]


A_MAC, A_IP = "fa:16:3e:00:0a:01", "203.0.113.10"
B_MAC, B_IP = "fa:16:3e:00:0b:01", "203.0.113.11"
A_HOT_MAC, A_HOT_IP = "fa:16:3e:00:0a:02", "203.0.113.130"


def test_two_guests_report_traffic(guests, capsys):
    ns, workdir, _started, start = guests
    add_tap(ns, "tapa")
    add_tap(ns, "tapb")
    add_tap(ns, "tapa2")

    # Guest A: an iso9660 config drive on a virtio-scsi CD-ROM; its
    # network_data.json has its NIC second, after one for a NIC plugged
    # later: the address goes by MAC, not by order.
    a_data = nova_network_data(
        [("taphot", A_HOT_MAC), ("tapa", A_MAC)],
        [ipv4(0, "taphot", A_HOT_IP, "255.255.255.128"),
         ipv4(1, "tapa", A_IP, "255.255.255.128")])
    a_drive = workdir / "a.iso"
    iso_config_drive(a_drive, {
        # ip= repeats eth0's address: never given to a second NIC.
        "openstack/latest/user_data": f"#!/bin/true\npeers={B_IP}\n"
                                      f"ip={A_IP}/25\n",
        "openstack/latest/network_data.json": json.dumps(a_data),
    })
    # Guest B: a vfat config drive on virtio-blk; its network is DHCP (no
    # address in network_data.json) and user_data's ip= is the fallback.
    b_data = nova_network_data(
        [("tapb", B_MAC)],
        [{"id": "network0", "type": "ipv4_dhcp", "link": "tapb",
          "network_id": "net-0"}])
    b_drive = workdir / "b.img"
    vfat_config_drive(b_drive, {
        "openstack/latest/user_data": f"peers={A_IP}\r\nip={B_IP}/25\r\n",
        "openstack/latest/network_data.json": json.dumps(b_data),
    })

    a = start("a", A_MAC, "tapa", [
        # A free PCIe slot for the hot-plug below (as libvirt adds).
        "-device", "pcie-root-port,id=rp1,chassis=1,slot=1",
        "-device", "virtio-scsi-pci,id=scsi0",
        "-drive", f"file={a_drive},if=none,id=cd0,media=cdrom,"
                  "readonly=on,format=raw",
        "-device", "scsi-cd,drive=cd0,bus=scsi0.0"])
    b = start("b", B_MAC, "tapb", [
        "-drive", f"file={b_drive},if=none,id=vd0,format=raw,readonly=on",
        "-device", "virtio-blk-pci,drive=vd0"])

    ready = {g.name: g.wait_for("GUEST READY") for g in (a, b)}
    assert lines(a)[:3] == ["CONFIG-DRIVE FOUND /dev/sr0",
                            f"NIC eth0 UP {A_MAC} {A_IP}/25", "GUEST READY"]
    assert lines(b)[:3] == ["CONFIG-DRIVE FOUND /dev/vda",
                            f"NIC eth0 UP {B_MAC} {B_IP}/25", "GUEST READY"]
    first_ok = {a.name: a.wait_for(f"PEER {B_IP} OK"),
                b.name: b.wait_for(f"PEER {A_IP} OK")}

    # B's tap goes down: A's pings to B fail from then on.
    mark = len(a.text())
    ip("-n", ns, "link", "set", "tapb", "down")
    a.wait_for(f"PEER {B_IP} FAIL", after=mark, timeout=CHANGE_TIMEOUT)
    # ... and come back when it is up again.
    ip("-n", ns, "link", "set", "tapb", "up")
    a.wait_for(f"PEER {B_IP} OK", after=len(a.text()),
               timeout=CHANGE_TIMEOUT)

    # A NIC hot-plugged into A is found by the guest's next scan and
    # gets the address network_data.json has for its MAC.
    a.qmp_command("netdev_add", type="tap", id="n1", ifname="tapa2",
                  script="no", downscript="no")
    a.qmp_command("device_add", driver="virtio-net-pci", netdev="n1",
                  mac=A_HOT_MAC, bus="rp1", id="nic1", romfile="")
    a.wait_for(f"NIC eth1 UP {A_HOT_MAC} {A_HOT_IP}/25",
               timeout=CHANGE_TIMEOUT)
    # Unplugged, and a NIC of a MAC nobody gave an address plugged in
    # (same name, a new device): seen, but no address (ip= is eth0's, DHCP
    # has no server).
    a.qmp_command("device_del", id="nic1")
    deadline = time.monotonic() + CHANGE_TIMEOUT
    while "nic1" in {p["name"] for p in a.qmp_command(
            "qom-list", path="/machine/peripheral")["return"]}:
        assert time.monotonic() < deadline, "guest a never released nic1"
        time.sleep(0.5)
    mark = len(a.text())
    a.qmp_command("device_add", driver="virtio-net-pci", netdev="n1",
                  mac="fa:16:3e:00:0a:03", bus="rp1", id="nic1",
                  romfile="")
    a.wait_for("NIC eth1 NOADDR", after=mark, timeout=CHANGE_TIMEOUT)
    a.wait_for(f"PEER {B_IP} OK", after=len(a.text()),
               timeout=CHANGE_TIMEOUT)

    with capsys.disabled():
        print(f"\nguest boot under TCG (s): GUEST READY "
              f"a={ready['a']:.1f} b={ready['b']:.1f}; first PEER OK "
              f"a={first_ok['a']:.1f} b={first_ok['b']:.1f}")


def test_guest_without_config_drive_says_so(guests):
    ns, _workdir, _started, start = guests
    add_tap(ns, "tapc")
    c = start("c", "fa:16:3e:00:0c:01", "tapc", [])
    # No config drive: no address from anywhere, DHCP finds no server.
    c.wait_for("GUEST READY")
    time.sleep(5)  # a few rounds of the loop: no peers, no PEER lines
    assert lines(c) == ["CONFIG-DRIVE MISSING", "NIC eth0 NOADDR",
                        "GUEST READY"]
    # Its first line names this boot (a reader tells a restarted guest's
    # new console from the old one by it).
    boot = [ln for ln in c.text().split("\n") if ln.startswith("BOOT ")]
    assert len(boot) == 1
    assert re.fullmatch(r"BOOT [0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}",
                        boot[0].rstrip("\r"))


def test_pc_machine_ide_cdrom_and_ip_by_mac_from_user_data(guests, workdir):
    """Machine type ``pc`` (Nova's default): the config drive is an IDE
    CD-ROM; no network_data.json, the address is user_data's ip.<mac>=,
    which comes before its ip=."""
    ns, workdir, _started, start = guests
    add_tap(ns, "tapd")
    drive = workdir / "d.iso"
    iso_config_drive(drive, {
        "openstack/latest/user_data": "ip=203.0.113.99/24\n"
                                      "ip.FA:16:3E:00:0D:01=203.0.113.20/24\n"
                                      "peers=203.0.113.20\n"})
    d = start("d", "fa:16:3e:00:0d:01", "tapd", [
        "-drive", f"file={drive},if=ide,media=cdrom,readonly=on,"
                  "format=raw"], machine="pc")
    d.wait_for("PEER 203.0.113.20 OK")  # itself: the address is up
    assert lines(d)[:3] == [
        "CONFIG-DRIVE FOUND /dev/sr0",
        "NIC eth0 UP fa:16:3e:00:0d:01 203.0.113.20/24", "GUEST READY"]


def test_nothing_left_behind():
    """Runs last in this module: no namespace or QEMU of ours remains."""
    out = subprocess.run(["ip", "netns", "list"], capture_output=True,
                         text=True, timeout=30, check=True).stdout
    assert not [n for n in out.split() if n.startswith("ovp-img-")]
    mine = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            cmdline = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"ovp-img-" in cmdline and b"qemu" in cmdline:
                mine.append(pid)
    assert not mine
    tmp = pathlib.Path(tempfile.gettempdir())
    assert not list(tmp.glob("ovp-img-*"))
