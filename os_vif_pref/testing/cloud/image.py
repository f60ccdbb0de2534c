"""The guest image the one-machine cloud boots, built at test time.

A test cloud has no internet for its guests and the machine's KVM cannot
run them (QEMU runs under TCG), so the guest has to be tiny and made here:
Debian's cloud kernel (``linux-image-cloud-amd64``, fetched as a ``.deb``
with ``apt-get download`` into a cache, never installed) plus an initramfs
of ``busybox-static`` and the few modules the guest needs.  Its ``/init``
reads the OpenStack config drive, brings its NICs up and reports on the
serial console, forever, whether it reaches the peers it was told about, so
a test reading ``openstack console log show`` sees traffic start and stop.

What the guest reads (config drive, filesystem label ``config-2``: an
iso9660 CD-ROM such as ``/dev/sr0`` on virtio-scsi, or a vfat/iso9660 disk
``/dev/vd*``):

* ``openstack/latest/network_data.json`` (Nova's format): every network of
  type ``ipv4`` gives ``ip_address``/``netmask`` to the NIC whose MAC is
  its link's ``ethernet_mac_address``;
* ``openstack/latest/user_data``: a line ``peers=IP1,IP2`` (whom to ping)
  and, optionally, ``ip.<mac>=ADDR/PREFIX`` (for the NIC with that MAC,
  e.g. one attached later, which network_data.json never lists) and
  ``ip=ADDR/PREFIX`` (for the first NIC that has no address from the
  lines before and that no other NIC has already); a NIC with none of
  these tries DHCP (``udhcpc``, ~4 s, once).

What it prints on the serial console (``console=ttyS0``), one line each::

    BOOT <boot id>                          (random per boot)
    CONFIG-DRIVE FOUND <dev>  |  CONFIG-DRIVE MISSING
    NIC <ifname> UP <mac> <ip>/<prefix>  |  NIC <ifname> NOADDR  |  NIC NONE
    GUEST READY
    PEER <ip> OK  |  PEER <ip> FAIL        (every ~2 s, one per peer)

and a ``NIC`` line for every NIC that appears later (hot-attach).

Usage: ``build_guest_image(cache_dir)`` returns the kernel, the initramfs
and the kernel command line :data:`GUEST_CMDLINE` (for Glance: kernel and
ramdisk images and the ``os_command_line`` property).  The result is cached
by content: it is rebuilt only when the kernel package, busybox or this
module's scripts change.  ``python -m os_vif_pref.testing.cloud.image DIR``
builds it from the command line.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import gzip
import hashlib
import json
import lzma
import os
import pathlib
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from typing import Optional

__all__ = [
    "GUEST_CMDLINE",
    "GuestImage",
    "GuestImageError",
    "build_guest_image",
    "default_cache_dir",
]

#: The guest kernel's command line.  ``pci=nomsi``: QEMU 7.2 under TCG
#: segfaults in ``vhost_net_start -> msix_set_vector_notifiers`` when a guest
#: driver starts a vhost-user NIC with MSI-X; without MSI it works (and Nova
#: can only express this through the image's ``os_command_line``, which
#: replaces its whole default command line, hence the console here).
#: ``panic=-1``: a guest whose ``/init`` dies reboots at once instead of
#: hanging silently.  ``quiet``: kernel chatter stays off the console lines
#: tests parse.
GUEST_CMDLINE = "console=ttyS0 pci=nomsi panic=-1 quiet"

#: Debian's meta package; it depends on the current cloud kernel.
KERNEL_META_PACKAGE = "linux-image-cloud-amd64"

#: Modules the guest loads (plus what they depend on); those built into the
#: kernel or missing from it are skipped.  virtio-pci/net for the NICs;
#: virtio-scsi + sr_mod + isofs for Nova's config drive as a CD-ROM (the
#: cloud kernel has no AHCI driver, so not on q35's default SATA bus: give
#: the image ``hw_cdrom_bus=scsi`` and ``hw_scsi_model=virtio-scsi``);
#: ata_piix for the IDE CD-ROM of machine type ``pc``; virtio-blk/sd_mod +
#: vfat/nls for the drive as a disk.
WANTED_MODULES = (
    "virtio_pci", "virtio_net", "virtio_blk", "virtio_scsi",
    "scsi_mod", "sd_mod", "sr_mod", "cdrom", "isofs", "ata_piix",
    "fat", "vfat", "nls_cp437", "nls_iso8859_1", "nls_utf8", "nls_ascii",
)

#: Bump when the build changes in a way the inputs below do not show.
_BUILD_FORMAT = 1

#: Bounds of the subprocesses (seconds); a download of ~27 MB from a mirror.
_APT_TIMEOUT = 300.0
_EXTRACT_TIMEOUT = 120.0
#: How long to wait for another process building into the same cache.
_LOCK_TIMEOUT = 600.0

# The awk program /init runs on network_data.json.  It is a data file of
# the initramfs (/etc/ovp/netdata.awk) so that tests run the very same
# program with the host's busybox.  Output, one line per IPv4 network:
# "<mac> <address>/<prefix>" (type ipv4) or "<mac> dhcp" (type ipv4_dhcp);
# <mac> is the lower-case ethernet_mac_address of the network's link, "-"
# when it has none.
NETDATA_AWK = r"""# Nova's network_data.json -> "<mac> <addr>/<prefix>" lines.
# A small JSON flattener: every scalar becomes val["a.0.b"] (object keys
# and array indexes joined with dots), so the routes' own "netmask" keys
# (networks.N.routes.M.netmask) never mix with the network's.
function prefix(nm,    n, i, o, parts, b) {
    if (nm ~ /^[0-9]+$/) return nm
    n = split(nm, parts, ".")
    if (n != 4) return ""
    b = 0
    for (i = 1; i <= 4; i++) {
        o = parts[i] + 0
        while (o > 0) { b += o % 2; o = int(o / 2) }
    }
    return b
}
function here(    p, j) {
    p = key[1]
    for (j = 2; j <= depth; j++) p = p "." key[j]
    return p
}
function arrpath(    p, j) {
    p = ""
    for (j = 1; j < depth; j++) p = (j == 1 ? key[j] : p "." key[j])
    return p
}
function start_value() {
    if (depth > 0 && ctype[depth] == "a")
        cnt[arrpath()] = key[depth] + 1
}
function value(v) { start_value(); val[here()] = v }
{ s = s $0 "\n" }
END {
    n = length(s); i = 1; depth = 0; expect_key = 0
    while (i <= n) {
        c = substr(s, i, 1)
        if (c == "{" || c == "[") {
            start_value()
            depth++
            ctype[depth] = (c == "{") ? "o" : "a"
            key[depth] = (c == "{") ? "" : 0
            expect_key = (c == "{")
            i++
        } else if (c == "}" || c == "]") {
            depth--; i++
        } else if (c == ",") {
            if (ctype[depth] == "a") key[depth]++
            else expect_key = 1
            i++
        } else if (c == ":") {
            expect_key = 0; i++
        } else if (c == "\"") {
            str = ""; i++
            while (i <= n) {
                c = substr(s, i, 1)
                if (c == "\\") {
                    str = str substr(s, i + 1, 1); i += 2; continue
                }
                if (c == "\"") { i++; break }
                str = str c; i++
            }
            if (ctype[depth] == "o" && expect_key) key[depth] = str
            else value(str)
        } else if (c ~ /[ \t\r\n]/) {
            i++
        } else {
            tok = ""
            while (i <= n) {
                c = substr(s, i, 1)
                if (c ~ /[],} \t\r\n]/) break
                tok = tok c; i++
            }
            value(tok)
        }
    }
    for (l = 0; l < cnt["links"]; l++) {
        id = val["links." l ".id"]
        m = val["links." l ".ethernet_mac_address"]
        if (id != "") mac[id] = tolower(m)
    }
    for (k = 0; k < cnt["networks"]; k++) {
        p = "networks." k "."
        m = val[p "link"]
        m = (m in mac && mac[m] != "") ? mac[m] : "-"
        if (val[p "type"] == "ipv4" && val[p "ip_address"] != "") {
            pl = prefix(val[p "netmask"])
            print m, val[p "ip_address"] "/" (pl == "" ? 32 : pl)
        } else if (val[p "type"] == "ipv4_dhcp") {
            print m, "dhcp"
        }
    }
}
"""

# Debian's busybox udhcpc runs this script (its compiled-in default path).
UDHCPC_SCRIPT = r"""#!/bin/sh
# udhcpc event script of the test guest: sets the lease's address (and
# default route) and records "<ip>/<prefix>" for /init in /run/dhcp.<if>.
case "$1" in
deconfig)
    ip addr flush dev "$interface"
    ip link set "$interface" up
    ;;
