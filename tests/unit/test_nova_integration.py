"""The Nova integration's hook functions, without Nova's harness.

The cases in Nova's functional harness (tests/nova) show the hooks in a
running Nova; these pin the edge cases: nothing changes when off, the
budget next to Nova's keys, offers of other hosts, unreadable offers, the
concise faults, the live-migration profiles, the offering client's edits.
"""

from __future__ import annotations

import json
import time
import types
from typing import Any
from unittest import mock

from nova import exception as nova_exception
from nova import objects
import pytest

from os_vif_pref import offer
from os_vif_pref.nova import faults, hooks, integration
from tests.nova.probers import LINUX_ONLY, OVS_DPDK, CapabilityProber

objects.register_all()

PORT = "ce531f90-199f-48c0-816c-13e38010b442"
NET = "3cb9bc59-5699-4588-a4b1-b87f96708bc6"


def _instance(page_size: str | None = None) -> Any:
    specs = {"hw:mem_page_size": page_size} if page_size else {}
    return types.SimpleNamespace(
        uuid="inst-1", host="compute1", _context=None,
        flavor=types.SimpleNamespace(extra_specs=specs),
        image_meta=objects.ImageMeta.from_dict({"properties": {}}))


@pytest.fixture
def on() -> Any:
    probers = {"compute1": CapabilityProber(OVS_DPDK),
               "compute2": CapabilityProber(LINUX_ONLY)}
    assert integration.switch_on(hosts=list(probers),
                                 prober_for=probers.__getitem__,
                                 refresh_interval=0, install=False)
    yield probers
    integration.switch_off()


def _vif(vif_type: str, details: dict[str, Any], profile: Any,
         vnic: str = "normal") -> dict[str, Any]:
    return {"id": PORT, "address": "fa:16:3e:00:00:01", "type": vif_type,
            "vnic_type": vnic, "details": details, "profile": profile,
            "devname": "tap" + PORT[:11], "active": False,
            "network": {"id": NET, "bridge": "br-int", "label": "n",
                        "subnets": [], "meta": {"mtu": 1500}}}


def test_off_changes_nothing() -> None:
    assert not integration.enabled()
    profile = {"pci_slot": "0000:81:00.1", offer.KEY: {"v": "2.0"}}
    assert integration.add_offer(profile, _instance(), "normal",
                                 "compute1") == profile
    assert integration.remove_offer(profile) == profile
    assert integration.checked_vif(_vif("ovs", {}, profile), None) is None


def test_offer_per_instance_next_to_novas_keys(on: Any) -> None:
    nova_keys = {"pci_slot": "0000:81:00.1", "physical_network": "phys"}
    plain = integration.add_offer(nova_keys, _instance(), "normal",
                                  "compute1")
    assert {k: plain[k] for k in nova_keys} == nova_keys
    got = offer.decode(plain)
    assert got.host == "compute1"
    assert "ovs-vhostuser" not in got.names() and "ovs" in got.names()
    huge = offer.decode(integration.add_offer(
        {}, _instance("large"), "normal", "compute1"))
    assert huge.names()[0] == "ovs-vhostuser"
    # bridge is never offered from Nova 34 (its network model refuses it)
    assert "linux-bridge" not in plain[offer.KEY]
    assert nova_keys == {"pci_slot": "0000:81:00.1",
                         "physical_network": "phys"}  # not modified


def test_offer_fits_what_novas_keys_leave(on: Any) -> None:
    full = integration.add_offer({}, _instance(), "normal", "compute1")
    size = offer.stored_size({offer.KEY: full[offer.KEY]})
    # Nova's keys leave room for a shorter offer only: cut, still fits.
    filler = "x" * (integration.BINDING_PROFILE_LEN - size + 10)
    cut = integration.add_offer({"capabilities": filler}, _instance(),
                                "normal", "compute1")
    assert len(json.dumps(cut)) <= integration.BINDING_PROFILE_LEN
    assert 0 < len(offer.decode(cut).names()) < len(
        offer.decode(full).names())
    # No room at all: no offer, Nova's keys untouched (stock binding).
    huge = {"capabilities": "x" * (integration.BINDING_PROFILE_LEN - 20)}
    assert integration.add_offer(huge, _instance(), "normal",
                                 "compute1") == huge


def test_other_hosts_offer_never_reaches_a_binding(on: Any) -> None:
    src = integration.add_offer({}, _instance(), "normal", "compute1")
    # compute2 is served here: its own offer replaces compute1's
    dest = integration.add_offer(src, _instance(), "normal", "compute2")
    assert offer.decode(dest).host == "compute2"
    # a host not served here: the foreign offer is dropped, its own kept
    assert offer.KEY not in integration.add_offer(
        src, _instance(), "normal", "elsewhere")
    assert integration.add_offer(src, _instance(), "normal",
                                 "compute1") == src
    assert integration.remove_offer(src) == {}


