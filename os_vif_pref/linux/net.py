"""Privileged Linux network-device operations, all through netlink (pyroute2).

Every public function decorated with ``privsep.vif_plug.entrypoint`` runs in
the privsep daemon, takes only primitives and validates each argument there
(the daemon must not trust its caller).  All of them are idempotent: calling
twice converges to the same state, and absent devices are not an error where
the intent is removal.

Why some things look the way they do:

* One pyroute2 socket per daemon thread, reused: opening one costs more than
  a whole netlink round trip, and pyroute2 sockets are not thread-safe.
* Existence checks use ``if_nametoindex()`` (an ioctl on a socket of the
  caller's network namespace, microseconds, no privilege) rather than a
  netlink dump.
* Deleting a device costs ~16 ms of kernel time (RCU grace periods in
  ``unregister_netdevice``) whatever the tool, but deleting many in one
  ``RTM_DELLINK`` by *group* costs about the same as deleting one.  So
  :func:`delete_net_devs` *retires* devices: brings them down, detaches them,
  renames them out of the way (the name is free again at once) and tags them
  with this daemon's reap group; a reaper thread deletes the whole group in
  one request a few milliseconds later.  :func:`flush_deleted` waits for it.
* Tap devices are created with the TUN ioctls (the kernel does not create tun
  devices over rtnetlink); every other step is netlink.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import pwd
import random
import socket
import struct
import threading
import time
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from os_vif_pref import exceptions, privsep, validate

LOG = logging.getLogger(__name__)

# TUN ioctls (linux/if_tun.h); identical on every architecture pyroute2 and
# os-vif support that uses the generic _IOW encoding.
_TUNSETIFF = 0x400454CA
_TUNSETPERSIST = 0x400454CB
_TUNSETOWNER = 0x400454CC
_IFF_TAP = 0x0002
_IFF_NO_PI = 0x1000
_IFF_VNET_HDR = 0x4000
_IFF_MULTI_QUEUE = 0x0100
_TUN_DEV = "/dev/net/tun"

#: macvtap modes os-vif's VIFDirectMode uses -> kernel MACVLAN_MODE_* values.
MACVTAP_MODES = {"vepa": 2, "bridge": 4, "passthrough": 8, "passthru": 8}

#: Retired devices are renamed ``<prefix><ifindex>`` (ifindex is unique in
#: the namespace, so the name is too; at most 5 + 10 = 15 bytes).
RETIRED_PREFIX = "vpdel"
#: The reaper deletes once no device was retired for REAP_QUIET seconds (a
#: burst of unplugs becomes one batch, and the batch's rtnl-locked deletion
#: does not stall the unplugs still coming), but never later than
#: REAP_MAX_DELAY after the oldest pending retirement.
REAP_QUIET = 0.02
REAP_MAX_DELAY = 0.5


class NetDeviceError(exceptions.OsVifPrefException):
    msg_fmt = "Cannot %(action)s %(dev)s: %(reason)s"


# --------------------------------------------------------------------------
# helpers (daemon side unless said otherwise)

_local = threading.local()


def _ipr() -> IPRoute:
    """This thread's netlink socket (created on first use)."""
    ipr = getattr(_local, "ipr", None)
    if ipr is None:
        ipr = _local.ipr = IPRoute()
    return ipr


def _index(dev: str) -> int | None:
    try:
        return socket.if_nametoindex(dev)
    except OSError:
        return None


def _require_index(dev: str, action: str) -> int:
    idx = _index(dev)
    if idx is None:
        raise NetDeviceError(action=action, dev=dev,
                             reason="no such device")
    return idx


def _nl(action: str, dev: str, method: str, *args: Any,
        **kwargs: Any) -> Any:
    """One pyroute2 ``link()`` call; netlink errors become NetDeviceError."""
    try:
        return getattr(_ipr(), method)(*args, **kwargs)
    except NetlinkError as e:
        raise NetDeviceError(action=action, dev=dev,
                             reason=f"{e.args[1]} (errno {e.code})") from e


def _get(idx: int) -> Any | None:
    try:
        return _ipr().link("get", index=idx)[0]
    except NetlinkError as e:
        if e.code == errno.ENODEV:
            return None
        raise


def _kind(msg: Any) -> str | None:
    return msg.get(("linkinfo", "kind"))