bound|renew)
    p="$mask"
    if [ -z "$p" ]; then
        p=$(echo "$subnet" | awk -F. '{b=0; for (i=1;i<=4;i++) {o=$i+0;
            while (o>0) {b+=o%2; o=int(o/2)}}; print b}')
    fi
    ip addr flush dev "$interface"
    ip addr add "$ip/$p" dev "$interface"
    if [ -n "$router" ]; then
        ip route replace default via "${router%% *}" dev "$interface"
    fi
    echo "$ip/$p" > "/run/dhcp.$interface"
    ;;
esac
exit 0
"""

INIT_SCRIPT = r"""#!/bin/busybox sh
# /init of the os-vif-pref test guest (os_vif_pref.testing.cloud.image).
# Reads the config drive, brings the NICs up, then reports forever on the
# console whether the peers answer a ping.  Console lines (the contract):
#   BOOT <boot id>
#   CONFIG-DRIVE FOUND <dev> | CONFIG-DRIVE MISSING
#   NIC <if> UP <mac> <ip>/<prefix> | NIC <if> NOADDR | NIC NONE
#   GUEST READY
#   PEER <ip> OK | PEER <ip> FAIL
/bin/busybox mkdir -p /proc /sys /dev /tmp /run /mnt/config /sbin \
    /usr/bin /usr/sbin
