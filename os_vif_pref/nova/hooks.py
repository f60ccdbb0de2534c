"""Runtime hooks: the integration in an unmodified Nova 34.0.0.

Few hook points, each the chokepoint of one job (the README section "Nova"
lists them with the same reasons):

``nova.network.neutron.API._update_ports_for_instance``
    every port binding at boot and interface attach goes through its
    ``port_client.update_port``: the offer is added to those calls;
``nova.network.neutron.API._update_port_binding_for_instance``
    the binding to the new host at unshelve, resize / cold-migrate finish,
    evacuate and rebuild elsewhere (and live-migration cleanup of a failed
    binding): its ``neutron.update_port`` calls get the offer.  It makes its
    client itself, so ``nova.network.neutron.get_client`` is wrapped to
    hand back an offering client inside this call only;
``nova.network.neutron.API._unbind_ports``
    unbinding: the offer is removed with Nova's own keys;
``nova.network.neutron._ensure_no_port_binding_failure``
    ``binding_failed`` after an offer: the fault names the offer;
``nova.compute.manager.ComputeManager.check_can_live_migrate_destination``
    the live-migration destination's pre-check: its offer goes into
    ``migrate_data.vifs[].profile``, which the conductor's
    ``bind_ports_to_host`` sends (the source's offer never does);
``nova.virt.libvirt.vif.LibvirtGenericVIFDriver.get_config / plug / unplug``
    the check before anything is configured or plugged, and the
    conversion with the catalogue (the os-vif path of these methods is
    three calls: ``_get_config_os_vif``, ``_plug_os_vif``,
    ``_unplug_os_vif``, which are called with our object).

Each wrapped function's signature, and the names its code relies on, are
checked against Nova 34.0.0 before anything is installed (:func:`verify`).
The wrappers call :mod:`os_vif_pref.nova.integration`'s hook functions,
the same the ``contrib/nova`` patch calls.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.metadata
import inspect
import logging
import threading
from typing import Any

from os_vif_pref.nova import integration

LOG = logging.getLogger(__name__)

#: Nova releases the hooks were verified against.
VERIFIED_NOVA = ("34.0.0",)

_NEUTRON = "nova.network.neutron"
_MANAGER = "nova.compute.manager"
_VIF = "nova.virt.libvirt.vif"

#: (module, attribute) -> (parameters, names the code must use).
SHAPES: dict[tuple[str, str], tuple[tuple[str, ...], tuple[str, ...]]] = {
    (_NEUTRON, "API._update_ports_for_instance"): (
        ("self", "context", "instance", "neutron", "admin_client",
         "requests_and_created_ports", "nets", "bind_host_id",
         "requested_ports_dict", "network_arqs"),
        ("_update_port", "_populate_neutron_extension_values")),
    (_NEUTRON, "API._update_port"): (
        ("self", "port_client", "instance", "port_id", "port_req_body"),
        ("update_port", "_ensure_no_port_binding_failure")),
    (_NEUTRON, "API._update_port_binding_for_instance"): (
        ("self", "context", "instance", "host", "migration",
         "provider_mappings"),
        ("get_client", "list_ports", "update_port")),
    (_NEUTRON, "API._unbind_ports"): (
        ("self", "context", "ports", "neutron", "port_client", "detach"),
        ("update_port", "get_client")),
    (_NEUTRON, "_ensure_no_port_binding_failure"): (("port",), ()),
    (_NEUTRON, "get_client"): (("context", "admin"), ()),
    (_MANAGER, "ComputeManager.check_can_live_migrate_destination"): (
        ("self", "ctxt", "instance", "block_migration", "disk_over_commit",
         "migration", "limits"),
        ("check_can_live_migrate_destination",)),
    (_VIF, "LibvirtGenericVIFDriver.get_config"): (
        ("self", "instance", "vif", "image_meta", "flavor", "virt_type"),
        ("nova_to_osvif_vif", "_get_config_os_vif")),
    (_VIF, "LibvirtGenericVIFDriver.plug"): (
        ("self", "instance", "vif"), ("nova_to_osvif_vif", "_plug_os_vif")),
    (_VIF, "LibvirtGenericVIFDriver.unplug"): (
        ("self", "instance", "vif"),
        ("nova_to_osvif_vif", "_unplug_os_vif")),
    (_VIF, "LibvirtGenericVIFDriver._get_config_os_vif"): (
        ("self", "instance", "vif", "image_meta", "flavor", "virt_type",
         "vnic_type"), ()),
    (_VIF, "LibvirtGenericVIFDriver._plug_os_vif"): (
        ("self", "instance", "vif"), ()),
    (_VIF, "LibvirtGenericVIFDriver._unplug_os_vif"): (
        ("self", "instance", "vif"), ()),
}

_BINDING_HOST_ID = "binding:host_id"
_BINDING_PROFILE = "binding:profile"


def _resolve(module: str, path: str) -> tuple[Any, str, Any]:
    """(owner object, attribute name, current value)."""
    owner: Any = importlib.import_module(module)
    *parents, name = path.split(".")
    for part in parents:
        owner = getattr(owner, part)
    return owner, name, inspect.getattr_static(owner, name)


def _code_names(func: Any) -> set[str]:
    while hasattr(func, "__wrapped__"):
        func = func.__wrapped__
    code = getattr(func, "__code__", None)
    if code is None:
        return set()
    names = set(code.co_names)
    for const in code.co_consts:  # nested functions / comprehensions
        if inspect.iscode(const):
            names.update(const.co_names)
    return names


def nova_carries_hooks() -> bool:
    """Whether this Nova carries the contrib patch (which calls the hook
    functions itself: nothing to patch at run time)."""
    try:
        mod = importlib.import_module("nova.network.binding_preference")
    except ImportError:
        return False
    return bool(getattr(mod, "CARRIES_HOOKS", False))


def verify() -> str | None:
    """Why the hooks must not be installed on this Nova, or ``None``."""
    try:
        version = importlib.metadata.version("nova")
    except importlib.metadata.PackageNotFoundError:
        return "Nova is not installed"
    if version not in VERIFIED_NOVA:
        return (f"nova {version} is not a release this integration was "
                f"verified against ({', '.join(VERIFIED_NOVA)}); "
                "[os_vif_pref] nova_integration is ignored")
    problems = []
    for (module, path), (params, names) in SHAPES.items():
        where = f"{module}.{path}"
        try:
            _, _, func = _resolve(module, path)
        except (ImportError, AttributeError) as exc:
            problems.append(f"{where} is missing ({exc})")
            continue
        if isinstance(func, (staticmethod, classmethod)):
            func = func.__func__
        if getattr(func, "_os_vif_pref_hook", False):
            func = func.__wrapped__
        try:
            got = tuple(inspect.signature(func).parameters)
        except (TypeError, ValueError) as exc:
            problems.append(f"{where}: no signature ({exc})")
            continue
        if got != params:
            problems.append(f"{where}({', '.join(got)}) is not the verified "
                            f"({', '.join(params)})")
        missing = [n for n in names if n not in _code_names(func)]
        if missing:
            problems.append(f"{where} no longer uses {', '.join(missing)}")
    if problems:
        return (f"nova {version} does not have the shape the hooks were "
                "verified against: " + "; ".join(problems))
    return None


# --------------------------------------------------------------------------
# The offering client
# --------------------------------------------------------------------------

_local = threading.local()


class _Scope:
    """One Nova call binding ports of one instance to one host."""

    def __init__(self, instance: Any, host: str | None) -> None:
        self.instance = instance
        self.host = host
        self.profiles: dict[str, dict[str, Any]] = {}
        self.vnics: dict[str, str | None] = {}

    def learn(self, port: Any) -> None:
        if isinstance(port, dict) and port.get("id"):
            self.profiles[port["id"]] = dict(
                port.get(_BINDING_PROFILE) or {})
            self.vnics[port["id"]] = port.get("binding:vnic_type")

    def edit(self, port_id: str, body: Any) -> Any:
        """The update body with the offer added (or removed)."""
        port = body.get("port") if isinstance(body, dict) else None
        if not isinstance(port, dict) or _BINDING_HOST_ID not in port:
            return body
        host = port[_BINDING_HOST_ID]
        if _BINDING_PROFILE in port:
            base = port[_BINDING_PROFILE] or {}
        elif port_id in self.profiles:
            base = self.profiles[port_id]
        else:
            # The port's current profile is unknown: sending one would
            # replace Nova's keys on it. Leave this update stock.
            LOG.debug("os-vif-pref: port %s: profile unknown, no offer",
                      port_id)
            return body
        if host is None or host != self.host:
            new = integration.add_offer(base, self.instance, None, host) \
                if host else integration.remove_offer(base)
        else:
            new = integration.add_offer(base, self.instance,
                                        self.vnics.get(port_id), host)
        if new == base and _BINDING_PROFILE not in port:
            return body
        return dict(body, port=dict(port, **{_BINDING_PROFILE: new}))

    @contextlib.contextmanager
    def active(self) -> Any:
        previous = getattr(_local, "scope", None)
        _local.scope = self
        try:
            yield self
        finally:
            _local.scope = previous


def current_scope() -> _Scope | None:
    return getattr(_local, "scope", None)


class OfferingClient:
    """A Neutron client whose binding updates carry the offer."""

    def __init__(self, client: Any, scope: _Scope) -> None:
        self._client = client
        self._scope = scope

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def list_ports(self, *args: Any, **kwargs: Any) -> Any:
        result = self._client.list_ports(*args, **kwargs)
        try:
            for port in result.get("ports") or ():
                self._scope.learn(port)
        except AttributeError:
            pass
        return result

    def update_port(self, port_id: str, body: Any) -> Any:
        try:
            body = self._scope.edit(port_id, body)
        except Exception as exc:  # never break a binding
            LOG.warning("os-vif-pref: port %s: offer not added: %s",
                        port_id, exc)
        return self._client.update_port(port_id, body)


# --------------------------------------------------------------------------
# Wrappers
# --------------------------------------------------------------------------

def _update_ports_for_instance(orig: Any) -> Any:
    def wrapper(self: Any, context: Any, instance: Any, neutron: Any,
                admin_client: Any, requests_and_created_ports: Any,
                nets: Any, bind_host_id: Any, requested_ports_dict: Any,
                network_arqs: Any) -> Any:
        if integration.enabled() and bind_host_id:
            scope = _Scope(instance, bind_host_id)
            for port in (requested_ports_dict or {}).values():
                scope.learn(port)
            for _, created in requests_and_created_ports or ():
                if created:  # Nova made it just now: no profile, normal
                    scope.profiles.setdefault(created, {})
                    scope.vnics.setdefault(created, "normal")
            with scope.active():
                return orig(self, context, instance, neutron,
                            OfferingClient(admin_client, scope),
                            requests_and_created_ports, nets, bind_host_id,
                            requested_ports_dict, network_arqs)
        return orig(self, context, instance, neutron, admin_client,
                    requests_and_created_ports, nets, bind_host_id,
                    requested_ports_dict, network_arqs)
    return wrapper


def _update_port_binding_for_instance(orig: Any) -> Any:
    def wrapper(self: Any, context: Any, instance: Any, host: Any,
                migration: Any = None, provider_mappings: Any = None) -> Any:
        if not integration.enabled():
            return orig(self, context, instance, host, migration,
                        provider_mappings)
        scope = _Scope(instance, host)
        scope.wrap_clients = True  # type: ignore[attr-defined]
        with scope.active():
            return orig(self, context, instance, host, migration,
                        provider_mappings)
    return wrapper


def _get_client(orig: Any) -> Any:
    def wrapper(context: Any, admin: bool = False) -> Any:
        client = orig(context, admin=admin)
        scope = current_scope()
        if scope is not None and getattr(scope, "wrap_clients", False):
            return OfferingClient(client, scope)
        return client
    return wrapper


def _unbind_ports(orig: Any) -> Any:
    def wrapper(self: Any, context: Any, ports: Any, neutron: Any,
                port_client: Any = None, detach: bool = True) -> Any:
        if integration.enabled():
            if port_client is None:  # as Nova does
                port_client = importlib.import_module(_NEUTRON).get_client(
                    context, admin=True)
            port_client = OfferingClient(port_client, _Scope(None, None))
        return orig(self, context, ports, neutron, port_client,
                    detach=detach)
    return wrapper


def _ensure_no_port_binding_failure(orig: Any) -> Any:
    def wrapper(port: Any) -> Any:
        if port.get("binding:vif_type") == "binding_failed":
            scope = current_scope()
            integration.check_bound_port(
                port, scope.instance if scope is not None else None)
        return orig(port)
    return wrapper


def _check_can_live_migrate_destination(orig: Any) -> Any:
    def wrapper(self: Any, ctxt: Any, instance: Any, *args: Any,
                **kwargs: Any) -> Any:
        result = orig(self, ctxt, instance, *args, **kwargs)
        integration.destination_profiles(result, instance, self.host)
        return result
    return wrapper


def _get_config(orig: Any) -> Any:
    def wrapper(self: Any, instance: Any, vif: Any, image_meta: Any,
                flavor: Any, virt_type: Any) -> Any:
        obj = integration.checked_vif(vif, instance)
        if obj is None:
            return orig(self, instance, vif, image_meta, flavor, virt_type)
        return self._get_config_os_vif(instance, obj, image_meta, flavor,
                                       virt_type, vif["vnic_type"])
    return wrapper


def _plug(orig: Any) -> Any:
    def wrapper(self: Any, instance: Any, vif: Any) -> Any:
        obj = integration.checked_vif(vif, instance)
        if obj is None:
            return orig(self, instance, vif)
        self._plug_os_vif(instance, obj)
        return None
    return wrapper


def _unplug(orig: Any) -> Any:
    def wrapper(self: Any, instance: Any, vif: Any) -> Any:
        from os_vif_pref.nova import faults

        try:
            obj = integration.checked_vif(vif, instance, record=False)
        except faults.OfferRefused as exc:
            LOG.info("os-vif-pref: not unplugging port %s, never plugged: "
                     "%s", vif.get("id"), exc)
            return None
        except faults.OfferNotServed:
            obj = None
        if obj is None:
            return orig(self, instance, vif)
        self._unplug_os_vif(instance, obj)
        return None
    return wrapper


#: (module, attribute) -> wrapper factory.
WRAPPERS = {
    (_NEUTRON, "API._update_ports_for_instance"): _update_ports_for_instance,
    (_NEUTRON, "API._update_port_binding_for_instance"):
        _update_port_binding_for_instance,
    (_NEUTRON, "API._unbind_ports"): _unbind_ports,
    (_NEUTRON, "_ensure_no_port_binding_failure"):
        _ensure_no_port_binding_failure,
    (_NEUTRON, "get_client"): _get_client,
    (_MANAGER, "ComputeManager.check_can_live_migrate_destination"):
        _check_can_live_migrate_destination,
    (_VIF, "LibvirtGenericVIFDriver.get_config"): _get_config,
    (_VIF, "LibvirtGenericVIFDriver.plug"): _plug,
    (_VIF, "LibvirtGenericVIFDriver.unplug"): _unplug,
}

_installed: dict[tuple[str, str], tuple[Any, str, Any, Any]] = {}


def install() -> None:
    """Install every wrapper (idempotent)."""
    for key, factory in WRAPPERS.items():
        if key in _installed:
            continue
        owner, name, orig = _resolve(*key)
        wrapper = functools.wraps(orig)(factory(orig))
        wrapper._os_vif_pref_hook = True  # type: ignore[attr-defined]
        setattr(owner, name, wrapper)
        _installed[key] = (owner, name, orig, wrapper)


def uninstall() -> None:
    """Restore Nova's functions (where nobody replaced ours since)."""
    for key, (owner, name, orig, wrapper) in list(_installed.items()):
        if inspect.getattr_static(owner, name) is wrapper:
            setattr(owner, name, orig)
        del _installed[key]


def installed() -> bool:
    return bool(_installed)