def test_checked_vif(on: Any) -> None:
    profile = integration.add_offer({}, _instance(), "normal", "compute1")
    # inside the offer: the catalogue's object, the catalogue's plugin
    obj = integration.checked_vif(
        _vif("ovs", {"port_filter": True, "bridge_name": "br-int"},
             profile), _instance())
    assert (type(obj).__name__, obj.plugin) == ("VIFOpenVSwitch",
                                                "pref_ovs")
    # Nova's legacy types too (Nova's own converter returns None for tap)
    tap = integration.checked_vif(_vif("tap", {}, profile), _instance())
    assert (type(tap).__name__, tap.plugin) == ("VIFGeneric", "pref_tap")
    # outside: Nova's PortBindingFailed family, short enough for a fault
    with pytest.raises(faults.OfferRefused) as err:
        integration.checked_vif(_vif("vhostuser", {
            "vhostuser_ovs_plug": True, "vhostuser_socket": "/s"}, profile),
            _instance())
    assert isinstance(err.value, nova_exception.PortBindingFailed)
    assert err.value.kwargs["port_id"] == PORT
    msg = err.value.format_message()
    assert msg.startswith(f"Neutron bound port {PORT} as vhostuser, which "
                          "this host did not offer; offered: ovs, ")
    assert len(msg) <= 255
    with pytest.raises(faults.OfferNotServed, match="offered: ovs, "):
        integration.checked_vif(_vif("binding_failed", {}, profile),
                                _instance())


@pytest.mark.parametrize("profile, why", [
    ({}, None),
    ({offer.KEY: {"v": "2.0", "h": "compute1", "i": "junk"}},
     "unreadable offer"),
    ("not a dict", None),
])
def test_checked_vif_falls_back_to_stock(on: Any, profile: Any,
                                         why: str | None) -> None:
    with mock.patch.object(integration.LOG, "warning") as warn:
        assert integration.checked_vif(_vif("ovs", {}, profile),
                                       _instance()) is None
    if why:
        assert why in warn.call_args[0][0]


def test_another_hosts_offer_is_never_enforced_here(on: Any) -> None:
    # A live-migration source builds the destination's interface XML from
    # the destination's binding and offer: inside it, the catalogue
    # converts; outside (perhaps a source offer a stock conductor copied):
    # stock, never a refusal.
    profile = integration.add_offer({}, _instance(), "normal", "compute1")
    integration._state.plists.pop("compute1")
    obj = integration.checked_vif(_vif("tap", {}, profile), _instance())
    assert obj.plugin == "pref_tap"
    assert integration.checked_vif(_vif("vhostuser", {}, profile),
                                   _instance()) is None
    integration.check_bound_port({"id": PORT, "binding:profile": profile,
                                  "binding:vif_type": "binding_failed"})


def test_check_bound_port(on: Any) -> None:
    profile = integration.add_offer({}, _instance(), "normal", "compute1")
    port = {"id": PORT, "binding:vif_type": "binding_failed",
            "binding:profile": profile}
    with pytest.raises(faults.OfferNotServed,
                       match="host compute1 offered"):
        integration.check_bound_port(port)
    integration.check_bound_port(dict(port, **{"binding:profile": {}}))
    integration.check_bound_port(dict(port, **{"binding:vif_type": "ovs"}))


class _MigVif:
    def __init__(self, source_profile: dict, profile: dict | None) -> None:
        self.port_id = PORT
        self.source_vif = {"profile": source_profile, "vnic_type": "normal"}
        self._profile = profile

    def __contains__(self, name: str) -> bool:
        return name == "profile_json" and self._profile is not None

    @property
    def profile(self) -> dict:
        return dict(self._profile or {})

    @profile.setter
    def profile(self, value: dict) -> None:
        self._profile = value


class _MigData:
    def __init__(self, vifs: list) -> None:
        self.vifs = vifs

    def __contains__(self, name: str) -> bool:
        return name == "vifs"


def test_destination_profiles(on: Any) -> None:
    src = integration.add_offer({"physical_network": "p"}, _instance(),
                                "normal", "compute1")
    delegated = _MigVif(src, {"os_vif_delegation": True})
    copied = _MigVif(src, None)
    integration.destination_profiles(_MigData([delegated, copied]),
                                      _instance(), "compute2")
    for mig, kept in ((delegated, "os_vif_delegation"),
                      (copied, "physical_network")):
        assert offer.decode(mig.profile).host == "compute2"
        assert kept in mig.profile