/bin/busybox --install -s
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
# Our lines start at a line start (the firmware leaves escapes before).
echo
# Which boot this is: a guest started again (hard reboot, stop/start) prints
# a new one, so a reader tells a new console from an old one.
echo "BOOT $(cat /proc/sys/kernel/random/boot_id)"

while read -r m; do
    insmod "/lib/modules/$m" || echo "MODULE $m FAILED"
done < /lib/modules/load-order
# Kernel messages from now on (e.g. a hot-attached NIC) would cut our lines.
dmesg -n 1
ip link set lo up  # a peer list may name the guest itself

# The config drive: label config-2 first, then every block device whose
# iso9660/vfat filesystem has openstack/latest.  SCSI scans are
# asynchronous: retry for ~10 s.
CONFIG_DEV=
try_mount() {
    for t in iso9660 vfat; do
        if mount -t "$t" -o ro "$1" /mnt/config 2>/dev/null; then
            [ -d /mnt/config/openstack/latest ] && return 0
            umount /mnt/config
        fi
    done
    return 1
}
i=0
while [ $i -lt 20 ] && [ -z "$CONFIG_DEV" ]; do
    for d in $(findfs LABEL=config-2 2>/dev/null) /dev/sr* /dev/vd* /dev/sd*
    do
        [ -b "$d" ] || continue
        if try_mount "$d"; then CONFIG_DEV=$d; break; fi
    done
    [ -n "$CONFIG_DEV" ] || sleep 0.5
    i=$((i + 1))
done
: > /run/user_data
: > /run/network_data.json
if [ -n "$CONFIG_DEV" ]; then
    echo "CONFIG-DRIVE FOUND $CONFIG_DEV"
    L=/mnt/config/openstack/latest
    [ -f $L/user_data ] && tr -d '\r' < $L/user_data > /run/user_data
    [ -f $L/network_data.json ] && cp $L/network_data.json /run/
    umount /mnt/config
else
    echo "CONFIG-DRIVE MISSING"
fi

