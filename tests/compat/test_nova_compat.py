"""os_vif_pref.nova.to_os_vif against Nova's own converter, field by field.

For every binding the bundled catalogue describes and Nova converts
(ovs, agilio_ovs, vhostuser, vrouter, ivs), many ports are built the way
Nova gets them - with Nova's own model classes, and from Neutron port dicts
through Nova's own ``API._build_vif_model`` with a fake Neutron client - and
``obj_to_primitive()`` of our object must equal that of
``nova.network.os_vif_util.nova_to_osvif_vif``.  The only difference
allowed is ``plugin``, and only where the catalogue names our plugin for an
entry whose ``alt_plugins`` has Nova's; with ``plugin_choice`` set to the
upstream plugin even that goes away (checked separately).

Nova is a test dependency (test-requirements.txt): these tests must run,
never skip.
"""

from __future__ import annotations

import copy
import itertools
import json
import random
from typing import Any
from unittest import mock
import uuid

from nova import context as nova_context
from nova import exception as nova_exception
from nova.network import model, os_vif_util
from nova.network import neutron as nova_neutron
import pytest

from os_vif_pref import catalogue, nova

pytestmark = pytest.mark.nova_compat

#: vif_types Nova's os_vif_util converts to an object.
NOVA_TYPES = {"ovs", "agilio_ovs", "vhostuser", "vrouter", "ivs"}

RNG_SEED = 20261125
SOCKET = "/var/lib/vhost_sockets/vhu-sock"
PCI = "0000:81:00.3"


LAYERS = [list(catalogue.bundled_files())]


def _catalogue(**choice: str) -> catalogue.Catalogue:
    cat = catalogue.load(LAYERS, plugin_choice=choice)
    assert not cat.errors, cat.errors
    return cat


CAT = _catalogue()
ALL_ENTRIES = list(CAT.entries) + list(CAT.disabled)
NOVA_ENTRIES = [e for e in ALL_ENTRIES if e.vif_type in NOVA_TYPES]


def norm(prim: Any) -> Any:
    """A primitive with ``changes`` as a sorted list (it is a set)."""
    if isinstance(prim, dict):
        return {k: sorted(v) if k == "versioned_object.changes" else norm(v)
                for k, v in prim.items()}
    if isinstance(prim, list):
        return [norm(v) for v in prim]
    return prim


