"""``os-vif-pref demo``: the whole negotiated path, for real, in a sandbox.

Every step is the code the services run, on a real kernel and a real
(private, userspace) Open vSwitch:

1. the host computes its preference list and offer (probes included),
   and Nova's side puts it in the port's ``binding:profile`` the way the
   Nova integration does (:func:`~os_vif_pref.nova.integration.add_offer`);
2. real Neutron binds two ports: its ``Ml2Plugin``, in this process on an
   in-memory sqlite database (:mod:`.real_neutron`), with our
   ``pref_openvswitch`` mechanism driver (or the stock ``openvswitch`` one
   for "an old Neutron") and an Open vSwitch agent registered for this host;
3. the Nova side checks each binding against the offer stored on the port
   and converts it to an os-vif object, through the Nova integration's own
   check-and-convert (:func:`~os_vif_pref.nova.integration.checked_vif`);
4. ``os_vif.plug()`` plugs both through our plugins and the privsep daemon
   (a Linux bridge, or the OVS netdev bridge), each VIF's device standing
   for a guest whose end is in its own network namespace;
5. the two guests ping each other;
6. both are unplugged, the network torn down, and the sandbox compared with
   its state before: nothing may be left behind.

Cases: the host's preferred binding is served; it is not, so the second is
chosen; an old Neutron (no offer support) answers its default; an old Nova
sends no offer; Neutron answers a type outside the offer, which Nova refuses
(``OfferRefused``, a ``PortBindingFailed``) before anything is plugged.

Without Neutron installed, step 2 runs on an ML2-shaped port context with
drivers using :class:`~os_vif_pref.neutron.NegotiatingMechanismDriverMixin`
and step 3 calls :func:`~os_vif_pref.nova.check_binding` and
:func:`~os_vif_pref.nova.to_os_vif` directly; the output says which path
ran.

Needs root (namespaces, ``sudo privsep-helper``) and the Open vSwitch
binaries (openvswitch-switch); it starts and stops everything itself and
leaves nothing behind.  Exit status 0 only if every step held.

A package by step, like :mod:`os_vif_pref.sandbox` beside it:
:mod:`.sandbox` (what the steps run in), :mod:`.ml2_fallback` and
:mod:`.real_neutron` (step 2, without and with Neutron), :mod:`.cases`,
:mod:`.steps` (one case end to end), :mod:`.report` and :mod:`.command`
(the cliff command).  The public names are resolved here lazily: the
Neutron child (``python -m os_vif_pref.cli.demo.real_neutron``) imports
this package first and must not pull os-vif, Nova's side or cliff into
Neutron's process.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Public name -> the module of this package that defines it.
_WHERE = {
    "Demo": "command", "iter_case_names": "command",
    "CASES": "cases", "Case": "cases", "RealNeutron": "cases",
    "NegotiatingDriver": "ml2_fallback", "LegacyDriver": "ml2_fallback",
    "neutron_port": "ml2_fallback", "bind": "ml2_fallback",
    "SEGMENTS": "ml2_fallback",
    "Sandbox": "sandbox", "real_path_problem": "sandbox",
    "INT_BRIDGE": "sandbox", "NETWORK_MTU": "sandbox",
    "PREFERENCE_ORDER": "sandbox",
    "Report": "report", "StepFailed": "report",
    "run": "steps", "run_case": "steps", "describe_path": "steps",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        module = importlib.import_module(f"{__name__}.{_WHERE[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