PEERS=$(sed -n 's/^[[:space:]]*peers=//p' /run/user_data | tail -n 1 \
    | tr ',' ' ')
UD_IP=$(sed -n 's/^[[:space:]]*ip=//p' /run/user_data | tail -n 1 \
    | tr -d ' \t')
awk -f /etc/ovp/netdata.awk /run/network_data.json > /run/netaddrs
# user_data's "ip.<mac>=ADDR/PREFIX": for a NIC network_data.json does not
# know (a port attached later, whose MAC the test chose).
awk -F= '/^[[:space:]]*ip\.[0-9A-Fa-f:]+=/ {
    sub(/^[[:space:]]*ip\./, "", $1); v = $2; gsub(/[[:space:]]/, "", v)
    print tolower($1), v }' /run/user_data >> /run/netaddrs
# Addresses for NICs no network gives one by MAC, in order: networks
# whose link has no MAC, then user_data's ip=.
FALLBACK=$(awk '$1 == "-" && $2 != "dhcp" { print $2 }' /run/netaddrs)
FALLBACK="$FALLBACK $UD_IP"

setup_nic() {
    ifc=$1
    mac=$(cat "/sys/class/net/$ifc/address")
    addr=$(awk -v m="$mac" '$1 == m && $2 != "dhcp" { print $2; exit }' \
        /run/netaddrs)
    # Else the next fallback no other NIC has (user_data's ip= may repeat
    # what network_data.json gave eth0).
    while [ -z "$addr" ]; do
        set -- $FALLBACK
        [ $# -gt 0 ] || break
        addr=$1; shift; FALLBACK="$*"
        ip -o -4 addr show | grep -q " inet ${addr%/*}/" && addr=
    done
    ip link set "$ifc" up
    if [ -n "$addr" ] && ip addr add "$addr" dev "$ifc"; then
        echo "NIC $ifc UP $mac $addr"
        return
    fi
    rm -f "/run/dhcp.$ifc"
    udhcpc -f -n -q -t 3 -T 1 -A 1 -i "$ifc" >/dev/null 2>&1
    if [ -s "/run/dhcp.$ifc" ]; then
        echo "NIC $ifc UP $mac $(cat "/run/dhcp.$ifc")"
    else
        echo "NIC $ifc NOADDR"
    fi
}

# NICs are keyed by name and ifindex: one detached and attached again
# (same name, new device) is set up again.
KNOWN=" "
scan_nics() {
    found=0
    now=" "
    for sp in /sys/class/net/*; do
        [ -e "$sp/device" ] || continue
        n=${sp##*/}
        k="$n:$(cat "$sp/ifindex")"
        found=1
        now="$now$k "
        case "$KNOWN" in *" $k "*) continue ;; esac
        setup_nic "$n"
    done
    KNOWN=$now
}

scan_nics
[ "$found" = 1 ] || echo "NIC NONE"
echo "GUEST READY"
while :; do
    for p in $PEERS; do
        if ping -c 1 -W 1 "$p" >/dev/null 2>&1; then
            echo "PEER $p OK"
        else
            echo "PEER $p FAIL"
        fi
    done
    sleep 2
    scan_nics
done
"""


class GuestImageError(RuntimeError):
    """The guest image could not be built; the message names the step."""


@dataclasses.dataclass(frozen=True)
class GuestImage:
    """A built guest: boot ``kernel`` with ``initramfs`` and ``cmdline``."""

    kernel: pathlib.Path
    initramfs: pathlib.Path
    cmdline: str
    #: ``uname -r`` of the guest kernel, e.g. ``6.1.0-57-cloud-amd64``.
    kernel_release: str
    #: Content key of the build (hash of every input).
    key: str


def default_cache_dir() -> pathlib.Path:
    """Where tests keep the image: ``$OS_VIF_PREF_CACHE_DIR``, else the
    user's cache directory (the kernel download is kept between runs)."""
    env = os.environ.get("OS_VIF_PREF_CACHE_DIR")
    if env:
        return pathlib.Path(env) / "guest-image"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "os-vif-pref" / "guest-image"


