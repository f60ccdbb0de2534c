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
* it counts the calls of the integration's hook functions and what they
  did, returned after the tests (``Outcomes.report_values``), so the
  pytest test can show the integration really ran inside Nova's tests.

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


def _count(counts: collections.Counter[str],
           serve_with: Any = None) -> None:
    """Count every call of the integration's hook functions (and warm an
    unknown host first when ``serve_with`` is a prober)."""
    from os_vif_pref import offer
    from os_vif_pref.nova import integration

    def counted(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            counts[name] += 1
            if name == "add_offer" and serve_with is not None:
                host = args[3] if len(args) > 3 else kwargs.get("host")
                if host and host not in integration.served_hosts():
                    integration.warm(host, serve_with)
            try:
                result = func(*args, **kwargs)
            except Exception:
                counts[name + ":raised"] += 1
                raise
            if name == "add_offer" and offer.KEY in result:
                counts["add_offer:offered"] += 1
            if name == "checked_vif" and result is not None:
                counts["checked_vif:converted"] += 1
            return result
        return wrapper

    for name in COUNTED:
        setattr(integration, name, counted(name, getattr(integration, name)))


def _switch_on(counts: collections.Counter[str]) -> None:
    from os_vif_pref.nova import integration
    from tests.nova.harness import OVS_DPDK, CapabilityProber

    prober = CapabilityProber(OVS_DPDK)
    if not integration.switch_on(hosts=[], prober_for=lambda host: prober,
                                 refresh_interval=0):
        raise RuntimeError("the Nova integration refused to switch on "
                           "(see the log above)")
    _count(counts, serve_with=prober)


def integration_on() -> Callable[[], dict[str, int]]:
    """Switch the integration on for every host, with the runtime hooks
    patching the installed Nova (module docstring)."""
    counts: collections.Counter[str] = collections.Counter()
    _switch_on(counts)
    return lambda: dict(counts)


def _check_patched() -> str:
    import nova
    from nova.network import binding_preference  # only in the patched Nova

    if binding_preference._impl is None:
        raise RuntimeError("the patched Nova cannot import os_vif_pref")
    return nova.__file__


def _count_installs(counts: collections.Counter[str]) -> None:
    from os_vif_pref.nova import hooks

    install = hooks.install

    def counted_install() -> None:
        counts["runtime_hooks_install"] += 1
        install()

    hooks.install = counted_install


def patched_nova() -> Callable[[], dict[str, Any]]:
    """Check the patched Nova is the one imported; count (module doc).
    The test cases switch the integration on themselves."""
    where = _check_patched()
    counts: collections.Counter[str] = collections.Counter()
    _count(counts)
    _count_installs(counts)
    return lambda: {"nova": where, **counts}


def patched_nova_integration_on() -> Callable[[], dict[str, Any]]:
    """On a patched Nova: the integration on for every host, switched on
    as nova-compute does (``switch_on()``, which must see the patch and
    install no runtime hooks: the patched code calls the hook functions)."""
    where = _check_patched()
    counts: collections.Counter[str] = collections.Counter()
    _count_installs(counts)
    _switch_on(counts)
    return lambda: {"nova": where, **counts}
