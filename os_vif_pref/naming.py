"""Interface-name rules used when a port becomes an os-vif object.

Nova names host devices from the port: the ``devname`` Nova stored for the
port when it has one (Nova sets ``"tap" + port id`` cut to 14 characters
whenever it builds a VIF from a Neutron port), otherwise a fixed prefix plus
the port id.  Some names ignore ``devname`` on purpose (the hybrid bridge
``qbr...`` and the vhost-user socket name ``vhu...``), because they must be
derivable from the port id alone on every host.

The limit is the kernel's: ``IFNAMSIZ`` is 16 bytes including the NUL, so a
name has at most 15 bytes.  Nova cuts generated names to 14 characters
(``NIC_NAME_LEN``) to leave room for one more character on a peer device
(e.g. veth pairs ``qvb``/``qvo``); the same default is kept here so that
names equal Nova's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from os_vif_pref import exceptions

#: Nova's ``nova.network.model.NIC_NAME_LEN``.
NIC_NAME_LEN = 14
#: ``IFNAMSIZ - 1``: the longest name the kernel accepts, in bytes.
IFNAME_MAX_BYTES = 15
#: The prefix of the ``devname`` Nova stores for a Neutron port.
DEVNAME_PREFIX = "tap"

# Characters the kernel refuses in a name (dev_valid_name()), plus
# whitespace which it also refuses.
_FORBIDDEN = frozenset("/:") | frozenset(" \t\n\r\x0b\x0c\x00")


class InvalidInterfaceName(exceptions.OsVifPrefException):
    msg_fmt = "Invalid interface name %(name)s for port %(port)s: %(reason)s"
    input_kwargs = {"name": True, "port": False}


def check(name: str, port_id: str = "?") -> str:
    """Return ``name`` if the kernel would accept it, else raise.

    Raising here, before anything is plugged, turns an obscure netlink
    ``EINVAL`` later into an error naming the port and the rule broken.
    """
    if not isinstance(name, str) or not name:
        raise InvalidInterfaceName(name=name, port=port_id,
                                   reason="empty or not a string")
    size = len(name.encode("utf-8", "surrogatepass"))
    if size > IFNAME_MAX_BYTES:
        raise InvalidInterfaceName(
            name=name, port=port_id,
            reason=f"{size} bytes, the kernel allows at most "
                   f"{IFNAME_MAX_BYTES}")
    if name in (".", ".."):
        raise InvalidInterfaceName(name=name, port=port_id,
                                   reason="reserved name")
    bad = sorted(set(name) & _FORBIDDEN)
    if bad:
        raise InvalidInterfaceName(
            name=name, port=port_id,
            reason="contains forbidden character(s) "
                   f"{exceptions.excerpt(''.join(bad))}")
    return name


def generated(prefix: str, port_id: str, length: int = NIC_NAME_LEN) -> str:
    """``prefix + port_id`` cut to ``length`` characters (Nova's rule)."""
    return (prefix + port_id)[:length]


def devname_for_port(port_id: str) -> str:
    """The ``devname`` Nova gives a Neutron port (``_build_vif_model``)."""
    return generated(DEVNAME_PREFIX, port_id)


def vif_name(vif: Mapping[str, Any], prefix: str,
             length: int = NIC_NAME_LEN, use_devname: bool = True) -> str:
    """The device name of a port for one catalogue ``name`` rule.

    ``vif`` is a Nova-style VIF dict (``id``, optional ``devname``).  As in
    Nova's ``_get_vif_name``, a ``devname`` that is present (not ``None``)
    wins when ``use_devname``; otherwise the name is generated.
    """
    port_id = str(vif.get("id") or "")
    devname = vif.get("devname") if use_devname else None
    if devname is not None:
        return check(devname, port_id)
    if not port_id:
        raise InvalidInterfaceName(name=prefix, port="(none)",
                                   reason="the port has no id to name it by")
    return check(generated(prefix, port_id, length), port_id)
