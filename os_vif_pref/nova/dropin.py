"""Nova's converter, catalogue-driven: ``nova_to_osvif_vif`` as a drop-in.

``nova.network.os_vif_util.nova_to_osvif_vif`` hard-codes, branch by
branch, which os-vif object each Neutron binding becomes.  This module keeps
its contract exactly - same argument, same result field by field, ``None``
for the types Nova leaves to its legacy path (and for ``binding_failed`` /
``unbound``), Nova's own exception classes where Nova raises - while the
objects themselves come from the binding catalogue.  Nova's callers
(``LibvirtGenericVIFDriver.get_config``/``plug``, the compute manager) catch
Nova's classes, so anything else escaping from here would turn a known
failure into an unknown one.

How a binding finds its catalogue entry follows Nova's dispatch
(:func:`nova_route`): the binding's own ``(vif_type, vnic_type)`` first,
then the key Nova's fall-through branches convert it as (an ``ovs`` port of
vnic_type ``macvtap`` becomes a plain OVS port, ``ivs`` and ``vhostuser``
ignore the vnic_type, an ``agilio_ovs`` ``vdpa`` port takes the OVS route,
...).  Each entry is compiled once, per loaded catalogue, into a function
(:class:`CompiledEntry`) that builds the object with Nova's value rules
(``details.get(key, default)``, ``vif["profile"]["pci_slot"]``, ``a or b``),
so no field spec is interpreted per port.

Intended differences from Nova (README, "Negotiation"): the plugin is the
entry's (``[os_vif_pref] plugin_choice`` picks upstream names), and a
binding Nova refuses but the catalogue converts (``bridge``: Linux bridge,
removed from Nova; vif_types of vendor entries) is converted.

:func:`os_vif_pref.nova.to_os_vif` stays the converter for callers outside
Nova: it also checks offers, negotiates versions and raises this package's
richer errors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
import functools
import logging
import sys
import time
from typing import Any

from os_vif_pref import catalogue as catalogue_mod
from os_vif_pref import exceptions

LOG = logging.getLogger(__name__)

#: nova.network.model constants (checked against Nova in tests/unit).
NIC_NAME_LEN = 14
VNIC_TYPE_NORMAL = "normal"
PORT_FILTER = "port_filter"
VHOSTUSER_SOCKET = "vhostuser_socket"
#: Nova's LEGACY_VIFS when Nova is not importable.
KNOWN_LEGACY_VIFS = frozenset({
    "dvs", "iovisor", "802.1qbg", "802.1qbh", "hw_veb", "hostdev_physical",
    "ib_hostdev", "midonet", "tap", "macvtap"})
NOT_BOUND = frozenset({"binding_failed", "unbound"})
#: What Nova's converter converts itself (the rest it refuses).
NOVA_TYPES = frozenset({"ovs", "ivs", "agilio_ovs", "vhostuser", "vrouter"})

#: What ``nova.network.model.VIF()`` sets when a key is not given.
_VIF_DEFAULTS: dict[str, Any] = {
    "id": None, "address": None, "network": None, "type": None,
    "details": None, "devname": None, "ovs_interfaceid": None,
    "qbh_params": None, "qbg_params": None, "active": False,
    "vnic_type": VNIC_TYPE_NORMAL, "profile": None,
    "preserve_on_delete": False, "delegate_create": False,
}
_NETWORK_KEYS = frozenset({"id", "bridge", "label", "subnets", "meta"})
_UNSET: Any = object()


# --------------------------------------------------------------------------
# Nova's exceptions (ours, with Nova's messages, when Nova is absent)
# --------------------------------------------------------------------------

class NovaException(exceptions.OsVifPrefException):
    """Stands for ``nova.exception.NovaException`` where Nova is absent."""

    msg_fmt = "An unknown exception occurred."


class VifDetailsMissingVhostuserSockPath(NovaException):
    """Stands for Nova's class of the same name where Nova is absent."""

    msg_fmt = ("vhostuser_sock_path not present in vif_details for vif "
               "%(vif_id)s")


@functools.cache
def nova_exceptions() -> tuple[type[Exception], type[Exception]]:
    """``(NovaException, VifDetailsMissingVhostuserSockPath)`` as raised.

    Nova's own classes when Nova is importable (inside nova-compute it
    always is), so Nova's ``except`` clauses see what they expect.
    """
    try:
        from nova import exception
    except ImportError:
        return NovaException, VifDetailsMissingVhostuserSockPath
    return (exception.NovaException,
            exception.VifDetailsMissingVhostuserSockPath)


