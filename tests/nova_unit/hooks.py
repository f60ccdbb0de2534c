"""Setup hooks for Nova's own unit tests (called in the runner's child).

:func:`integration_on` switches the Nova integration on the way
nova-compute does (``integration.switch_on``: verify Nova's shape, install
the runtime hooks), before Nova's test modules load. Choices made for a
unit-test process:

* the probes are a fixed set of capabilities (an OVS-DPDK host, as in the
  Nova functional cases), not this machine's: Nova's test base poisons
  ``/sys`` reads, and the offer must not depend on where CI runs;
* every host a test binds to is served: Nova's unit tests bind to many
  invented host names (``my-host``, ``fake-host``, ``new-host`` ...) each
  standing for "this compute", so a host is warmed the first time an offer
  is asked for it, instead of guessing the list here;
* what an ``Instance`` object has not loaded is read as a plain boot: no
  flavor, a flavor without extra specs; no system metadata, an image
  without properties. Nova's unit tests build instances with
  ``objects.Instance(uuid=...)`` or ``fake_instance_obj`` and have no
  database to lazy-load the rest from, where nova-compute's instances
  always carry theirs; the integration would decline to offer for them (it
  never guesses an instance's needs, and the lazy load fails), and Nova's
  tests that bind ports would never see an offer. A mock or a dict as the
  instance still gets none;
* it counts the calls of the integration's hook functions and what they
  did, in all and per test module (``"modules": {module: {name: n}}``,
  the module of the test running at the call), returned after the tests
  (``Outcomes.report_values``), so the pytest test can show the
  integration really ran, and offered, inside each of Nova's modules.

:func:`patched_nova` is for runs against a copy of Nova carrying
``contrib/nova``'s patch (first on the child's PYTHONPATH): it checks that
copy is the Nova imported, and counts the same calls plus any installation
of the runtime hooks (there must be none: the patch calls the hook
functions itself).
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Any

#: The integration's hook functions counted (hooks.py and the contrib
#: patch call them as ``integration.<name>``, looked up at call time).
COUNTED = ("add_offer", "remove_offer", "checked_vif", "check_bound_port",
           "destination_profiles")


#: Where calls made outside any test are counted in ``"modules"``.
NO_TEST = "(no test running)"


class Counts:
    """What the hook functions did, in all and per test module."""

    def __init__(self) -> None:
        self.total: collections.Counter[str] = collections.Counter()
        self.modules: dict[str, collections.Counter[str]] = (
            collections.defaultdict(collections.Counter))

    def add(self, key: str) -> None:
        from tests import peer_child

        test_id = peer_child.current_test()
        module = test_id.rsplit(".", 2)[0] if test_id else NO_TEST
        self.total[key] += 1
        self.modules[module][key] += 1

    def report(self, **extra: Any) -> dict[str, Any]:
        return {**extra, **self.total,
                "modules": {m: dict(c) for m, c in self.modules.items()}}


def module_totals(reports: list[dict[str, Any]]
                  ) -> dict[str, collections.Counter[str]]:
    """``{module: counts}`` summed over the shards' reports (a module with
    no calls: empty counts)."""
    totals: dict[str, collections.Counter[str]] = collections.defaultdict(
        collections.Counter)
    for report in reports:
        for module, counts in report.get("modules", {}).items():
            totals[module].update(counts)
    return totals


def _count(counts: Counts, serve_with: Any = None) -> None:
    """Count every call of the integration's hook functions (and warm an
    unknown host first when ``serve_with`` is a prober)."""
    from os_vif_pref import offer
    from os_vif_pref.nova import integration

    def counted(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            counts.add(name)
            if name == "add_offer" and serve_with is not None:
                host = args[3] if len(args) > 3 else kwargs.get("host")
                if host and host not in integration.served_hosts():
                    integration.warm(host, serve_with)
            try:
                result = func(*args, **kwargs)
            except Exception:
                counts.add(name + ":raised")
                raise
            if name == "add_offer" and offer.KEY in result:
                counts.add("add_offer:offered")
            if name == "checked_vif" and result is not None:
                counts.add("checked_vif:converted")
            return result
        return wrapper

    for name in COUNTED:
        setattr(integration, name, counted(name, getattr(integration, name)))


def _plain_boot_where_unloaded() -> None:
    """Read what a Nova ``Instance`` has not loaded as a plain boot
    (module docstring) instead of lazy-loading it."""
    from os_vif_pref import preference
    from os_vif_pref.nova import integration

    instance_info = integration.instance_info

    def wrapper(instance: Any, vnic_type: str | None
                ) -> preference.InstanceInfo:
        is_set = getattr(type(instance), "obj_attr_is_set", None)
        if is_set is None or (is_set(instance, "flavor")
                              and is_set(instance, "system_metadata")):
            return instance_info(instance, vnic_type)
        specs = (dict(instance.flavor.extra_specs or {})
                 if is_set(instance, "flavor") else {})
        return preference.InstanceInfo.from_dict(
            {"extra_specs": specs, "vnic_type": vnic_type or None})

    integration.instance_info = wrapper


def _switch_on(counts: Counts) -> None:
    from os_vif_pref.nova import integration
    from tests.nova.harness import OVS_DPDK, CapabilityProber

    prober = CapabilityProber(OVS_DPDK)
    if not integration.switch_on(hosts=[], prober_for=lambda host: prober,
                                 refresh_interval=0):
        raise RuntimeError("the Nova integration refused to switch on "
                           "(see the log above)")
    _plain_boot_where_unloaded()
    _count(counts, serve_with=prober)


def integration_on() -> Callable[[], dict[str, Any]]:
    """Switch the integration on for every host, with the runtime hooks
    patching the installed Nova (module docstring)."""
    counts = Counts()
    _switch_on(counts)
    return counts.report


def _check_patched() -> str:
    import nova
    from nova.network import binding_preference  # only in the patched Nova

    if binding_preference._impl is None:
        raise RuntimeError("the patched Nova cannot import os_vif_pref")
    return nova.__file__


def _count_installs(counts: Counts) -> None:
    from os_vif_pref.nova import hooks

    install = hooks.install

    def counted_install() -> None:
        counts.add("runtime_hooks_install")
        install()

    hooks.install = counted_install


def patched_nova() -> Callable[[], dict[str, Any]]:
    """Check the patched Nova is the one imported; count (module doc).
    The test cases switch the integration on themselves."""
    where = _check_patched()
    counts = Counts()
    _count(counts)
    _count_installs(counts)
    return lambda: counts.report(nova=where)


def patched_nova_integration_on() -> Callable[[], dict[str, Any]]:
    """On a patched Nova: the integration on for every host, switched on
    as nova-compute does (``switch_on()``, which must see the patch and
    install no runtime hooks: the patched code calls the hook functions)."""
    where = _check_patched()
    counts = Counts()
    _count_installs(counts)
    _switch_on(counts)
    return lambda: counts.report(nova=where)