def test_offering_client_edits_binding_updates_only(on: Any) -> None:
    scope = hooks._Scope(_instance(), "compute1")
    scope.learn({"id": PORT, "binding:profile": {"pci_slot": "s"},
                 "binding:vnic_type": "normal"})
    body = {"port": {"device_id": "x"}}
    assert scope.edit(PORT, body) is body
    bound = scope.edit(PORT, {"port": {"binding:host_id": "compute1"}})
    profile = bound["port"]["binding:profile"]
    assert profile["pci_slot"] == "s" and offer.decode(profile)
    unbound = scope.edit(PORT, {"port": {"binding:host_id": None,
                                         "binding:profile": profile}})
    assert unbound["port"]["binding:profile"] == {"pci_slot": "s"}
    # a port whose current profile is unknown: sending one would wipe it
    other = {"port": {"binding:host_id": "compute1"}}
    assert scope.edit("unknown-port", other) is other


def test_verify_accepts_this_nova() -> None:
    assert hooks.verify() is None


def test_background_refresh_follows_the_host() -> None:
    """Probes run at start and in the background, never in a binding."""
    prober = CapabilityProber(OVS_DPDK)
    assert integration.switch_on(hosts=["compute1"],
                                 prober_for=lambda host: prober,
                                 refresh_interval=0.05, install=False)
    try:
        before = offer.decode(integration.add_offer(
            {}, _instance(), "normal", "compute1")).names()
        assert "ovs" in before
        prober.present = LINUX_ONLY  # OVS went away
        prober.clear()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            now = offer.decode(integration.add_offer(
                {}, _instance(), "normal", "compute1")).names()
            if "ovs" not in now:
                break
            time.sleep(0.05)
        assert now == ["tap"]
        # add_offer would swallow the error and send no offer
        with mock.patch.object(integration.preference, "compute",
                               side_effect=AssertionError("probed")):
            got = integration.add_offer({}, _instance(), "normal",
                                        "compute1")
        assert offer.decode(got).names() == ["tap"]
    finally:
        integration.switch_off()


def test_a_nova_carrying_the_contrib_patch_is_not_patched() -> None:
    carrier = types.ModuleType("nova.network.binding_preference")
    carrier.CARRIES_HOOKS = True
    with mock.patch.dict("sys.modules",
                         {"nova.network.binding_preference": carrier}):
        assert hooks.nova_carries_hooks()
        assert integration.switch_on(
            hosts=["compute1"], refresh_interval=0,
            prober_for=lambda host: CapabilityProber(OVS_DPDK))
        try:
            assert integration.enabled() and not hooks.installed()
        finally:
            integration.switch_off()
    assert not hooks.nova_carries_hooks()


def test_broken_catalogue_leaves_nova_stock() -> None:
    """A catalogue that cannot load (or probes that blow up) never stops
    nova-compute: the host's bindings stay stock, and the log says why."""
    with mock.patch.object(integration.preference, "compute",
                           side_effect=RuntimeError("bad catalogue")), \
            mock.patch.object(integration.LOG, "error") as error:
        assert integration.switch_on(hosts=["compute1"], install=False,
                                     refresh_interval=0)
    try:
        assert "bad catalogue" in str(error.call_args)
        assert integration.served_hosts() == frozenset()
        assert integration.add_offer({"pci_slot": "s"}, _instance(),
                                     "normal", "compute1") == {
                                         "pci_slot": "s"}
        assert integration.checked_vif(_vif("ovs", {}, {}),
                                       _instance()) is None
    finally:
        integration.switch_off()


@pytest.mark.parametrize("option, argv0, modules, on", [
    (True, "/usr/bin/nova-compute", {}, True),
    (True, "/usr/bin/python3", {"nova.cmd.compute": types.ModuleType("x")},
     True),
    (False, "/usr/bin/nova-compute", {}, False),
    (True, "/usr/bin/neutron-openvswitch-agent", {}, False),
])
def test_plugins_loaded_switches_on_only_in_nova_compute(
        option: bool, argv0: str, modules: dict, on: bool) -> None:
    from oslo_config import cfg

    cfg.CONF.set_override("nova_integration", option, "os_vif_pref")
    integration._state.tried = False
    try:
        with mock.patch.object(integration, "switch_on") as switch_on, \
                mock.patch("sys.argv", [argv0]), \
                mock.patch.dict("sys.modules", modules):
            integration.on_plugins_loaded()
            integration.on_plugins_loaded()  # once per process
        assert switch_on.call_count == (1 if on else 0)
    finally:
        cfg.CONF.clear_override("nova_integration", "os_vif_pref")