def build_guest_image(cache_dir: pathlib.Path, *,
                      kernel_deb: Optional[pathlib.Path] = None
                      ) -> GuestImage:
    """Build (or find in ``cache_dir``) the guest kernel and initramfs.

    ``kernel_deb``: a Debian cloud kernel package to use instead of the
    one ``apt-get download`` fetches (offline machines).  Without network,
    the newest kernel package already in the cache is used.  Raises
    :class:`GuestImageError` naming the step that failed.
    """
    cache_dir = pathlib.Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    with _locked(cache_dir / ".lock"):
        # We hold the lock: build directories left over are from a killed
        # build.
        for stale in cache_dir.glob(".build-*"):
            shutil.rmtree(stale, ignore_errors=True)
        if kernel_deb is None:
            deb, deb_sha = _fetch_kernel_deb(cache_dir / "debs")
        else:
            deb = pathlib.Path(kernel_deb)
            if not deb.is_file():
                raise GuestImageError(f"kernel package {deb} does not exist")
            deb_sha = _sha256(deb)
        busybox = _static_busybox()
        key = _build_key(deb_sha, _sha256(busybox))
        out = cache_dir / f"guest-{key[:20]}"
        manifest = out / "image.json"
        if not manifest.is_file():
            _build(deb, busybox, key, out, cache_dir)
        info = json.loads(manifest.read_text())
    return GuestImage(kernel=out / "vmlinuz", initramfs=out / "initrd.img",
                      cmdline=GUEST_CMDLINE,
                      kernel_release=info["kernel_release"], key=key)


def _build_key(deb_sha: str, busybox_sha: str) -> str:
    """Hash of every input of the image: rebuild exactly when one
    changes."""
    inputs = {
        "format": _BUILD_FORMAT,
        "kernel_deb": deb_sha,
        "busybox": busybox_sha,
        "init": INIT_SCRIPT,
        "netdata_awk": NETDATA_AWK,
        "udhcpc": UDHCPC_SCRIPT,
        "modules": WANTED_MODULES,
    }
    blob = json.dumps(inputs, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()


@contextlib.contextmanager
def _locked(path: pathlib.Path):
    """An exclusive lock on the cache: two test processes building at once
    would otherwise download and write the same files."""
    with open(path, "a") as f:
        deadline = time.monotonic() + _LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() > deadline:
                    raise GuestImageError(
                        f"another process held the guest image cache lock "
                        f"{path} for more than {_LOCK_TIMEOUT:.0f} s"
                    ) from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _run(what: str, cmd: list[str], timeout: float,
         cwd: Optional[pathlib.Path] = None) -> str:
    """Run ``cmd``; on failure raise naming ``what`` with stderr's tail."""
    env = dict(os.environ, LC_ALL="C")
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True,
                              text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise GuestImageError(
            f"{what} failed: {cmd[0]} is not installed") from None
    except subprocess.TimeoutExpired:
        raise GuestImageError(
            f"{what} did not finish within {timeout:.0f} s: "
            f"{' '.join(cmd)}") from None
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip()
                         .splitlines()[-10:])
        raise GuestImageError(
            f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n"
            f"{tail}")
    return proc.stdout


def _sha256(path: pathlib.Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _apt_lists_stamp() -> Optional[str]:
    """What apt's package lists are (names, sizes, mtimes): the kernel
    to use changes only when they do (``apt-get update``)."""
    lists = pathlib.Path("/var/lib/apt/lists")
    try:
        entries = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns)
                         for p in lists.iterdir() if p.is_file())
    except OSError:
        return None
    return hashlib.sha256(repr(entries).encode()).hexdigest()