@functools.cache
def legacy_vif_types() -> frozenset[str]:
    """The types Nova leaves to its virt driver's legacy path."""
    try:
        from nova.network import os_vif_util
    except ImportError:
        return KNOWN_LEGACY_VIFS
    return frozenset(os_vif_util.LEGACY_VIFS)


# --------------------------------------------------------------------------
# Nova's model, read as Nova reads it
# --------------------------------------------------------------------------

def _model_class(name: str) -> Any:
    model = sys.modules.get("nova.network.model")
    return getattr(model, name, None) if model is not None else None


def _as_vif(vif: Mapping[str, Any]) -> Mapping[str, Any]:
    """``vif`` with every key ``model.VIF`` has (a model VIF as it is)."""
    cls = _model_class("VIF")
    if cls is not None and isinstance(vif, cls):
        return vif
    out = dict(_VIF_DEFAULTS)
    out.update(vif)
    out["details"] = out["details"] or {}
    out["network"] = out["network"] or None
    return out


def _network_meta(network: Mapping[str, Any]) -> Mapping[str, Any]:
    """``network.get_meta`` for a model Network or its dict.

    ``model.Network(**d)`` files every key it does not know under meta.
    """
    cls = _model_class("Network")
    if cls is not None and isinstance(network, cls):
        return network["meta"]
    meta = dict(network.get("meta") or {})
    for key, value in network.items():
        if key not in _NETWORK_KEYS:
            meta[key] = value
    return meta


@functools.cache
def _objects() -> Any:
    import os_vif.objects

    os_vif.objects.register_all()
    return os_vif.objects


#: Coerced values kept per builder (field, type, value): a port's MAC,
#: ids and names repeat across calls for the same instance.
_COERCE_CACHE_SIZE = 4096
_IMMUTABLE = (str, bool, int, type(None))


class Builder:
    """Builds one os-vif class as ``cls(**values)`` does, faster.

    oslo's constructor assigns each field through a property setter that
    looks up the storage name and coerces; here the coercion is the
    field's own (same checks, same errors), remembered for immutable
    values, and stored directly.  Classes with a constructor of their own
    (deprecation wrappers, custom defaults) and values that are not fields
    go through the class as usual.
    """

    def __init__(self, cls: Any) -> None:
        from oslo_versionedobjects import base as ovo_base

        self.cls = cls
        init = cls.__init__
        self._list = init is ovo_base.ObjectListBase.__init__
        self._plain = self._list or init is ovo_base.VersionedObject.__init__
        #: os-vif's Network constructor only fills defaults: the same here
        #: (tests/compat compares the result with Nova's field by field).
        self._defaults: dict[str, Any] = {}
        if (not self._plain and cls.__name__ == "Network"
                and init.__module__ == "os_vif.objects.network"):
            self._plain = True
            self._defaults = {"multi_host": False,
                              "should_provide_bridge": False,
                              "should_provide_vlan": False, "mtu": None}
        self._fields = {name: (field, "_obj_" + name)
                        for name, field in cls.fields.items()
                        if not field.read_only}
        self._cache: dict[tuple[str, type, Any], Any] = {}

    def __call__(self, values: dict[str, Any]) -> Any:
        fields = self._fields
        if not self._plain or not fields.keys() >= values.keys() or (
                self._list and "objects" not in values):
            return self.cls(**values)
        if self._defaults:
            if "subnets" not in values:
                return self.cls(**values)
            values = {**values, **{k: v for k, v in self._defaults.items()
                                   if k not in values}}
        obj = self.cls.__new__(self.cls)
        obj._changed_fields = set()
        obj._context = None
        store = obj.__dict__
        cache = self._cache
        for name, value in values.items():
            field, attr = fields[name]
            if isinstance(value, _IMMUTABLE):
                key = (name, type(value), value)
                try:
                    coerced = cache[key]
                except KeyError:
                    coerced = field.coerce(obj, name, value)
                    if (isinstance(coerced, _IMMUTABLE)
                            and len(cache) < _COERCE_CACHE_SIZE):
                        cache[key] = coerced
            else:
                coerced = field.coerce(obj, name, value)
            store[attr] = coerced
        obj._changed_fields = set(values)
        return obj


