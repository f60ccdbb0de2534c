"""Argument validators for everything that reaches the privileged side.

The privsep daemon runs as root with CAP_NET_ADMIN, so it must not trust its
caller: every privileged function calls these on its own arguments (the
plugins call them as well, to fail early with a clear message in Nova's
process).  Each validator returns the normalised value or raises
:class:`os_vif_pref.exceptions.InvalidArgument`.
"""

from __future__ import annotations

import os
import re

from os_vif_pref.exceptions import InvalidArgument

#: Linux IFNAMSIZ is 16 including the terminating NUL.
IFNAME_MAX_BYTES = 15
MTU_MIN = 68
MTU_MAX = 65535
#: ``sizeof(sockaddr_un.sun_path)`` minus the terminating NUL.
SOCKET_PATH_MAX_BYTES = 107

_MAC_RE = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}")
#: Stricter than the kernel's ``dev_valid_name()`` on purpose: OpenStack
#: names (tap<port id>, qbr.., vhu.., vlan100, eth1.100, br-int) never need
#: more, and refusing shell metacharacters, option-like names ('-x'),
#: non-ASCII look-alikes and control characters at the privileged boundary
#: means no later log line, tool or shell script can be fooled by one.
_IFNAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def ifname(value: object) -> str:
    """A kernel interface name, restricted to a safe ASCII subset.

    1-15 bytes of ASCII letters, digits, '_', '.' and '-', not starting with
    '.' or '-': a subset of what ``dev_valid_name()`` accepts (so never '/',
    ':', NUL, whitespace, '.' or '..'), without shell metacharacters,
    option-like or non-ASCII names.
    """
    if not isinstance(value, str):
        raise InvalidArgument(name="interface name", value=value,
                              reason="must be a string")
    raw = value.encode("utf-8", errors="surrogateescape")
    if not 1 <= len(raw) <= IFNAME_MAX_BYTES:
        raise InvalidArgument(
            name="interface name", value=value,
            reason=f"must be 1-{IFNAME_MAX_BYTES} bytes, got {len(raw)}")
    if not _IFNAME_RE.fullmatch(value):
        raise InvalidArgument(
            name="interface name", value=value,
            reason="only ASCII letters, digits, '_', '.' and '-' are "
                   "allowed, and it must not start with '.' or '-'")
    return value


def mtu(value: object) -> int:
    """An MTU the kernel accepts for an Ethernet-like device (68-65535)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(name="MTU", value=value,
                              reason="must be an integer")
    if not MTU_MIN <= value <= MTU_MAX:
        raise InvalidArgument(name="MTU", value=value,
                              reason=f"must be {MTU_MIN}-{MTU_MAX}")
    return value


def mac(value: object) -> str:
    """A unicast, non-zero Ethernet address; returned lower-case."""
    if not isinstance(value, str):
        raise InvalidArgument(name="MAC address", value=value,
                              reason="must be a string")
    norm = value.lower()
    if not _MAC_RE.fullmatch(norm):
        raise InvalidArgument(name="MAC address", value=value,
                              reason="must be six ':'-separated hex octets")
    if int(norm[:2], 16) & 1:
        raise InvalidArgument(name="MAC address", value=value,
                              reason="must be unicast (multicast bit set)")
    if norm == "00:00:00:00:00:00":
        raise InvalidArgument(name="MAC address", value=value,
                              reason="must not be all zeros")
    return norm


def socket_path(path: object, base_dir: str) -> str:
    """A vhost-user socket path that stays inside ``base_dir``.

    The path is normalised without touching the file system (the socket
    usually does not exist yet) and must resolve to a strict descendant of
    ``base_dir``; '..' tricks and symlinked parents that leave the directory
    are refused.  The result must fit in ``sockaddr_un``.
    """
    if not isinstance(path, str) or not path:
        raise InvalidArgument(name="socket path", value=path,
                              reason="must be a non-empty string")
    if "\0" in path:
        raise InvalidArgument(name="socket path", value=path,
                              reason="must not contain NUL")
    if not os.path.isabs(path):
        raise InvalidArgument(name="socket path", value=path,
                              reason="must be absolute")
    base = os.path.realpath(base_dir)
    # Resolve the parent (it may be a symlink out of base), keep the name.
    parent, leaf = os.path.split(os.path.normpath(path))
    resolved = os.path.join(os.path.realpath(parent), leaf)
    inside = os.path.commonpath([base, resolved]) == base
    if leaf in ("", ".", "..") or not inside or resolved == base:
        raise InvalidArgument(name="socket path", value=path,
                              reason=f"must be inside {base_dir}")
    if len(resolved.encode("utf-8", errors="surrogateescape")) > \
            SOCKET_PATH_MAX_BYTES:
        raise InvalidArgument(
            name="socket path", value=path,
            reason=f"longer than {SOCKET_PATH_MAX_BYTES} bytes")
    return resolved


def vlan_id(value: object) -> int:
    """An 802.1Q VLAN id (1-4094)."""
    if isinstance(value, bool) or not isinstance(value, int) \
            or not 1 <= value <= 4094:
        raise InvalidArgument(name="VLAN id", value=value,
                              reason="must be an integer 1-4094")
    return value