def _resolve_kernel_package() -> dict[str, str]:
    """The current cloud kernel package: name, version, file, SHA-256."""
    meta = _run(f"apt-cache show {KERNEL_META_PACKAGE}",
                ["apt-cache", "show", "--no-all-versions",
                 KERNEL_META_PACKAGE], 60)
    found = re.search(r"^Depends:.*?(linux-image-[^\s,(]+)", meta,
                      re.MULTILINE)
    if not found:
        raise GuestImageError(
            f"apt-cache show {KERNEL_META_PACKAGE} names no kernel package "
            f"(run apt-get update?):\n{meta.strip()[-500:]}")
    pkg = found.group(1)
    show = _run(f"apt-cache show {pkg}",
                ["apt-cache", "show", "--no-all-versions", pkg], 60)
    fields = dict(re.findall(r"^(\w+): *(.*)$", show, re.MULTILINE))
    try:
        return {"package": pkg, "version": fields["Version"],
                "file": pathlib.PurePosixPath(fields["Filename"]).name,
                "sha256": fields["SHA256"]}
    except KeyError as exc:
        raise GuestImageError(
            f"apt-cache show {pkg} has no {exc} field") from None


def _fetch_kernel_deb(debs: pathlib.Path) -> tuple[pathlib.Path, str]:
    """The current cloud kernel's ``.deb`` (and its SHA-256) in ``debs``,
    downloaded only when the cached file is not the candidate version.

    Which package is current is remembered until apt's lists change:
    ``apt-cache`` takes over a second per call where its binary cache is
    disabled (Debian's container images), most of a warm build.
    """
    debs.mkdir(parents=True, exist_ok=True)
    memo = debs / "resolved.json"
    stamp = _apt_lists_stamp()
    want: Optional[dict[str, str]] = None
    with contextlib.suppress(OSError, ValueError):
        saved = json.loads(memo.read_text())
        if stamp is not None and saved.get("stamp") == stamp:
            want = saved["package"]
    if want is None:
        try:
            want = _resolve_kernel_package()
        except GuestImageError:
            cached = sorted(debs.glob("linux-image-*-cloud-amd64_*.deb"),
                            key=lambda p: p.stat().st_mtime)
            if cached:  # offline: the newest kernel we already have
                return cached[-1], _sha256(cached[-1])
            raise
        memo.write_text(json.dumps({"stamp": stamp, "package": want}))
    pkg, version, sha = want["package"], want["version"], want["sha256"]
    path = debs / want["file"]
    if path.is_file() and _sha256(path) == sha:
        return path, sha
    cmd = ["apt-get", "download", "-q"]
    if os.geteuid() == 0:  # else apt warns that _apt cannot write here
        cmd += ["-o", "APT::Sandbox::User=root"]
    _run(f"apt-get download {pkg}={version}",
         cmd + [f"{pkg}={version}"], _APT_TIMEOUT, cwd=debs)
    if not path.is_file():
        raise GuestImageError(
            f"apt-get download {pkg}={version} did not write {path}")
    got = _sha256(path)
    if got != sha:
        path.unlink()
        raise GuestImageError(
            f"{path}: SHA-256 {got}, the archive says {sha}")
    for old in debs.glob("linux-image-*.deb"):
        if old != path:
            old.unlink()
    return path, sha


def _elf_header(data: bytes, what: str) -> None:
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise GuestImageError(f"{what} is not a 64-bit little-endian ELF")


def _static_busybox() -> pathlib.Path:
    """The host's statically linked busybox (package ``busybox-static``):
    the initramfs has no C library for a dynamic one."""
    candidates = [shutil.which("busybox"), "/bin/busybox", "/usr/bin/busybox"]
    seen = []
    for c in candidates:
        if not c or c in seen or not os.path.isfile(c):
            continue
        seen.append(c)
        data = pathlib.Path(c).read_bytes()
        _elf_header(data, c)
        phoff = struct.unpack_from("<Q", data, 0x20)[0]
        phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
        interp = any(
            struct.unpack_from("<I", data, phoff + i * phentsize)[0] == 3
            for i in range(phnum))  # PT_INTERP: dynamically linked
        if not interp:
            return pathlib.Path(c)
    raise GuestImageError(
        "no statically linked busybox found (install busybox-static); "
        f"looked at: {', '.join(seen) or 'none on PATH'}")