@functools.cache
def builder(cls_name: str) -> Builder:
    """The :class:`Builder` of an os-vif class, by name."""
    return Builder(catalogue_mod.os_vif_classes()[cls_name])


def nova_to_osvif_instance(instance: Any) -> Any:
    """Nova's ``nova_to_osvif_instance``: an os-vif ``InstanceInfo``."""
    info = _objects().instance_info.InstanceInfo(
        uuid=instance.uuid, name=instance.name)
    if (instance.obj_attr_is_set("project_id")
            and instance.project_id is not None):
        info.project_id = instance.project_id
    return info


def nova_to_osvif_ip(ip: Mapping[str, Any]) -> Any:
    """Nova's ``_nova_to_osvif_ip``."""
    return builder("FixedIP")({
        "address": ip["address"],
        "floating_ips": [f["address"]
                         for f in ip.get("floating_ips") or ()]})


def nova_to_osvif_ips(ips: Sequence[Mapping[str, Any]]) -> Any:
    """Nova's ``_nova_to_osvif_ips``."""
    return builder("FixedIPList")(
        {"objects": [nova_to_osvif_ip(ip) for ip in ips]})


def _with_gateway(values: dict[str, Any], model: Mapping[str, Any],
                  ) -> dict[str, Any]:
    """Nova sets ``gateway`` only from an IP with an address."""
    gateway = model.get("gateway")
    if gateway is not None and gateway.get("address") is not None:
        values["gateway"] = gateway["address"]
    return values


def nova_to_osvif_route(route: Mapping[str, Any]) -> Any:
    """Nova's ``_nova_to_osvif_route``."""
    values = {"cidr": route.get("cidr")}
    if route.get("interface") is not None:
        values["interface"] = route["interface"]
    return builder("Route")(_with_gateway(values, route))


def nova_to_osvif_routes(routes: Sequence[Mapping[str, Any]]) -> Any:
    """Nova's ``_nova_to_osvif_routes``."""
    return builder("RouteList")(
        {"objects": [nova_to_osvif_route(r) for r in routes]})


def nova_to_osvif_subnet(subnet: Mapping[str, Any]) -> Any:
    """Nova's ``_nova_to_osvif_subnet``."""
    values = {
        "dns": [ip["address"] for ip in subnet.get("dns") or ()],
        "ips": nova_to_osvif_ips(subnet.get("ips") or ()),
        "routes": nova_to_osvif_routes(subnet.get("routes") or ()),
    }
    if subnet.get("cidr") is not None:
        values["cidr"] = subnet["cidr"]
    return builder("Subnet")(_with_gateway(values, subnet))


def nova_to_osvif_subnets(subnets: Sequence[Mapping[str, Any]]) -> Any:
    """Nova's ``_nova_to_osvif_subnets``."""
    return builder("SubnetList")(
        {"objects": [nova_to_osvif_subnet(s) for s in subnets]})


#: Nova's network meta key -> os-vif Network field, set when not None.
_NETWORK_META = (("mtu", "mtu"), ("multi_host", "multi_host"),
                 ("should_create_bridge", "should_provide_bridge"))


def nova_to_osvif_network(network: Mapping[str, Any]) -> Any:
    """Nova's ``_nova_to_osvif_network``, with Nova's "Missing vlan" error.

    ``network`` is a ``nova.network.model.Network`` or its dict.
    """
    if not isinstance(network, Mapping):
        network["id"]  # Nova's TypeError for a port without a network
    meta = _network_meta(network)
    values = {
        "id": network.get("id"),
        "bridge_interface": meta.get("bridge_interface"),
        "subnets": nova_to_osvif_subnets(network.get("subnets") or ()),
    }
    if network.get("bridge") is not None:
        values["bridge"] = network["bridge"]
    if network.get("label") is not None:
        values["label"] = network["label"]
    for key, field in _NETWORK_META:
        if meta.get(key) is not None:
            values[field] = meta[key]
    if meta.get("should_create_vlan") is not None:
        values["should_provide_vlan"] = meta["should_create_vlan"]
        if meta.get("vlan") is None:
            # Nova raises after setting the fields before: same errors.
            builder("Network")(values)
            raise nova_exceptions()[0](f"Missing vlan number in {network}")
        values["vlan"] = meta["vlan"]
    return builder("Network")(values)


# --------------------------------------------------------------------------
# Catalogue entries compiled into converters
# --------------------------------------------------------------------------

Getter = Callable[[Mapping[str, Any], Mapping[str, Any], Any], Any]


