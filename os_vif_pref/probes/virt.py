"""``virt_vif:CLASS``: what the host's virt driver can configure.

For libvirt, read from the installed Nova's source without importing Nova;
every catalogue entry requires it for its object, so a binding the
hypervisor cannot consume is never offered.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
import sys

from oslo_config import cfg

from os_vif_pref.probes.opts import CONF
from os_vif_pref.probes.result import ProbeResult, _missing

#: The os-vif objects Nova 34's libvirt VIF driver configures, used when
#: Nova's source cannot be read.
KNOWN_LIBVIRT_VIFS = ("VIFGeneric", "VIFBridge", "VIFOpenVSwitch",
                      "VIFVHostUser", "VIFHostDevice")
_LIBVIRT_VIF_MODULE = "nova.virt.libvirt.vif"
_LIBVIRT_VIF_FILE = "nova/virt/libvirt/vif.py"


def virt_driver(conf: cfg.ConfigOpts = CONF) -> str:
    """``libvirt``, ``fake``, ``any`` or another Nova driver's name."""
    name = conf.os_vif_pref.virt_driver
    if not name:
        try:
            name = conf.compute_driver
        except (cfg.NoSuchOptError, AttributeError):
            name = None
    if not name:
        return "libvirt"
    # Nova's form: "libvirt.LibvirtDriver", "fake.FakeDriver".
    return str(name).split(".", 1)[0].lower()


def _libvirt_vif_source() -> tuple[str, str] | None:
    """(source text, where) of Nova's libvirt vif module, not imported."""
    mod = sys.modules.get(_LIBVIRT_VIF_MODULE)
    path = getattr(mod, "__file__", None)
    if path is None:
        try:
            from importlib import metadata

            path = str(metadata.distribution("nova").locate_file(
                _LIBVIRT_VIF_FILE))
        except Exception:  # Nova not installed: the known list
            return None
    try:
        with open(path, encoding="utf-8") as f:
            return f.read(), _LIBVIRT_VIF_FILE
    except OSError:
        return None


def libvirt_vif_classes(source: str | None = None,
                        ) -> tuple[tuple[str, ...], str]:
    """The os-vif classes Nova's libvirt driver configures, and whence.

    Read from ``LibvirtGenericVIFDriver._get_config_os_vif``: the classes
    of its ``isinstance(vif, osv_vifs.X)`` tests.  ``source`` replaces the
    installed Nova's module text (tests).
    """
    where = "the given source"
    if source is None:
        found = _libvirt_vif_source()
        if found is None:
            return KNOWN_LIBVIRT_VIFS, "known list (Nova not installed)"
        source, where = found
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return KNOWN_LIBVIRT_VIFS, f"known list ({where}: {exc})"
    names: list[str] = []
    for cls in tree.body:
        if not (isinstance(cls, ast.ClassDef)
                and cls.name == "LibvirtGenericVIFDriver"):
            continue
        for fn in cls.body:
            if not (isinstance(fn, ast.FunctionDef)
                    and fn.name == "_get_config_os_vif"):
                continue
            for node in ast.walk(fn):
                if (isinstance(node, ast.Call)
                        and isinstance(node.func, ast.Name)
                        and node.func.id == "isinstance"
                        and len(node.args) == 2
                        and isinstance(node.args[1], ast.Attribute)):
                    names.append(node.args[1].attr)
    if not names:
        return KNOWN_LIBVIRT_VIFS, (
            f"known list ({where} has no LibvirtGenericVIFDriver."
            "_get_config_os_vif with isinstance tests)")
    return tuple(dict.fromkeys(names)), (
        f"{where}: LibvirtGenericVIFDriver._get_config_os_vif")


def probe_virt_vifs(driver: str, wanted: Iterable[str],
                    ) -> dict[str, ProbeResult]:
    """``virt_vif:CLASS`` for each wanted capability, for one driver."""
    wanted = list(wanted)
    if driver in ("any", "fake"):
        return {c: ProbeResult(c, True, {"driver": driver}) for c in wanted}
    if driver != "libvirt":
        return {c: _missing(c, (
            f"virt driver {driver!r}: which os-vif objects it configures is "
            "not known ([os_vif_pref] virt_driver = any lifts the limit)"))
            for c in wanted}
    handled, where = libvirt_vif_classes()
    try:
        # Which class derives from which, from the cached object model:
        # importing os-vif's classes to ask issubclass() costs ~0.2 s.
        from os_vif_pref import catalogue

        model = catalogue.os_vif_model(register=False)
    except Exception:  # os-vif unimportable: compare names only
        model = {}
    out = {}
    for cap in wanted:
        name = cap.split(":", 1)[1]
        cls = model.get(name)
        ok = name in handled or (cls is not None and any(
            b in handled for b in cls.bases))
        value = {"driver": driver, "handles": list(handled), "from": where}
        out[cap] = ProbeResult(cap, True, value) if ok else ProbeResult(
            cap, False, value, (
                f"Nova's libvirt VIF driver cannot configure {name} (it "
                f"handles {', '.join(handled)}; from {where}): Nova would "
                "fail with 'Unsupported VIF type'"))
    return out