def _owner_uid(owner: int | str) -> int:
    if isinstance(owner, bool):
        raise exceptions.InvalidArgument(name="owner", value=owner,
                                         reason="must be a uid or user name")
    if isinstance(owner, int):
        if not 0 <= owner < 2**32 - 1:
            raise exceptions.InvalidArgument(name="owner", value=owner,
                                             reason="uid out of range")
        return owner
    if isinstance(owner, str):
        try:
            return pwd.getpwnam(owner).pw_uid
        except KeyError:
            raise exceptions.InvalidArgument(
                name="owner", value=owner, reason="no such user") from None
    raise exceptions.InvalidArgument(name="owner", value=owner,
                                     reason="must be a uid or user name")


def _tun_attach(dev: str, multiqueue: bool, owner_uid: int | None) -> None:
    """Create (or re-open) the persistent tap ``dev`` with the TUN ioctls.

    TUNSETIFF on an existing persistent tap re-attaches to it, so this is
    idempotent; it fails with EINVAL if ``dev`` exists and is not a tap of
    the same multi-queue flavour, which is the right answer.  It fails with
    EBUSY when the tap exists and its single queue is held open by its user
    (QEMU of a running guest, when nova-compute restarts and plugs again):
    that tap is already what we want, so it is left alone (its owner cannot
    change while in use) and the caller converges the rest over netlink.
    """
    flags = _IFF_TAP | _IFF_NO_PI | _IFF_VNET_HDR
    if multiqueue:
        flags |= _IFF_MULTI_QUEUE
    ifr = struct.pack("16sH", dev.encode(), flags)
    fd = os.open(_TUN_DEV, os.O_RDWR | os.O_CLOEXEC)
    try:
        fcntl.ioctl(fd, _TUNSETIFF, ifr)
        if owner_uid is not None:
            fcntl.ioctl(fd, _TUNSETOWNER, owner_uid)
        fcntl.ioctl(fd, _TUNSETPERSIST, 1)
    except OSError as e:
        if e.errno == errno.EBUSY:
            LOG.debug("Tap %s is held open by its user; not re-attaching", dev)
            return
        raise NetDeviceError(action="create tap", dev=dev,
                             reason=f"{e.strerror} (errno {e.errno})") from e
    finally:
        os.close(fd)


def _set_link(idx: int, dev: str, action: str, *, mac: str | None = None,
              mtu: int | None = None, master: int | None = None,
              up: bool = False) -> None:
    """One RTM_NEWLINK carrying every attribute that was asked for."""
    attrs: dict[str, Any] = {}
    if mac is not None:
        attrs["address"] = mac
    if mtu is not None:
        attrs["mtu"] = mtu
    if master is not None:
        attrs["master"] = master
    if up:
        attrs["state"] = "up"
    if attrs:
        _nl(action, dev, "link", "set", index=idx, **attrs)


# --------------------------------------------------------------------------
# deferred, batched deletion