class _Missing(Exception):
    """A required value is absent: raised after the object is built."""

    def __init__(self, source: str, key: str) -> None:
        super().__init__(source, key)
        self.source, self.key = source, key


def _getter(spec: Mapping[str, Any], field: str,
            classes: Mapping[str, Any]) -> Getter:
    """One field source, read with the rule Nova's code uses for it."""
    has_default = "default" in spec
    default = spec.get("default")
    required = bool(spec.get("required"))
    if "port" in spec:
        keys = spec["port"]
        if isinstance(keys, str):
            key = keys
            if has_default:
                return lambda vif, d, net: vif.get(key, default)
            return lambda vif, d, net: vif.get(key, _UNSET)
        first, last = tuple(keys[:-1]), keys[-1]

        def port_any(vif: Mapping[str, Any], d: Any, net: Any) -> Any:
            # Nova's ``vif.get('ovs_interfaceid') or vif['id']``.
            for k in first:
                v = vif.get(k)
                if v:
                    return v
            v = vif.get(last)
            return default if v is None and has_default else v
        return port_any
    if "detail" in spec:
        key = spec["detail"]
        if required:
            def detail_required(vif: Any, details: Mapping[str, Any],
                                net: Any) -> Any:
                v = details.get(key)
                if not v:
                    raise _Missing("detail", key)
                return v
            return detail_required
        if has_default:
            return lambda vif, details, net: details.get(key, default)
        return lambda vif, details, net: details.get(key, _UNSET)
    if "profile" in spec:
        key = spec["profile"]
        if required:
            # Nova's ``vif["profile"]["pci_slot"]``: KeyError or TypeError.
            return lambda vif, d, net: vif["profile"][key]

        def profile_get(vif: Mapping[str, Any], d: Any, net: Any) -> Any:
            v = (vif.get("profile") or {}).get(key)
            return (default if has_default else _UNSET) if v is None else v
        return profile_get
    if "network" in spec:
        attr = spec["network"]
        return lambda vif, d, net: (getattr(net, attr)
                                    if net.obj_attr_is_set(attr) else _UNSET)
    if "name" in spec:
        rule = spec["name"]
        prefix = rule["prefix"]
        length = rule.get("length", NIC_NAME_LEN)
        if rule.get("use_devname", True):
            # Nova's ``_get_vif_name``.
            def name_dev(vif: Mapping[str, Any], d: Any, net: Any) -> Any:
                dev = vif.get("devname")
                return dev if dev is not None else (
                    prefix + vif["id"])[:length]
            return name_dev
        return lambda vif, d, net: (prefix + vif["id"])[:length]
    if "value" in spec:
        value = spec["value"]
        return lambda vif, d, net: value
    if "object" in spec:
        build = _compile_object(spec["object"], spec.get("fields") or {},
                                classes)
        return lambda vif, details, net: build(vif, details, net, {})
    raise ValueError(f"field {field}: unknown source {sorted(spec)}")


def _compile_object(cls_name: str, fields: Mapping[str, Any],
                    classes: Mapping[str, Any],
                    ) -> Callable[..., Any]:
    make = builder(cls_name)
    getters = tuple((f, _getter(spec, f, classes))
                    for f, spec in fields.items())

    def build(vif: Mapping[str, Any], details: Mapping[str, Any],
              net: Any, values: dict[str, Any]) -> Any:
        for field, get in getters:
            value = get(vif, details, net)
            if value is not _UNSET:
                values[field] = value
        return make(values)
    return build


def _required_profile_keys(entry: catalogue_mod.Entry) -> set[str]:
    found: set[str] = set()

    def walk(fields: Mapping[str, Any]) -> None:
        for spec in fields.values():
            if "profile" in spec and spec.get("required"):
                found.add(spec["profile"])
            if "object" in spec:
                walk(spec.get("fields") or {})
    walk(entry.fields)
    if entry.port_profile is not None:
        walk(entry.port_profile.fields)
    return found