def _modinfo(data: bytes, what: str) -> dict[str, str]:
    """A kernel module's ``.modinfo`` section (``name``, ``depends``...).

    The kernel package has no ``modules.dep`` (``depmod`` makes it at
    install time), so dependencies come from the modules themselves.
    """
    _elf_header(data, what)
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)

    def section(i: int) -> tuple[int, int, int]:
        name, _type, _flags, _addr, off, size = struct.unpack_from(
            "<IIQQQQ", data, shoff + i * shentsize)
        return name, off, size

    _n, stroff, _s = section(shstrndx)
    for i in range(shnum):
        name, off, size = section(i)
        end = data.index(b"\0", stroff + name)
        if data[stroff + name:end] == b".modinfo":
            info: dict[str, str] = {}
            for item in data[off:off + size].split(b"\0"):
                k, sep, v = item.decode("utf-8", "replace").partition("=")
                if sep:
                    info.setdefault(k, v)
            return info
    raise GuestImageError(f"{what} has no .modinfo section")


def _module_bytes(path: pathlib.Path) -> bytes:
    """A module's ELF, decompressed: busybox insmod loads plain files."""
    name = path.name
    if name.endswith(".ko"):
        return path.read_bytes()
    if name.endswith(".ko.xz"):
        return lzma.decompress(path.read_bytes())
    if name.endswith(".ko.gz"):
        return gzip.decompress(path.read_bytes())
    raise GuestImageError(
        f"{path}: compressed in a format this builder does not read")


def _modules(moddir: pathlib.Path) -> list[tuple[str, bytes]]:
    """The wanted modules and their dependencies, dependencies first, as
    ``(file name, ELF bytes)``; built-in and absent ones left out."""
    builtin = set()
    builtin_file = moddir / "modules.builtin"
    if builtin_file.is_file():
        for line in builtin_file.read_text().split():
            builtin.add(re.sub(r"\.ko$", "", line.rsplit("/", 1)[-1])
                        .replace("-", "_"))
    files: dict[str, pathlib.Path] = {}
    for p in (moddir / "kernel").rglob("*.ko*"):
        files[re.sub(r"\.ko(\.\w+)?$", "", p.name).replace("-", "_")] = p
    order: list[tuple[str, bytes]] = []
    done: set[str] = set()

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if name in done or name in builtin:
            return
        if name in chain:
            raise GuestImageError(
                f"module dependency cycle: {' -> '.join(chain + (name,))}")
        path = files.get(name)
        if path is None:
            if chain:  # a dependency the kernel package lacks
                raise GuestImageError(
                    f"module {chain[-1]} needs {name}, which is neither "
                    f"built in nor in {moddir}")
            return  # a wanted module this kernel does not have
        data = _module_bytes(path)
        info = _modinfo(data, str(path))
        for dep in filter(None, info.get("depends", "").split(",")):
            visit(dep.replace("-", "_"), chain + (name,))
        done.add(name)
        order.append((f"{name}.ko", data))

    for name in WANTED_MODULES:
        visit(name, ())
    return order


