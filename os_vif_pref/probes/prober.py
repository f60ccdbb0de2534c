"""The prober: which family answers a capability, and the per-family cache.

:class:`Prober` runs a family on demand and keeps its results for
``[os_vif_pref] probe_cache_ttl`` seconds, keyed by the configuration the
family reads; :func:`default_prober` is the process's one instance (the
preference list, the CLI and the Nova integration share it).  Apart from
the families: a new family is a module of its own, named in
:func:`family`, ``Prober._key`` and ``Prober._run``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
import dataclasses
import logging
import threading
import time
from typing import Any

from oslo_config import cfg

from os_vif_pref.probes.devices import probe_socket_dir, probe_sriov
from os_vif_pref.probes.kernel import LINK_KINDS, probe_kernel_links
from os_vif_pref.probes.opts import CONF
from os_vif_pref.probes.ovsdb import _ovs_connection, _vhostuser_dir, probe_ovs
from os_vif_pref.probes.plugins import (
    _not_installed,
    _plugin_eps,
    probe_plugin,
)
from os_vif_pref.probes.result import ProbeResult, _missing
from os_vif_pref.probes.virt import probe_virt_vifs, virt_driver

# The name it has always logged under (probes was one module).
LOG = logging.getLogger("os_vif_pref.probes")


def family(capability: str) -> str:
    """The probe family answering a capability."""
    if capability.startswith("kernel_link:"):
        return "kernel_link"
    if capability in ("ovsdb", "ovs_bridge") or capability.startswith(
            ("ovs_datapath:", "ovs_iface:")):
        return "ovsdb"
    if capability.startswith("plugin:"):
        return capability
    if capability.startswith("virt_vif:"):
        return "virt_vif"
    if capability in ("vhostuser_socket_dir", "sriov"):
        return capability
    return ""


def known(capability: str) -> bool:
    if capability.startswith("kernel_link:"):
        return capability.split(":", 1)[1] in LINK_KINDS
    return bool(family(capability)) and not capability.endswith(":")


class Prober:
    """Runs probe families on demand and caches them for the TTL."""

    def __init__(self, conf: cfg.ConfigOpts = CONF,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.conf = conf
        self.clock = clock
        self._lock = threading.Lock()
        # family -> (config key, expiry, results, same marked cached)
        self._cache: dict[str, tuple[Any, float, dict[str, ProbeResult],
                                     dict[str, ProbeResult]]] = {}
        self._eps: dict[str, Any] | None = None
        self.generation = 0

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()
            self._eps = None
            self.generation += 1

    def _key(self, fam: str) -> Any:
        if fam.startswith("plugin:") or fam in ("kernel_link", "sriov"):
            return None  # reads no configuration
        opts = self.conf.os_vif_pref
        if fam == "ovsdb":
            return (_ovs_connection(self.conf), opts.probe_ovs_bridge,
                    opts.probe_timeout)
        if fam == "vhostuser_socket_dir":
            return _vhostuser_dir(self.conf)
        if fam == "virt_vif":
            return virt_driver(self.conf)
        return None

    def _run(self, fam: str, key: Any,
             wanted: Iterable[str]) -> dict[str, ProbeResult]:
        timeout = float(self.conf.os_vif_pref.probe_timeout)
        if fam == "kernel_link":
            return probe_kernel_links(timeout)
        if fam == "ovsdb":
            return probe_ovs(key[0], key[1], timeout, wanted)
        if fam == "vhostuser_socket_dir":
            return {fam: probe_socket_dir(key)}
        if fam == "sriov":
            return {fam: probe_sriov()}
        if fam == "virt_vif":
            return probe_virt_vifs(key, wanted)
        if fam.startswith("plugin:"):
            if self._eps is None:
                self._eps = _plugin_eps()
            return {fam: probe_plugin(fam.split(":", 1)[1], self._eps)}
        return {}

    def _family(self, fam: str, wanted: set[str]) -> dict[str, ProbeResult]:
        """Cached results of one family, probing when stale or incomplete."""
        now = self.clock()
        try:
            key = self._key(fam)
        except Exception as exc:  # unreadable config: report, never raise
            return {c: _missing(c, f"cannot configure the probe: {exc}")
                    for c in wanted}
        hit = self._cache.get(fam)
        if (hit is not None and hit[0] == key and hit[1] > now
                and wanted <= hit[2].keys()):
            return hit[3]
        wanted = wanted | (hit[2].keys() if hit else set())
        start = time.perf_counter()
        try:
            results = self._run(fam, key, wanted)
        except Exception as exc:  # a probe must never break the list
            LOG.exception("Probe %s failed", fam)
            results = {c: _missing(c, f"probe failed: {exc}")
                       for c in wanted}
        took = time.perf_counter() - start
        results = {c: dataclasses.replace(r, duration=took)
                   for c, r in results.items()}
        ttl = float(self.conf.os_vif_pref.probe_cache_ttl)
        with self._lock:
            self._cache[fam] = (key, now + ttl, results, {
                c: dataclasses.replace(r, cached=True)
                for c, r in results.items()})
            self.generation += 1
        return results

    def plugin_absent(self, name: str) -> ProbeResult | None:
        """The ``plugin:NAME`` failure if that os-vif plugin is not
        installed at all, found without loading any plugin (None: it is
        installed; whether it loads is what probing ``plugin:NAME`` says).
        """
        if self._eps is None:
            self._eps = _plugin_eps()
        if name in self._eps:
            return None
        return _not_installed(name)

    def probe(self, capabilities: Iterable[str]) -> dict[str, ProbeResult]:
        """Results for the given capabilities (unknown ones are missing)."""
        by_family: dict[str, set[str]] = {}
        out: dict[str, ProbeResult] = {}
        for cap in capabilities:
            if not known(cap):
                out[cap] = _missing(cap, f"unknown capability {cap!r} (no "
                                         "probe answers it)")
                continue
            by_family.setdefault(family(cap), set()).add(cap)
        for fam, caps in by_family.items():
            results = self._family(fam, caps)
            for cap in caps:
                out[cap] = results.get(cap) or _missing(
                    cap, "the probe did not report it")
        return out

    def probe_all(self, extra: Iterable[str] = ()) -> dict[str, ProbeResult]:
        """Every capability this module knows, plus ``extra``."""
        caps = [f"kernel_link:{k}" for k in LINK_KINDS]
        caps += ["ovsdb", "ovs_bridge", "vhostuser_socket_dir", "sriov"]
        caps += list(extra)
        first = self.probe(dict.fromkeys(caps))
        # Add whatever vswitchd reported beyond what was asked.
        fam = self._cache.get("ovsdb")
        if fam is not None:
            for cap, res in fam[2].items():
                first.setdefault(cap, res)
        return dict(sorted(first.items()))


_default: Prober | None = None


def default_prober() -> Prober:
    global _default
    if _default is None:
        _default = Prober()
    return _default
