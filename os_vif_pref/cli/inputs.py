"""Ports and profiles as operators have them, read into one shape.

An operator gets a port in one of a few ways, and every command that takes
a port (``convert``, ``migrate-check``, ``negotiate --offer``) reads all of
them:

* the Neutron API: ``GET /v2.0/ports/ID`` answers ``{"port": {...}}``,
  ``GET /v2.0/ports`` answers ``{"ports": [...]}`` (each port is read), and
  the port dict itself (``binding:vif_type``, ``binding:profile``...);
* ``openstack port show -f json``: the same port with the client's key
  names (``binding_vif_type``, ``binding_vif_details``, ``binding_profile``,
  ``binding_host_id``, ``binding_vnic_type``; ``admin_state_up`` may be
  ``"UP"``/``"DOWN"``);
* Nova: a VIF of the instance's network info cache (``id``, ``type``,
  ``address``, ``network``, ``details``, ``profile``...), the cache's list of
  them, or that list as the JSON string the database column holds.

``binding:profile`` / ``binding:vif_details`` (and a VIF's ``profile`` /
``details``) may be a dict or a JSON string (as some clients and older
dumps print them).  What is none of these is refused in one line naming what
was expected (the CLI exits 1).

Everything here is plain data and ``json``: commands read their input before
anything heavy is imported.
"""

from __future__ import annotations

from collections.abc import Mapping
import json
import sys
from typing import Any

from os_vif_pref import exceptions

#: Refuse input files larger than this before parsing them: an offer is a
#: few KiB and a port a few more; anything near this is a mistake.
MAX_INPUT_BYTES = 16 * 1024 * 1024

#: ``openstack port show -f json`` key -> Neutron API attribute.
CLIENT_KEYS = {
    "binding_vif_type": "binding:vif_type",
    "binding_vif_details": "binding:vif_details",
    "binding_profile": "binding:profile",
    "binding_host_id": "binding:host_id",
    "binding_vnic_type": "binding:vnic_type",
}

EXPECTED = (
    'a Neutron port (the API\'s {"port": ...} or {"ports": [...]}, the port '
    "itself, or 'openstack port show -f json' output) or a Nova VIF (a "
    "network info cache entry or the cache's list)")


def read_text(path: str, what: str, stdin: Any = None) -> str:
    """The text of a file or ``-`` (stdin), bounded, with a clear error."""
    try:
        if path == "-":
            stream = stdin if stdin is not None else sys.stdin
            text = stream.read(MAX_INPUT_BYTES + 1)
        else:
            with open(path, encoding="utf-8") as f:
                text = f.read(MAX_INPUT_BYTES + 1)
    except (OSError, UnicodeDecodeError) as exc:
        raise exceptions.InvalidArgument(name=what, value=path,
                                         reason=str(exc)) from None
    if len(text) > MAX_INPUT_BYTES:
        raise exceptions.InvalidArgument(
            name=what, value=path,
            reason=f"larger than {MAX_INPUT_BYTES} bytes")
    return text


def read_json(path: str, what: str, stdin: Any = None) -> Any:
    """JSON from a file or ``-`` (stdin), bounded, with a clear error."""
    text = read_text(path, what, stdin)
    try:
        return json.loads(text)
    except ValueError as exc:
        raise exceptions.InvalidArgument(name=what, value=path,
                                         reason=f"not JSON: {exc}") from None


def _json_object(value: Any, where: str) -> Any:
    """A dict given as a JSON string becomes the dict; others are kept."""
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            return json.loads(value)
        except ValueError as exc:
            raise exceptions.InvalidArgument(
                name=where, value=value,
                reason=f"a string that is not a JSON object: {exc}",
            ) from None
    if value == "":
        return {}
    return value


def _admin_state(value: Any) -> Any:
    if isinstance(value, str) and value.upper() in ("UP", "DOWN"):
        return value.upper() == "UP"
    return value


def is_neutron_port(data: Mapping[str, Any]) -> bool:
    return ("binding:vif_type" in data or "binding:vnic_type" in data
            or "binding:profile" in data
            or ("mac_address" in data and "network_id" in data))


def is_client_port(data: Mapping[str, Any]) -> bool:
    return any(k in data for k in CLIENT_KEYS)


def is_nova_vif(data: Mapping[str, Any]) -> bool:
    return "id" in data and "type" in data and (
        "address" in data or "network" in data or "details" in data)


def port(data: Any) -> dict[str, Any] | None:
    """One port in its canonical shape, or None when ``data`` is not one.

    Canonical: a Neutron API port dict (``binding:...`` keys) or a Nova VIF
    dict, with profile and details as dicts.
    """
    if not isinstance(data, Mapping):
        return None
    if is_client_port(data):
        out = {CLIENT_KEYS.get(k, k): v for k, v in data.items()}
        if "admin_state_up" in out:
            out["admin_state_up"] = _admin_state(out["admin_state_up"])
    elif is_neutron_port(data):
        out = dict(data)
    elif is_nova_vif(data):
        out = dict(data)
        for key in ("profile", "details"):
            if key in out:
                out[key] = _json_object(out[key], key)
        return out
    else:
        return None
    for key in ("binding:profile", "binding:vif_details"):
        if key in out:
            out[key] = _json_object(out[key], key)
    return out