class _Cpio:
    """A ``newc`` cpio archive (what the kernel unpacks as initramfs),
    written here so that ``/dev/console`` can be a device node without
    ``mknod`` privileges and the archive is reproducible (mtime 0)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.ino = 1

    def add(self, name: str, mode: int, data: bytes = b"",
            rdev: tuple[int, int] = (0, 0)) -> None:
        encoded = name.encode() + b"\0"
        fields = (self.ino, mode, 0, 0, 1, 0, len(data), 0, 0,
                  rdev[0], rdev[1], len(encoded), 0)
        header = b"070701" + b"".join(b"%08x" % f for f in fields)
        self.ino += 1
        self.parts += [header, encoded, b"\0" * (-(110 + len(encoded)) % 4),
                       data, b"\0" * (-len(data) % 4)]

    def dir(self, name: str) -> None:
        self.add(name, 0o040755)

    def file(self, name: str, data: bytes, perm: int = 0o644) -> None:
        self.add(name, 0o100000 | perm, data)

    def chardev(self, name: str, major: int, minor: int) -> None:
        self.add(name, 0o020600, rdev=(major, minor))

    def getvalue(self) -> bytes:
        self.add("TRAILER!!!", 0)
        return b"".join(self.parts)


def _build(deb: pathlib.Path, busybox: pathlib.Path, key: str,
           out: pathlib.Path, cache_dir: pathlib.Path) -> None:
    """Extract the kernel package, write kernel + initramfs to ``out``."""
    work = pathlib.Path(tempfile.mkdtemp(prefix=".build-", dir=cache_dir))
    try:
        root = work / "root"
        _run(f"dpkg-deb -x {deb.name}", ["dpkg-deb", "-x", str(deb),
                                         str(root)], _EXTRACT_TIMEOUT)
        kernels = sorted((root / "boot").glob("vmlinuz-*"))
        if len(kernels) != 1:
            raise GuestImageError(
                f"{deb.name}: expected one boot/vmlinuz-*, found "
                f"{[k.name for k in kernels]}")
        release = kernels[0].name[len("vmlinuz-"):]
        moddirs = [d for d in (root / "lib" / "modules" / release,
                               root / "usr" / "lib" / "modules" / release)
                   if d.is_dir()]
        if not moddirs:
            raise GuestImageError(f"{deb.name}: no modules for {release}")
        modules = _modules(moddirs[0])
        loaded = [name for name, _ in modules]
        missing = [m for m in ("virtio_pci", "virtio_net")
                   if f"{m}.ko" not in loaded]
        if missing and not _builtin(moddirs[0], missing):
            raise GuestImageError(
                f"kernel {release} has no {', '.join(missing)}")

        cpio = _Cpio()
        for d in ("bin", "dev", "etc", "etc/udhcpc", "etc/ovp", "lib",
                  "lib/modules", "mnt", "proc", "root", "run", "sbin",
                  "sys", "tmp", "usr", "usr/bin", "usr/sbin"):
            cpio.dir(d)
        cpio.chardev("dev/console", 5, 1)
        cpio.chardev("dev/null", 1, 3)
        cpio.file("bin/busybox", busybox.read_bytes(), 0o755)
        cpio.file("init", INIT_SCRIPT.encode(), 0o755)
        cpio.file("etc/udhcpc/default.script", UDHCPC_SCRIPT.encode(),
                  0o755)
        cpio.file("etc/ovp/netdata.awk", NETDATA_AWK.encode())
        for name, data in modules:
            cpio.file(f"lib/modules/{name}", data)
        cpio.file("lib/modules/load-order",
                  "".join(f"{n}\n" for n in loaded).encode())

        stage = work / "out"
        stage.mkdir()
        shutil.copyfile(kernels[0], stage / "vmlinuz")
        with open(stage / "initrd.img", "wb") as raw, gzip.GzipFile(
                fileobj=raw, mode="wb", compresslevel=6, mtime=0) as gz:
            gz.write(cpio.getvalue())
        (stage / "image.json").write_text(json.dumps({
            "key": key, "kernel_release": release, "kernel_deb": deb.name,
            "modules": loaded, "cmdline": GUEST_CMDLINE,
        }, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        stage.rename(out)
        # Images of older inputs: nothing uses them once they are uploaded
        # or booted (QEMU reads kernel and initramfs at start).
        for old in cache_dir.glob("guest-*"):
            if old != out:
                shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _builtin(moddir: pathlib.Path, names: list[str]) -> bool:
    text = (moddir / "modules.builtin").read_text() if (
        moddir / "modules.builtin").is_file() else ""
    return all(f"/{n}.ko" in text for n in names)


def main(argv: Optional[list[str]] = None) -> int:
    """``python -m os_vif_pref.testing.cloud.image [CACHE_DIR]``: build
    and print the paths and command line as JSON."""
    args = sys.argv[1:] if argv is None else argv
    cache = pathlib.Path(args[0]) if args else default_cache_dir()
    start = time.monotonic()
    try:
        image = build_guest_image(cache)
    except GuestImageError as exc:
        print(f"guest image: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({
        "kernel": str(image.kernel), "initramfs": str(image.initramfs),
        "cmdline": image.cmdline, "kernel_release": image.kernel_release,
        "seconds": round(time.monotonic() - start, 2),
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