class CompiledEntry:
    """One catalogue entry as a function of a Nova VIF.

    Value rules are Nova's: a detail with a default is
    ``details.get(key, default)`` (a present ``None`` stays ``None`` and
    fails in os-vif as in Nova), a required PCI slot is
    ``vif["profile"]["pci_slot"]``, a missing vhost-user socket raises
    ``VifDetailsMissingVhostuserSockPath`` once the object is built.
    """

    def __init__(self, entry: catalogue_mod.Entry,
                 classes: Mapping[str, Any]) -> None:
        self.entry = entry
        self.plugin = entry.plugin
        self._match = tuple(entry.details_match.items())
        self._make = builder(entry.vif_object)
        req = [(f, s) for f, s in entry.fields.items()
               if "detail" in s and s.get("required")]
        self._required = tuple((f, s["detail"]) for f, s in req)
        self._getters = tuple(
            (f, _getter(dict(s, required=False) if (f, s) in req else s,
                        f, classes))
            for f, s in entry.fields.items())
        pp = entry.port_profile
        self._profile = None if pp is None else _compile_object(
            pp.object, pp.fields, classes)
        # Nova reads ``vif["profile"]["pci_slot"]`` before it converts the
        # network: the same error first when both are wrong.
        self._profile_keys = tuple(sorted(_required_profile_keys(entry)))

    def matches(self, details: Mapping[str, Any]) -> bool:
        """The entry's vif_details match, with Nova's truthiness."""
        for key, want in self._match:
            have = details.get(key, False)
            if want is True:
                if not have:
                    return False
            elif want is False or want is None:
                if have:
                    return False
            elif have != want:
                return False
        return True

    def __call__(self, vif: Mapping[str, Any]) -> Any:
        details = vif["details"]
        for key in self._profile_keys:
            vif["profile"][key]
        net = nova_to_osvif_network(vif["network"])
        values: dict[str, Any] = {}
        if self._profile is not None:
            values["port_profile"] = self._profile(vif, details, net, {})
        values.update(
            id=vif["id"], address=vif["address"], network=net,
            has_traffic_filtering=details.get(PORT_FILTER, False),
            preserve_on_delete=vif["preserve_on_delete"],
            active=vif["active"], plugin=self.plugin)
        for field, get in self._getters:
            value = get(vif, details, net)
            if value is not _UNSET:
                values[field] = value
        obj = self._make(values)
        for field, key in self._required:
            if not details.get(key):
                if key == VHOSTUSER_SOCKET:
                    raise nova_exceptions()[1](vif_id=vif["id"])
                raise nova_exceptions()[0](
                    f"vif_details[{key!r}] ({field} of "
                    f"{self.entry.vif_object} for catalogue entry "
                    f"{self.entry.name!r}) is not set for vif "
                    f"{exceptions.excerpt(vif['id'], quote=False)}")
        return obj


# --------------------------------------------------------------------------
# Nova's dispatch
# --------------------------------------------------------------------------

def nova_route(vif_type: str, vnic: Any) -> tuple[tuple[str, Any], ...]:
    """The ``(vif_type, vnic_type)`` keys a binding is converted as.

    The binding's own key first (the catalogue may have an entry for it),
    then the key of the branch Nova's converter takes for it.
    """
    own = (vif_type, vnic)
    if vif_type == "ovs":
        if vnic in ("direct", "vdpa", "remote-managed"):
            return (own,)
        return (own, ("ovs", VNIC_TYPE_NORMAL))
    if vif_type == "agilio_ovs":
        if vnic in ("direct", "virtio-forwarder"):
            return (own,)
        # Nova falls through to its OVS conversion.
        if vnic in ("vdpa", "remote-managed"):
            return (own, ("ovs", vnic))
        return (own, ("agilio_ovs", VNIC_TYPE_NORMAL),
                ("ovs", VNIC_TYPE_NORMAL))
    if vif_type in ("ivs", "vhostuser"):
        return (own, (vif_type, VNIC_TYPE_NORMAL))
    return (own,)


class Dispatcher:
    """A loaded catalogue compiled for :func:`nova_to_osvif_vif`."""

    def __init__(self, cat: catalogue_mod.Catalogue) -> None:
        self.catalogue = cat
        classes = catalogue_mod.os_vif_classes()
        self._by_key: dict[tuple[str, str], list[CompiledEntry]] = {}
        self.vif_types: set[str] = set()
        for entry in cat.entries:
            if entry.vif_object not in classes:
                continue
            compiled = CompiledEntry(entry, classes)
            self.vif_types.add(entry.vif_type)
            for vnic in entry.vnic_types:
                self._by_key.setdefault(
                    (entry.vif_type, vnic), []).append(compiled)
        self._routes: dict[tuple[str, Any], tuple[
            list[CompiledEntry], ...]] = {}

    def candidates(self, vif_type: str, vnic: Any,
                   ) -> tuple[list[CompiledEntry], ...]:
        key = (vif_type, vnic)
        found = self._routes.get(key)
        if found is None:
            found = tuple(self._by_key[k] for k in nova_route(vif_type, vnic)
                          if k in self._by_key)
            if len(self._routes) < 4096:
                self._routes[key] = found
        return found

    def find(self, vif_type: str, vnic: Any,
             details: Mapping[str, Any]) -> CompiledEntry | None:
        for group in self.candidates(vif_type, vnic):
            for compiled in group:
                if compiled.matches(details):
                    return compiled
        return None