class _Reaper:
    """Deletes retired devices in one group ``RTM_DELLINK`` per batch."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.retired = 0       # retirements completed (sequence)
        self.reaped = 0        # retirements covered by a finished delete
        self.kick = False
        self.error: str | None = None
        self.group: int | None = None
        self.thread: threading.Thread | None = None

    def ensure_started(self) -> int:
        with self.cond:
            if self.group is None:
                links = list(_ipr().link("dump"))
                used = {m.get("group") for m in links}
                group = random.randrange(1 << 24, 1 << 31)
                while group in used:
                    group = random.randrange(1 << 24, 1 << 31)
                self.group = group
                # Adopt devices a previous daemon retired but did not live
                # to delete (deleting them twice is harmless: ENODEV).
                for m in links:
                    if (m.get("ifname") or "").startswith(RETIRED_PREFIX) \
                            and _kind(m) is not None:
                        with contextlib.suppress(NetlinkError):
                            _ipr().link("set", index=m["index"], group=group)
                            self.retired += 1
                self.thread = threading.Thread(
                    target=self._run, name="os-vif-pref-reaper", daemon=True)
                self.thread.start()
            return self.group

    def retired_one(self) -> None:
        with self.cond:
            self.retired += 1
            self.cond.notify_all()

    def _run(self) -> None:
        ipr = IPRoute()
        while True:
            with self.cond:
                while self.retired == self.reaped:
                    self.cond.wait()
                first = time.monotonic()
                while not self.kick:
                    seen = self.retired
                    left = first + REAP_MAX_DELAY - time.monotonic()
                    if left <= 0:
                        break
                    self.cond.wait(min(REAP_QUIET, left))
                    if self.retired == seen and not self.kick:
                        break       # quiet: nothing retired meanwhile
                self.kick = False
                target = self.retired
            error = None
            try:
                ipr.link("del", group=self.group)
            except NetlinkError as e:
                # ENODEV: the group is already empty (a device retired
                # just after the previous batch started was deleted by it,
                # or a veth went with its peer): nothing left to do.
                if e.code != errno.ENODEV:
                    error = f"group delete failed: {e.args[1]}"
                    LOG.error("os-vif-pref reaper: %s", error)
            with self.cond:
                self.reaped = target
                self.error = error
                self.cond.notify_all()

    def flush(self, timeout: float) -> None:
        with self.cond:
            target = self.retired
            if self.reaped >= target:
                return
            self.kick = True
            self.cond.notify_all()
            deadline = time.monotonic() + timeout
            while self.reaped < target:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise NetDeviceError(action="delete",
                                         dev="retired devices",
                                         reason="reaper timed out")
                self.cond.wait(left)
            if self.error:
                raise NetDeviceError(action="delete", dev="retired devices",
                                     reason=self.error)


_REAPER = _Reaper()


def _retire(dev: str) -> bool:
    """Take ``dev`` out of service now and queue it for deletion.

    Returns False if it did not exist.  Physical devices (no rtnl link
    kind) cannot be deleted and are refused *before* anything is changed.
    """
    group = _REAPER.ensure_started()
    idx = _index(dev)
    if idx is None:
        return False
    msg = _get(idx)
    if msg is None:
        return False
    if _kind(msg) is None:
        raise NetDeviceError(action="delete", dev=dev,
                             reason="not a virtual device")
    try:
        ipr = _ipr()
        ipr.link("set", index=idx, state="down", master=0)
        ipr.link("set", index=idx, ifname=f"{RETIRED_PREFIX}{idx}",
                 group=group)
    except NetlinkError as e:
        if e.code == errno.ENODEV:
            return False
        raise NetDeviceError(action="delete", dev=dev,
                             reason=f"{e.args[1]} (errno {e.code})") from e
    _REAPER.retired_one()
    return True


def _retire_quietly(devs: list[str]) -> None:
    """Rollback helper: retire what this call created, log failures."""
    for dev in devs:
        try:
            _retire(dev)
        except Exception:  # noqa: BLE001 - rollback must not mask the cause
            LOG.exception("rollback: could not remove %s", dev)


# --------------------------------------------------------------------------
# unprivileged


def device_exists(dev: str) -> bool:
    """Whether ``dev`` exists in the *calling* thread's network namespace.

    Unprivileged and cheap (one ioctl): safe to call from Nova's process.
    """
    return _index(validate.ifname(dev)) is not None


# --------------------------------------------------------------------------
# privileged: the contract used by the plugins (and the OVS plugin)


@privsep.vif_plug.entrypoint
def create_tap(dev: str, mac: str | None = None, mtu: int | None = None,
               multiqueue: bool = False, owner: int | str | None = None,
               master: str | None = None, up: bool = False) -> bool:
    """Ensure the persistent tap ``dev`` (vnet_hdr, no PI) with attributes.

    ``owner`` (uid or user name) lets an unprivileged hypervisor open it;
    ``master`` enslaves it to that (existing) bridge; ``up`` brings it up.
    Returns True if this call created the device.  If configuring a tap it
    created fails, the tap is removed again.
    """
    validate.ifname(dev)
    mac = None if mac is None else validate.mac(mac)
    mtu = None if mtu is None else validate.mtu(mtu)
    if not isinstance(multiqueue, bool):
        raise exceptions.InvalidArgument(name="multiqueue", value=multiqueue,
                                         reason="must be a boolean")
    uid = None if owner is None else _owner_uid(owner)
    master_idx = None
    if master is not None:
        validate.ifname(master)
        master_idx = _require_index(master, "attach tap to")
    created = _index(dev) is None
    _tun_attach(dev, multiqueue, uid)
    try:
        idx = _require_index(dev, "configure")
        _set_link(idx, dev, "configure tap", mac=mac, mtu=mtu,
                  master=master_idx, up=up)
    except Exception:
        if created:
            _retire_quietly([dev])
        raise
    return created


@privsep.vif_plug.entrypoint
def create_veth_pair(dev1: str, dev2: str, mtu: int | None = None) -> bool:
    """Ensure the veth pair ``dev1``/``dev2``, both up, with ``mtu``.

    An existing correct pair is only converged (MTU, up).  A leftover half
    (a veth whose peer is not the other name) is replaced; a non-veth
    device holding either name is an error.  Returns True if created.
    """
    validate.ifname(dev1)
    validate.ifname(dev2)
    if dev1 == dev2:
        raise exceptions.InvalidArgument(name="veth peer name", value=dev2,
                                         reason="must differ from dev1")
    mtu = None if mtu is None else validate.mtu(mtu)
    idx1, idx2 = _index(dev1), _index(dev2)
    if idx1 is not None and idx2 is not None:
        m1 = _get(idx1)
        if m1 is not None and _kind(m1) == "veth" \
                and m1.get("link") == idx2:
            for idx, dev in ((idx1, dev1), (idx2, dev2)):
                _set_link(idx, dev, "configure veth", mtu=mtu, up=True)
            return False
    stale = []
    for idx, dev in ((idx1, dev1), (idx2, dev2)):
        if idx is None:
            continue
        msg = _get(idx)
        if msg is not None and _kind(msg) != "veth":
            raise NetDeviceError(action="create veth", dev=dev,
                                 reason=f"exists as {_kind(msg) or 'physical'}"
                                        " device")
        stale.append(dev)
    for dev in stale:
        _retire(dev)
    extra: dict[str, Any] = {} if mtu is None else {"mtu": mtu}
    peer: dict[str, Any] = {"ifname": dev2, **extra}
    _nl("create veth", dev1, "link", "add", ifname=dev1, kind="veth",
        peer=peer, **extra)
    try:
        for dev in (dev1, dev2):
            _set_link(_require_index(dev, "configure"), dev,
                      "bring up veth", up=True)
    except Exception:
        _retire_quietly([dev1, dev2])
        raise
    return True


@privsep.vif_plug.entrypoint
def ensure_bridge(bridge: str, mtu: int | None = None) -> bool:
    """Ensure the Linux bridge ``bridge`` exists, is up, has ``mtu``.

    New bridges get STP off and forward delay 0 (as os-vif does), so ports
    forward at once.  Returns True if this call created it.
    """
    validate.ifname(bridge)
    mtu = None if mtu is None else validate.mtu(mtu)
    return _ensure_bridge(bridge, mtu)


def _ensure_bridge(bridge: str, mtu: int | None) -> bool:
    idx = _index(bridge)
    if idx is None:
        extra: dict[str, Any] = {} if mtu is None else {"mtu": mtu}
        try:
            _ipr().link("add", ifname=bridge, kind="bridge", br_stp_state=0,
                        br_forward_delay=0, state="up", **extra)
            return True
        except NetlinkError as e:
            if e.code != errno.EEXIST:   # lost a race: converge below
                raise NetDeviceError(
                    action="create bridge", dev=bridge,
                    reason=f"{e.args[1]} (errno {e.code})") from e
        idx = _require_index(bridge, "configure bridge")
    # Converge in one message; equal values are no-ops in the kernel.
    _set_link(idx, bridge, "configure bridge", mtu=mtu, up=True)
    return False


@privsep.vif_plug.entrypoint
def add_bridge_port(bridge: str, dev: str) -> None:
    """Enslave ``dev`` to ``bridge`` (no-op if it already is)."""
    validate.ifname(bridge)
    validate.ifname(dev)
    br_idx = _require_index(bridge, "attach to bridge")
    _set_link(_require_index(dev, "attach to bridge"), dev,
              f"attach to bridge {bridge}", master=br_idx)


@privsep.vif_plug.entrypoint
def delete_net_devs(devs: list[str]) -> list[str]:
    """Remove the named virtual devices; absent ones are ignored.

    On return each name is free and its device down and detached; the
    kernel unregisters them all in one batched request moments later (see
    the module docstring; :func:`flush_deleted` waits for that).  Returns
    the names that existed.  Physical devices are refused.
    """
    if not isinstance(devs, (list, tuple)):
        raise exceptions.InvalidArgument(name="device list", value=devs,
                                         reason="must be a list of names")
    for dev in devs:
        validate.ifname(dev)
    return [dev for dev in devs if _retire(dev)]


@privsep.vif_plug.entrypoint
def flush_deleted(timeout: float = 30.0) -> None:
    """Wait until every device retired so far is really gone.

    "So far" includes what a previous daemon retired but did not live to
    delete: starting the reaper adopts those first.
    """
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) \
            or not 0 < timeout <= 300:
        raise exceptions.InvalidArgument(name="timeout", value=timeout,
                                         reason="must be 0-300 seconds")
    _REAPER.ensure_started()
    _REAPER.flush(float(timeout))


@privsep.vif_plug.entrypoint
def set_device_mtu(dev: str, mtu: int) -> None:
    """Set the MTU of ``dev``."""
    validate.ifname(dev)
    validate.mtu(mtu)
    _set_link(_require_index(dev, "set MTU of"), dev, "set MTU of", mtu=mtu)


@privsep.vif_plug.entrypoint
def set_device_up(dev: str) -> None:
    """Bring ``dev`` up."""
    validate.ifname(dev)
    _set_link(_require_index(dev, "bring up"), dev, "bring up", up=True)


@privsep.vif_plug.entrypoint
def detach_from_bridge(dev: str) -> bool:
    """Release ``dev`` from its master, if any; absent device is a no-op."""
    validate.ifname(dev)
    idx = _index(dev)
    if idx is None:
        return False
    try:
        _ipr().link("set", index=idx, master=0)
    except NetlinkError as e:
        if e.code == errno.ENODEV:
            return False
        raise NetDeviceError(action="detach", dev=dev,
                             reason=f"{e.args[1]} (errno {e.code})") from e
    return True


# --------------------------------------------------------------------------
# privileged: composite operations, one daemon round trip per plug


def _ensure_vlan(phys: str, vlan: int, name: str, master_idx: int,
                 mtu: int | None, created: list[str]) -> None:
    phys_idx = _require_index(phys, "create VLAN on")
    idx = _index(name)
    if idx is not None:
        msg = _get(idx)
        if msg is not None and (
                _kind(msg) != "vlan" or msg.get("link") != phys_idx
                or msg.get(("linkinfo", "data", "vlan_id")) != vlan):
            raise NetDeviceError(
                action="create VLAN interface", dev=name,
                reason=f"exists but is not VLAN {vlan} on {phys}")
        _set_link(idx, name, "configure VLAN interface", mtu=mtu,
                  master=master_idx, up=True)
        return
    extra: dict[str, Any] = {} if mtu is None else {"mtu": mtu}
    _nl("create VLAN interface", name, "link", "add", ifname=name,
        kind="vlan", link=phys_idx, vlan_id=vlan, master=master_idx,
        state="up", **extra)
    created.append(name)


@privsep.vif_plug.entrypoint
def plug_bridge_port(bridge: str, dev: str | None = None,
                     mtu: int | None = None,
                     vlan_phys: str | None = None, vlan: int | None = None,
                     vlan_dev: str | None = None, create_tap: bool = False,
                     mac: str | None = None) -> list[str]:
    """Everything the linux-bridge plugin needs, in one daemon call.

    Ensure ``bridge`` (MTU, up); with ``vlan``, ensure ``vlan_dev`` (VLAN
    ``vlan`` on ``vlan_phys``) as a bridge port; with ``vlan_phys`` but no
    ``vlan`` (a flat network), the existing physical interface itself joins the
    bridge (it is never created or deleted here); then, with ``create_tap``,
    ensure the tap ``dev`` or else, if ``dev`` exists, attach it - each with
    ``mtu``, up. Returns the devices this call created; on failure those are
    removed again (a bridge only if nothing else joined it meanwhile).
    """
    validate.ifname(bridge)
    mtu = None if mtu is None else validate.mtu(mtu)
    if dev is not None:
        validate.ifname(dev)
    if mac is not None:
        validate.mac(mac)
    if create_tap and dev is None:
        raise exceptions.InvalidArgument(name="tap name", value=dev,
                                         reason="required with create_tap")
    if vlan_phys is not None:
        validate.ifname(vlan_phys)
    if vlan is not None:
        validate.vlan_id(vlan)
        validate.ifname(vlan_dev)
        if vlan_phys is None:
            raise exceptions.InvalidArgument(
                name="VLAN physical interface", value=vlan_phys,
                reason=f"required with VLAN {vlan}")
    created: list[str] = []
    flat_attached = False
    try:
        if _ensure_bridge(bridge, mtu):
            created.append(bridge)
        br_idx = _require_index(bridge, "configure bridge")
        if vlan is not None:
            _ensure_vlan(vlan_phys, vlan, vlan_dev, br_idx, mtu, created)
        elif vlan_phys is not None:
            phys_idx = _require_index(vlan_phys, f"attach to bridge {bridge}")
            _set_link(phys_idx, vlan_phys, f"attach to bridge {bridge}",
                      master=br_idx, up=True)
            flat_attached = True
        if create_tap:
            if _index(dev) is None:
                created.append(dev)
            _tun_attach(dev, False, None)
        if dev is not None:
            idx = _index(dev)
            if idx is not None:
                _set_link(idx, dev, f"attach to bridge {bridge}", mac=mac,
                          mtu=mtu, master=br_idx, up=True)
    except Exception:
        if flat_attached and bridge in created:
            # Give the uplink back before the bridge we made goes away.
            with contextlib.suppress(Exception):
                _ipr().link("set", index=_require_index(
                    vlan_phys, "detach"), master=0)
        _rollback(created, bridge)
        raise
    return created


def _rollback(created: list[str], bridge: str | None = None) -> None:
    devs = [d for d in reversed(created) if d != bridge]
    _retire_quietly(devs)
    if bridge in created:
        idx = _index(bridge)
        ports = [] if idx is None else _ipr().get_links(master=idx)
        if not ports:
            _retire_quietly([bridge])


@privsep.vif_plug.entrypoint
def create_macvtap(dev: str, source: str, mode: str,
                   mac: str | None = None, mtu: int | None = None) -> bool:
    """Ensure macvtap ``dev`` on ``source`` in ``mode``, up.

    ``mode`` is one of vepa, bridge, passthrough (os-vif's VIFDirectMode).
    An existing macvtap on the same source in the same mode is converged
    (MAC, MTU, up); anything else under that name is an error.  Returns True
    if this call created it (and removes it again if configuring fails).
    """
    validate.ifname(dev)
    validate.ifname(source)
    if mode not in MACVTAP_MODES:
        raise exceptions.InvalidArgument(
            name="macvtap mode", value=mode,
            reason=f"must be one of {sorted(MACVTAP_MODES)}")
    mac = None if mac is None else validate.mac(mac)
    mtu = None if mtu is None else validate.mtu(mtu)
    if dev == source:
        raise exceptions.InvalidArgument(name="macvtap name", value=dev,
                                         reason="must differ from source")
    src_idx = _require_index(source, "create macvtap on")
    src = _get(src_idx)
    if src is None:
        raise NetDeviceError(action="create macvtap on", dev=source,
                             reason="no such device")
    mode_val = MACVTAP_MODES[mode]
    idx = _index(dev)
    if idx is not None:
        msg = _get(idx)
        if msg is not None and (
                _kind(msg) != "macvtap" or msg.get("link") != src_idx
                or msg.get(("linkinfo", "data", "macvtap_mode"))
                not in (mode_val, _MODE_NAMES[mode_val])):
            raise NetDeviceError(
                action="create macvtap", dev=dev,
                reason=f"exists but is not a {mode} macvtap on {source}")
        _set_link(idx, dev, "configure macvtap", mac=mac, mtu=mtu, up=True)
        return False
    extra: dict[str, Any] = {}
    if mac is not None:
        extra["address"] = mac
    if mtu is not None:
        extra["mtu"] = mtu
    _nl("create macvtap", dev, "link", "add", ifname=dev, kind="macvtap",
        link=src_idx, macvtap_mode=mode_val, **extra)
    try:
        _set_link(_require_index(dev, "configure"), dev, "bring up", up=True)
    except Exception:
        _retire_quietly([dev])
        raise
    return True


_MODE_NAMES = {2: "vepa", 4: "bridge", 8: "passthru"}


@privsep.vif_plug.entrypoint
def daemon_pid() -> int:
    """The daemon's pid, so that tests and tools can stop it for sure."""
    return os.getpid()
