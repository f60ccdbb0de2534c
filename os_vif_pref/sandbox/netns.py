"""Throw-away network namespaces: the demo's sandbox and test namespaces.

:class:`Netns` moves the *calling process* (its main thread, which is
what later forks sudo/privsep-helper and OVS) into a fresh namespace, so
every device the code under test creates - and every daemon it starts -
lives there and vanishes with it.  :func:`ping` sends real ICMP echo
requests from inside a namespace without needing a ping binary.
(:mod:`os_vif_pref.testing.netns` re-exports these for tests, as
``TestNetns``, with a factory of extra namespaces.)
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import struct
import threading
import time
import uuid

from pyroute2 import NetNS, netns

from os_vif_pref.sandbox import privsep_conf


def unique_name(prefix: str = "ovp") -> str:
    return f"{prefix}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class Netns:
    """Create a namespace, enter it, and undo everything on :meth:`close`."""

    def __init__(self, name: str | None = None) -> None:
        self.name = name or unique_name()
        self._origin_fd: int | None = None

    def open(self) -> Netns:
        netns.create(self.name)
        self._origin_fd = os.open("/proc/self/ns/net", os.O_RDONLY)
        try:
            netns.setns(self.name, flags=0)
            # Bring up lo: ping endpoints and daemons expect it.
            with NetNS(self.name) as ns:
                ns.link("set", index=1, state="up")
        except Exception:
            self.close()
            raise
        privsep_conf.configure()
        return self

    def close(self) -> None:
        """Stop privsep daemons, go back home, delete the namespace."""
        privsep_conf.stop_daemons()
        if self._origin_fd is not None:
            netns.setns(self._origin_fd)
            os.close(self._origin_fd)
            self._origin_fd = None
        with contextlib.suppress(FileNotFoundError, OSError):
            netns.remove(self.name)

    def __enter__(self) -> Netns:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def _ping_here(addr: str, count: int, timeout: float) -> int:
    ident = os.getpid() & 0xFFFF
    received = 0
    with socket.socket(socket.AF_INET, socket.SOCK_RAW,
                       socket.IPPROTO_ICMP) as sock:
        for seq in range(1, count + 1):
            payload = uuid.uuid4().bytes
            header = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
            csum = _checksum(header + payload)
            sock.sendto(struct.pack("!BBHHH", 8, 0, csum, ident, seq)
                        + payload, (addr, 0))
            deadline = time.monotonic() + timeout
            while (left := deadline - time.monotonic()) > 0:
                ready, _, _ = select.select([sock], [], [], left)
                if not ready:
                    break
                packet, (src, _) = sock.recvfrom(2048)
                ihl = (packet[0] & 0x0F) * 4
                icmp = packet[ihl:]
                typ, _, _, rid, rseq = struct.unpack("!BBHHH", icmp[:8])
                if (typ == 0 and src == addr and rid == ident
                        and rseq == seq and icmp[8:] == payload):
                    received += 1
                    break
    return received


def ping(ns: str, addr: str, count: int = 3, timeout: float = 2.0) -> int:
    """Send ``count`` ICMP echo requests to ``addr`` from namespace ``ns``.

    Runs in a short-lived thread that enters ``ns`` (setns affects only the
    calling thread), so the caller's namespace is untouched.  Returns the
    number of matching echo replies.
    """
    result: dict[str, object] = {}

    def run() -> None:
        try:
            netns.setns(ns, flags=0)
            result["n"] = _ping_here(addr, count, timeout)
        except Exception as e:  # noqa: BLE001 - re-raised below
            result["error"] = e

    thread = threading.Thread(target=run, name=f"ping-{ns}")
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    return int(result["n"])  # type: ignore[arg-type]