def _shape(data: Any) -> str:
    if isinstance(data, Mapping):
        keys = sorted(map(str, data))
        more = f" (+{len(keys) - 12} more)" if len(keys) > 12 else ""
        return ("an object with keys " + ", ".join(
            exceptions.excerpt(k, quote=False) for k in keys[:12]) + more
                if keys else "an empty object")
    if isinstance(data, list):
        return f"a list of {len(data)} item(s)"
    return f"a JSON {type(data).__name__}"


def not_a_port(what: str, source: str,
               data: Any) -> exceptions.InvalidArgument:
    return exceptions.InvalidArgument(
        name=what, value=source,
        reason=f"neither a Neutron port nor a Nova VIF: expected {EXPECTED}; "
               f"got {_shape(data)}")


def ports(data: Any, what: str = "port",
          source: str = "-") -> tuple[list[dict[str, Any]], bool]:
    """Every port in ``data`` and whether it held several (a list/envelope).

    Raises :class:`~os_vif_pref.exceptions.InvalidArgument` naming what was
    expected when ``data`` is none of the shapes above.
    """
    if isinstance(data, str):
        try:  # the network info cache column: a JSON list in a string
            data = json.loads(data)
        except ValueError:
            raise not_a_port(what, source, data) from None
    many = False
    items: list[Any]
    if isinstance(data, Mapping) and isinstance(data.get("port"), Mapping) \
            and port(data) is None:
        items = [data["port"]]
    elif isinstance(data, Mapping) and isinstance(data.get("ports"), list):
        items, many = list(data["ports"]), True
    elif isinstance(data, list):
        items, many = data, True
    else:
        items = [data]
    out = []
    for i, item in enumerate(items):
        p = port(item)
        if p is None:
            if many and any(isinstance(i, Mapping) for i in items):
                raise not_a_port(f"{what} #{i + 1}", source, item)
            raise not_a_port(what, source, data)
        out.append(p)
    if not out:
        raise exceptions.InvalidArgument(name=what, value=source,
                                         reason="holds no port")
    return out, many


def select(found: list[dict[str, Any]], wanted: str | None,
           what: str = "--port") -> list[dict[str, Any]]:
    """The ports whose id or name is ``wanted`` (all when None)."""
    if wanted is None:
        return found
    hit = [p for p in found if wanted in (p.get("id"), p.get("name"))]
    if not hit:
        raise exceptions.InvalidArgument(
            name=what, value=wanted,
            reason="no such port in the input (ports: " + ", ".join(
                exceptions.excerpt(p.get("id"), quote=False)
                for p in found[:20])
            + (f" and {len(found) - 20} more" if len(found) > 20 else "")
            + ")")
    return hit


def read_ports(path: str, stdin: Any = None, what: str = "port",
               wanted: str | None = None,
               ) -> tuple[list[dict[str, Any]], bool]:
    """The port(s) in a file (``-``: stdin), see :func:`ports`."""
    found, many = ports(read_json(path, what, stdin), what, path)
    return select(found, wanted), many


def profile_of(p: Mapping[str, Any]) -> Any:
    """The ``binding:profile`` of a canonical port (Neutron or Nova)."""
    if "binding:profile" in p:
        return p.get("binding:profile")
    return p.get("profile")


def vnic_of(p: Mapping[str, Any]) -> str | None:
    return p.get("binding:vnic_type") or p.get("vnic_type")


Offers = list[tuple[Any, "str | None", "str | None"]]


def profiles(data: Any, offer_key: str, what: str = "--offer",
             source: str = "-") -> tuple[Offers, bool]:
    """``(profile, vnic_type, port id)`` for each offer an input holds, and
    whether it held several ports.

    An offer file may be a whole ``binding:profile`` (``{offer_key: ...}``,
    as a dict or a JSON string), just the value under ``offer_key``, or any
    port shape :func:`ports` reads (its profile is taken).  Anything else is
    returned as it is, for the offer reader to judge (a malformed offer is
    the caller's fallback case, not an input error).
    """
    data = _json_object(data, what) if isinstance(data, str) else data
    if isinstance(data, Mapping) and offer_key in data:
        value = _json_object(data[offer_key], offer_key)
        return [({**data, offer_key: value}, None, None)], False
    looks_like_port = (
        isinstance(data, list) and data and all(
            isinstance(i, Mapping) and port(i) is not None for i in data)
    ) or (isinstance(data, Mapping) and (
        port(data) is not None or isinstance(data.get("port"), Mapping)
        or isinstance(data.get("ports"), list)))
    if looks_like_port:
        found, many = ports(data, what, source)
        return [(profile_of(p), vnic_of(p), p.get("id"))
                for p in found], many
    if isinstance(data, Mapping) and "i" in data:
        return [({offer_key: data}, None, None)], False
    return [(data, None, None)], False