def differences(a: Any, b: Any, at: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                out.append(f"{at}.{key}: only in "
                           f"{'nova' if key in a else 'ours'}")
            else:
                out += differences(a[key], b[key], f"{at}.{key}")
        return out
    if a != b:
        return [f"{at}: nova {a!r} != ours {b!r}"]
    return []


def assert_same(nova_obj: Any, ours: Any, entry: catalogue.Entry) -> None:
    a = norm(nova_obj.obj_to_primitive())
    b = norm(ours.obj_to_primitive())
    data_a, data_b = a["versioned_object.data"], b["versioned_object.data"]
    if data_a.get("plugin") != data_b.get("plugin"):
        # Allowed only as the catalogue's declared alternative.
        allowed = {entry.plugin, *entry.alt_plugins}
        assert data_b["plugin"] == entry.plugin
        assert data_a["plugin"] in allowed, (
            f"Nova uses plugin {data_a['plugin']!r}, entry {entry.name} "
            f"allows {sorted(allowed)}")
        data_b = dict(data_b, plugin=data_a["plugin"])
        b = dict(b, **{"versioned_object.data": data_b})
    diff = differences(a, b)
    assert not diff, f"entry {entry.name}:\n" + "\n".join(diff)


# --------------------------------------------------------------------------
# Port variants
# --------------------------------------------------------------------------

def details_for(entry: catalogue.Entry, rng: random.Random,
                ) -> dict[str, Any]:
    details: dict[str, Any] = {}
    for key, want in entry.details_match.items():
        if want is False:
            # Absent and false mean the same; try both.
            if rng.random() < 0.5:
                details[key] = False
        elif want is not None:
            details[key] = want
    for key in entry.details_required:
        details[key] = SOCKET if key == "vhostuser_socket" else "x"
    for key, values in (("port_filter", [True, False, None]),
                        ("datapath_type", ["system", "netdev", None]),
                        ("ovs_create_tap", [True, False, None]),
                        ("vhostuser_mode", ["client", "server", None]),
                        ("bridge_name", ["br-ex", None]),
                        ("connectivity", ["l2", None])):
        value = rng.choice(values)
        if value is not None:
            details[key] = value
    return details


def nova_network(rng: random.Random, bridge: str | None) -> model.Network:
    subnets = []
    for _ in range(rng.choice([0, 1, 2])):
        v6 = rng.random() < 0.3
        base = "2001:db8:" if v6 else f"10.{rng.randrange(256)}.0"
        cidr = "2001:db8::/64" if v6 else base + ".0/24"
        gw = model.IP(address=("2001:db8::1" if v6 else base + ".1"),
                      type="gateway") if rng.random() < 0.8 else None
        ips = []
        for j in range(rng.choice([0, 1, 2])):
            addr = f"2001:db8::{j + 10}" if v6 else f"{base}.{j + 10}"
            fixed = model.FixedIP(address=addr)
            if rng.random() < 0.3 and not v6:
                fixed.add_floating_ip(model.IP(address="172.24.4.9",
                                               type="floating"))
            ips.append(fixed)
        routes = [model.Route(
            cidr="192.168.50.0/24",
            gateway=model.IP(address=base + ".254" if not v6
                             else "2001:db8::fe", type="gateway"),
            interface=rng.choice([None, "eth1"]))
            for _ in range(rng.choice([0, 1]))]
        dns = [model.IP(address="8.8.8.8", type="dns")] if (
            rng.random() < 0.5) else []
        subnets.append(model.Subnet(cidr=cidr, gateway=gw, ips=ips,
                                    routes=routes, dns=dns))
    meta: dict[str, Any] = {}
    if rng.random() < 0.7:
        meta["mtu"] = rng.choice([1280, 1450, 1500, 9000])
    if rng.random() < 0.2:
        meta["should_create_vlan"] = True
        meta["vlan"] = rng.randrange(1, 4095)
        meta["bridge_interface"] = "eth2"
    if rng.random() < 0.2:
        meta["should_create_bridge"] = rng.choice([True, False])
    if rng.random() < 0.1:
        meta["multi_host"] = True
    if rng.random() < 0.3:
        meta["physical_network"] = "physnet1"
        meta["tunneled"] = False
    return model.Network(id=str(uuid.uuid4()), bridge=bridge,
                         label=rng.choice(["private", None]),
                         subnets=subnets, **meta)


def nova_vif(entry: catalogue.Entry, vnic: str, rng: random.Random,
             ) -> model.VIF:
    port_id = str(uuid.uuid4())
    details = details_for(entry, rng)
    bridge = rng.choice(["br-int", "br-ex", None])
    profile: dict[str, Any] | None = rng.choice([None, {}, {"x": 1}])
    if vnic in ("direct", "vdpa", "virtio-forwarder", "remote-managed"):
        profile = {"pci_slot": PCI, "physical_network": "physnet1"}
    return model.VIF(
        id=port_id,
        address="fa:16:3e:{:02x}:{:02x}:{:02x}".format(*tuple(
            rng.randrange(256) for _ in range(3))),
        network=nova_network(rng, bridge),
        type=entry.vif_type,
        details=details,
        devname=rng.choice([None, ("tap" + port_id)[:14]]),
        ovs_interfaceid=rng.choice([None, port_id, str(uuid.uuid4())]),
        active=rng.choice([True, False]),
        vnic_type=vnic,
        profile=profile,
        preserve_on_delete=rng.choice([True, False]),
        delegate_create=rng.choice([True, False]),
    )


def vif_cases(per_combo: int = 12) -> list[tuple[str, str, int]]:
    """(entry name, vnic_type, seed) for every entry x vnic_type."""
    return [(e.name, vnic, i) for e in NOVA_ENTRIES for vnic in e.vnic_types
            for i in range(per_combo)]


def entry(name: str) -> catalogue.Entry:
    return next(e for e in ALL_ENTRIES if e.name == name)


def convert_both(vif: model.VIF, cat: catalogue.Catalogue,
                 ) -> tuple[Any, Any]:
    theirs = os_vif_util.nova_to_osvif_vif(copy.deepcopy(vif))
    # The serialised form (what is in the instance info cache) ...
    ours = nova.to_os_vif(json.loads(json.dumps(vif)), catalogue=cat)
    # ... and the live model object give the same result.
    assert (norm(nova.to_os_vif(vif, catalogue=cat).obj_to_primitive())
            == norm(ours.obj_to_primitive()))
    return theirs, ours


def full_catalogue() -> catalogue.Catalogue:
    """The bundled catalogue with disabled entries enabled (compare all)."""
    return catalogue.Catalogue(entries=tuple(sorted(
        ALL_ENTRIES, key=lambda e: (-e.preference, e.name))))


# --------------------------------------------------------------------------
# Tests: Nova VIF dicts
# --------------------------------------------------------------------------

def test_every_nova_binding_is_covered() -> None:
    # Guard against the parametrisation silently covering nothing.
    covered = {(e.vif_type, v) for e in NOVA_ENTRIES for v in e.vnic_types}
    for binding in [("ovs", "normal"), ("ovs", "direct"), ("ovs", "vdpa"),
                    ("ovs", "remote-managed"), ("agilio_ovs", "normal"),
                    ("agilio_ovs", "direct"),
                    ("agilio_ovs", "virtio-forwarder"),
                    ("vhostuser", "normal"), ("vrouter", "normal"),
                    ("vrouter", "direct"), ("vrouter", "virtio-forwarder"),
                    ("ivs", "normal")]:
        assert binding in covered
    assert len(vif_cases()) >= 200


@pytest.mark.parametrize("name,vnic,seed", vif_cases())
def test_nova_vif_equals_nova(name: str, vnic: str, seed: int) -> None:
    ent = entry(name)
    rng = random.Random(f"{RNG_SEED}-{name}-{vnic}-{seed}")
    vif = nova_vif(ent, vnic, rng)
    cat = full_catalogue()
    assert nova.find_entry(vif["type"], vnic, vif["details"], cat).name == (
        name)
    theirs, ours = convert_both(vif, cat)
    assert_same(theirs, ours, ent)


@pytest.mark.parametrize("name", sorted({e.name for e in NOVA_ENTRIES}))
def test_upstream_plugin_choice_is_exactly_nova(name: str) -> None:
    ent = entry(name)
    probe = nova_vif(ent, ent.vnic_types[0], random.Random(0))
    nova_plugin = os_vif_util.nova_to_osvif_vif(probe).plugin
    choice = ({name: nova_plugin} if nova_plugin != ent.plugin else {})
    cat = _catalogue(**choice)
    cat = catalogue.Catalogue(entries=tuple(
        sorted(cat.entries + cat.disabled,
               key=lambda e: (-e.preference, e.name))))
    for i, vnic in enumerate(ent.vnic_types):
        vif = nova_vif(ent, vnic, random.Random(i))
        theirs, ours = convert_both(vif, cat)
        assert (norm(theirs.obj_to_primitive())
                == norm(ours.obj_to_primitive()))


def test_ovs_with_pref_plugin_differs_only_in_plugin() -> None:
    vif = nova_vif(entry("ovs"), "normal", random.Random(1))
    theirs, ours = convert_both(vif, CAT)
    assert theirs.plugin == "ovs" and ours.plugin == "pref_ovs"
    assert_same(theirs, ours, entry("ovs"))


# --------------------------------------------------------------------------
# Tests: Neutron port dicts through Nova's _build_vif_model
# --------------------------------------------------------------------------

class FakeNeutron:
    """Answers the list calls ``_build_vif_model`` makes."""

    def __init__(self, subnets: list[dict], dhcp_ports: list[dict],
                 floatingips: list[dict]) -> None:
        self.subnets, self.dhcp_ports, self.fips = (
            subnets, dhcp_ports, floatingips)

    def list_subnets(self, id: list[str], **_: Any) -> dict:  # noqa: A002
        return {"subnets": [s for s in self.subnets if s["id"] in id]}

    def list_ports(self, **_: Any) -> dict:
        return {"ports": self.dhcp_ports}

    def list_floatingips(self, fixed_ip_address: str, port_id: str,
                         **_: Any) -> dict:
        return {"floatingips": [
            f for f in self.fips if f["fixed_ip_address"] == fixed_ip_address
            and f["port_id"] == port_id]}


def neutron_port(ent: catalogue.Entry, vnic: str, rng: random.Random,
                 ) -> tuple[dict, dict, list[dict], list[dict]]:
    port_id, net_id = str(uuid.uuid4()), str(uuid.uuid4())
    subnets, fixed_ips, fips = [], [], []
    for k in range(rng.choice([0, 1, 2])):
        sid = str(uuid.uuid4())
        subnets.append({
            "id": sid, "network_id": net_id, "cidr": f"10.{k}.0.0/24",
            "gateway_ip": rng.choice([f"10.{k}.0.1", None]),
            "enable_dhcp": rng.choice([True, False]),
            "dns_nameservers": rng.choice([[], ["8.8.8.8", "1.1.1.1"]]),
            "host_routes": rng.choice([[], [{"destination": "10.9.0.0/16",
                                             "nexthop": f"10.{k}.0.254"}]]),
        })
        addr = f"10.{k}.0.{rng.randrange(2, 250)}"
        fixed_ips.append({"subnet_id": sid, "ip_address": addr})
        if rng.random() < 0.4:
            fips.append({"fixed_ip_address": addr, "port_id": port_id,
                         "floating_ip_address": f"172.24.4.{k + 10}"})
    profile: dict[str, Any] = rng.choice([{}, {"foo": "bar"}])
    if vnic in ("direct", "vdpa", "virtio-forwarder", "remote-managed"):
        profile = {"pci_slot": PCI, "physical_network": "physnet1",
                   "pci_vendor_info": "15b3:101e"}
    port = {
        "id": port_id, "network_id": net_id, "tenant_id": "t1",
        "mac_address": f"fa:16:3e:aa:bb:{rng.randrange(256):02x}",
        "admin_state_up": rng.choice([True, False]),
        "status": rng.choice(["ACTIVE", "DOWN", "BUILD"]),
        "fixed_ips": fixed_ips,
        "binding:vif_type": ent.vif_type,
        "binding:vnic_type": vnic,
        "binding:vif_details": details_for(ent, rng),
        "binding:profile": profile,
        "binding:host_id": "compute-1",
    }
    network = {"id": net_id, "name": rng.choice(["private", "n1"]),
               "tenant_id": "t1", "mtu": rng.choice([1450, 1500, None])}
    return port, network, subnets, fips


def nova_build_vif(port: dict, network: dict, subnets: list[dict],
                   fips: list[dict], preexisting: list[str]) -> model.VIF:
    client = FakeNeutron(subnets, [], fips)
    api = nova_neutron.API()
    with mock.patch.object(nova_neutron, "get_client",
                           return_value=client), \
            mock.patch.object(api, "_get_physnet_tunneled_info",
                              return_value=(None, False)):
        return api._build_vif_model(
            nova_context.RequestContext("u", "t1", is_admin=True), client,
            copy.deepcopy(port), [network], preexisting)


def port_cases(per_combo: int = 6) -> list[tuple[str, str, int]]:
    return [(e.name, vnic, i) for e in NOVA_ENTRIES for vnic in e.vnic_types
            for i in range(per_combo)]


@pytest.mark.parametrize("name,vnic,seed", port_cases())
def test_neutron_port_equals_nova(name: str, vnic: str, seed: int) -> None:
    ent = entry(name)
    rng = random.Random(f"{RNG_SEED}-port-{name}-{vnic}-{seed}")
    port, network, subnets, fips = neutron_port(ent, vnic, rng)
    preserve = rng.random() < 0.5
    vif = nova_build_vif(port, network, subnets, fips,
                         [port["id"]] if preserve else [])
    theirs = os_vif_util.nova_to_osvif_vif(vif)
    ours = nova.to_os_vif(port, catalogue=full_catalogue(), network=network,
                          subnets=subnets, floating_ips=fips,
                          preserve_on_delete=preserve)
    assert_same(theirs, ours, ent)
    # And our Neutron-port -> VIF step equals Nova's, through the VIF path.
    assert_same(theirs, nova.to_os_vif(json.loads(json.dumps(vif)),
                                       catalogue=full_catalogue()), ent)


# --------------------------------------------------------------------------
# Where Nova raises, we raise a clear error of ours
# --------------------------------------------------------------------------

def test_missing_vhostuser_socket_both_raise() -> None:
    vif = nova_vif(entry("ovs-vhostuser"), "normal", random.Random(3))
    del vif["details"]["vhostuser_socket"]
    with pytest.raises(nova_exception.VifDetailsMissingVhostuserSockPath):
        os_vif_util.nova_to_osvif_vif(copy.deepcopy(vif))
    with pytest.raises(nova.MissingBindingValue, match="vhostuser_socket"):
        nova.to_os_vif(vif, catalogue=CAT)


def test_missing_pci_slot_both_raise() -> None:
    vif = nova_vif(entry("ovs-direct"), "direct", random.Random(4))
    vif["profile"] = {}
    with pytest.raises(KeyError):
        os_vif_util.nova_to_osvif_vif(copy.deepcopy(vif))
    with pytest.raises(nova.MissingBindingValue, match="pci_slot"):
        nova.to_os_vif(vif, catalogue=CAT)


@pytest.mark.parametrize("vif_type", ["foo", "binding_failed"])
def test_unknown_type(vif_type: str) -> None:
    vif = nova_vif(entry("ovs"), "normal", random.Random(5))
    vif["type"] = vif_type
    theirs = None
    try:
        theirs = os_vif_util.nova_to_osvif_vif(copy.deepcopy(vif))
    except nova_exception.NovaException:
        pass
    assert theirs is None
    with pytest.raises(nova.UnsupportedBinding, match=vif_type):
        nova.to_os_vif(vif, catalogue=CAT)


def test_all_variants_distinct() -> None:
    # The generator really varies the ports (not one port 300 times).
    seen = set()
    for name, vnic, seed in itertools.islice(vif_cases(), 60):
        rng = random.Random(f"{RNG_SEED}-{name}-{vnic}-{seed}")
        vif = nova_vif(entry(name), vnic, rng)
        seen.add(json.dumps({k: v for k, v in vif.items() if k != "id"},
                            sort_keys=True, default=str))
    assert len(seen) > 50


def test_comparison_catches_a_wrong_name_rule(tmp_path) -> None:
    # The comparison is not vacuous: the catalogue as it was before the
    # correction (prefix "tap" where Nova falls back to "nic") is caught.
    text = (catalogue.bundled_files()[-1]).read_text()
    assert "ovs.yaml" in str(catalogue.bundled_files()[-1])
    wrong = tmp_path / "ovs.yaml"
    wrong.write_text(text.replace("{name: {prefix: nic}}",
                                  "{name: {prefix: tap}}"))
    cat = catalogue.load([[wrong]], plugin_choice={})
    vif = nova_vif(entry("ovs"), "normal", random.Random(7))
    vif["devname"] = None
    theirs = os_vif_util.nova_to_osvif_vif(copy.deepcopy(vif))
    ours = nova.to_os_vif(vif, catalogue=cat)
    with pytest.raises(AssertionError, match="vif_name"):
        assert_same(theirs, ours, entry("ovs"))