_dispatchers: dict[int, tuple[catalogue_mod.Catalogue, Dispatcher]] = {}
#: Seconds the host's catalogue is used before its files are looked at
#: again (``get_catalogue`` stats every file: ~50 us, as much as a whole
#: conversion).  A changed option or ``catalogue.reset_cache()`` is seen
#: at once.
CATALOGUE_RECHECK = 2.0
_host: list[Any] = [0.0, None, None]


def host_catalogue() -> catalogue_mod.Catalogue:
    """``catalogue.get_catalogue()``, re-checked every few seconds."""
    opts = catalogue_mod.CONF.os_vif_pref
    key = (tuple(sorted(opts.plugin_choice.items())),
           tuple(opts.catalogue_dirs))
    now = time.monotonic()
    when, seen_key, cat = _host
    if (cat is None or seen_key != key or now - when > CATALOGUE_RECHECK
            or not any(c is cat
                       for c in catalogue_mod.layers._cache.values())):
        cat = catalogue_mod.get_catalogue()
        _host[:] = [now, key, cat]
    return cat


def dispatcher(cat: catalogue_mod.Catalogue | None = None) -> Dispatcher:
    """The compiled form of ``cat`` (default: the host's catalogue)."""
    if cat is None:
        cat = host_catalogue()
    hit = _dispatchers.get(id(cat))
    if hit is not None and hit[0] is cat:
        return hit[1]
    if len(_dispatchers) > 8:
        _dispatchers.clear()
    disp = Dispatcher(cat)
    _dispatchers[id(cat)] = (cat, disp)
    return disp


def nova_to_osvif_vif(vif: Mapping[str, Any], *,
                      catalogue: catalogue_mod.Catalogue | None = None,
                      ) -> Any:
    """Convert a Nova VIF to an os-vif object, as Nova does.

    ``vif`` is a ``nova.network.model.VIF`` or its dict (a missing key
    takes the model's default).  Returns ``None`` for the types Nova's
    virt drivers handle without os-vif and for ``binding_failed`` /
    ``unbound``; raises ``nova.exception.NovaException`` for a type that
    neither Nova nor the catalogue converts, Nova's
    ``VifDetailsMissingVhostuserSockPath`` and ``NotImplementedError``
    where Nova raises them.  ``catalogue`` (not in Nova's signature)
    replaces the host's catalogue, for tests and tools.
    """
    vif_type = vif["type"]
    if vif_type in NOT_BOUND or vif_type in legacy_vif_types():
        return None
    vif = _as_vif(vif)
    vnic = vif.get("vnic_type", VNIC_TYPE_NORMAL)
    disp = dispatcher(catalogue)
    compiled = disp.find(vif_type, vnic, vif["details"])
    if compiled is not None:
        obj = compiled(vif)
        if LOG.isEnabledFor(logging.DEBUG):  # Nova logs the same
            LOG.debug("Converted VIF %s with catalogue entry %s: %s",
                      vif["id"], compiled.entry.name, obj)
        return obj
    if vif_type == "vrouter" and vnic not in (
            VNIC_TYPE_NORMAL, "direct", "virtio-forwarder"):
        raise NotImplementedError()
    if vif_type == "bridge":
        raise nova_exceptions()[0](
            "Linux bridge VIF type is no longer supported")
    if vif_type in NOVA_TYPES or vif_type in disp.vif_types:
        raise nova_exceptions()[0](
            "No enabled catalogue entry converts VIF type "
            f"{exceptions.excerpt(vif_type, quote=False)} with vnic_type "
            f"{exceptions.excerpt(vnic, quote=False)} and vif_details "
            f"{exceptions.excerpt(dict(vif['details']), 200)}")
    raise nova_exceptions()[0](
        f"Unsupported VIF type {exceptions.excerpt(vif_type, quote=False)}")
