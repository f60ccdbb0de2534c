"""The drop-in against Nova's converter on every branch Nova has.

Every vif_type ``nova.network.model`` names (plus one it does not) x every
vnic_type it names (plus ``None``) x ports of several kinds: realistic
random ones, the model's bare defaults, no network, every value ``None``,
and the serialised dict with keys missing (Nova is given
``model.VIF.hydrate`` of the same dict).  For each, ours and Nova's must
agree exactly: the same object (``obj_to_primitive``, changes included),
both ``None``, or the same exception class with the same message.  The
catalogue is the bundled one with ``plugin_choice`` set to the upstream
plugins (tests/compat/nova_hook.py), so the only difference allowed is
the intended one: a ``bridge`` binding the catalogue's linux-bridge entry
converts where Nova refuses (README, "Negotiation ... Nova").
"""

from __future__ import annotations

import copy
import json
import random
from typing import Any
import uuid

from nova.network import model, os_vif_util
import pytest

from os_vif_pref.nova import dropin
from tests.compat import nova_hook

pytestmark = pytest.mark.nova_compat

VIF_TYPES = sorted({v for k, v in vars(model).items()
                    if k.startswith("VIF_TYPE_")} | {"wibble"})
VNIC_TYPES = sorted({v for k, v in vars(model).items()
                     if k.startswith("VNIC_TYPE_")}) + [None]
CAT = nova_hook.upstream_catalogue()
#: (vif_type, vnic_type) where ours converts and Nova raises, by design.
INTENDED = {("bridge", v) for e in CAT.entries if e.vif_type == "bridge"
            for v in e.vnic_types}

DETAIL_POOL: dict[str, list[Any]] = {
    "port_filter": [True, False],
    "ovs_hybrid_plug": [True, False],
    "datapath_type": ["system", "netdev"],
    "ovs_create_tap": [True, False],
    "vhostuser_ovs_plug": [True, False],
    "vhostuser_fp_plug": [True, False],
    "vhostuser_vrouter_plug": [True, False],
    "vhostuser_socket": ["/var/lib/vhost_sockets/sock0"],
    "vhostuser_mode": ["client", "server"],
    "macvtap_source": ["eth1"],
    "bridge_name": ["br-ex"],
}


def realistic(vif_type: str, vnic: Any, rng: random.Random) -> model.VIF:
    port_id = str(uuid.uuid4())
    details = {k: rng.choice(v) for k, v in DETAIL_POOL.items()
               if rng.random() < 0.6}
    meta: dict[str, Any] = {}
    if rng.random() < 0.6:
        meta["mtu"] = rng.choice([1450, 1500, 9000])
    if rng.random() < 0.15:
        meta.update(should_create_vlan=True, vlan=rng.randrange(1, 4095),
                    bridge_interface="eth2")
    if rng.random() < 0.15:
        meta["should_create_bridge"] = rng.choice([True, False])
    subnets = [model.Subnet(
        cidr="10.0.0.0/24",
        gateway=rng.choice([None, model.IP(address="10.0.0.1",
                                           type="gateway")]),
        dns=[model.IP(address="8.8.8.8", type="dns")],
        ips=[model.FixedIP(address="10.0.0.5")],
        routes=[model.Route(cidr="10.9.0.0/16", gateway=model.IP(
            address="10.0.0.254"), interface=rng.choice([None, "eth1"]))])
        for _ in range(rng.choice([0, 1]))]
    return model.VIF(
        id=port_id, address="fa:16:3e:00:11:22",
        network=model.Network(id=str(uuid.uuid4()),
                              bridge=rng.choice(["br-int", None]),
                              label=rng.choice(["private", None]),
                              subnets=subnets, **meta),
        type=vif_type, details=details,
        devname=rng.choice([None, ("tap" + port_id)[:14]]),
        ovs_interfaceid=rng.choice([None, port_id]),
        active=rng.choice([True, False]), vnic_type=vnic,
        profile=rng.choice([None, {}, {"pci_slot": "0000:81:00.3"},
                            {"pci_slot": "0000:81:00.3"}]),
        preserve_on_delete=rng.choice([True, False]),
        delegate_create=rng.choice([True, False]))


def variants(vif_type: str, vnic: Any) -> list[tuple[str, Any]]:
    """(label, port) pairs: model objects and serialised dicts."""
    rng = random.Random(f"dropin-{vif_type}-{vnic}")
    port_id = "dc065497-3c8d-4f44-8fb4-e1d33c16a536"
    net_id = "b82c1929-051e-481d-8110-4669916c7915"
    out: list[tuple[str, Any]] = [
        (f"realistic-{i}", realistic(vif_type, vnic, rng))
        for i in range(5)]
    out.append(("defaults", model.VIF(
        id=port_id, type=vif_type, vnic_type=vnic,
        network=model.Network(id=net_id))))
    out.append(("no-network", model.VIF(id=port_id, type=vif_type,
                                        vnic_type=vnic)))
    nones = model.VIF(
        id=port_id, type=vif_type, vnic_type=vnic, address=None,
        network=model.Network(id=net_id, bridge=None, label=None),
        details={k: None for k in DETAIL_POOL}, devname=None,
        ovs_interfaceid=None, active=None, profile={"pci_slot": None},
        preserve_on_delete=None, delegate_create=None)
    out.append(("nones", nones))
    for label, vif in list(out):
        if label not in ("realistic-0", "nones", "defaults"):
            continue
        plain = json.loads(json.dumps(vif))
        out.append((label + "-dict", plain))
        sparse = {k: v for k, v in plain.items()
                  if k in ("id", "type", "address", "network", "details")}
        sparse["vnic_type"] = vnic
        out.append((label + "-dict-sparse", sparse))
    return out


def outcome(fn: Any, vif: Any) -> tuple[Any, ...]:
    try:
        obj = fn(vif)
    except Exception as exc:  # noqa: BLE001 - the outcome is compared
        return ("raises", type(exc), str(exc))
    if obj is None:
        return ("none",)
    obj.obj_reset_changes(recursive=True)
    return ("object", obj.obj_to_primitive())


def nova_side(vif: Any) -> tuple[Any, ...]:
    if not isinstance(vif, model.VIF):
        vif = model.VIF.hydrate(copy.deepcopy(vif))
    return outcome(os_vif_util.nova_to_osvif_vif, vif)


def our_side(vif: Any) -> tuple[Any, ...]:
    return outcome(lambda v: dropin.nova_to_osvif_vif(v, catalogue=CAT),
                   copy.deepcopy(vif))


def test_matrix_is_complete() -> None:
    # Every constant the model has (a new Nova adding one extends the run).
    assert {"ovs", "agilio_ovs", "vhostuser", "vrouter", "ivs", "bridge",
            "tap", "macvtap", "binding_failed", "unbound", "hw_veb",
            "other"} <= set(VIF_TYPES)
    assert {"normal", "direct", "macvtap", "direct-physical", "baremetal",
            "virtio-forwarder", "vdpa", "accelerator-direct",
            "accelerator-direct-physical", "remote-managed",
            None} <= set(VNIC_TYPES)
    assert INTENDED == {("bridge", "normal")}


@pytest.mark.parametrize("vif_type", VIF_TYPES)
def test_dropin_equals_nova_on_every_branch(vif_type: str) -> None:
    wrong = []
    kinds: set[str] = set()
    for vnic in VNIC_TYPES:
        for label, vif in variants(vif_type, vnic):
            theirs, ours = nova_side(vif), our_side(vif)
            kinds.add(theirs[0])
            if (vif_type, vnic) in INTENDED and theirs[0] == "raises":
                # Nova refuses Linux bridge; the catalogue converts it.
                assert "no longer supported" in theirs[2]
                assert ours[0] in ("object", "raises"), ours
                continue
            if theirs != ours:
                wrong.append(f"{vif_type}/{vnic}/{label}:\n  nova {theirs}"
                             f"\n  ours {ours}")
    assert not wrong, f"{len(wrong)} differences:\n" + "\n".join(wrong[:8])
    assert kinds, "nothing compared"


def test_matrix_catches_a_wrong_entry(tmp_path: Any) -> None:
    """Not vacuous: one wrong default in the catalogue shows as differences.

    ``vhostuser_mode`` defaulting to ``client`` (Nova: ``server``).
    """
    from os_vif_pref import catalogue

    wrong = []
    for src in catalogue.bundled_files():
        path = tmp_path / src.name
        path.write_text(src.read_text().replace(
            "{detail: vhostuser_mode, default: server}",
            "{detail: vhostuser_mode, default: client}"))
        wrong.append(path)
    bad = catalogue.load([wrong], plugin_choice={
        e.name: p for e in CAT.entries for p in [e.plugin]
        if p != catalogue.load([wrong], plugin_choice={}).get(e.name).plugin})
    seen = 0
    for vnic in VNIC_TYPES:
        for _label, vif in variants("vhostuser", vnic):
            theirs = nova_side(vif)
            ours = outcome(lambda v: dropin.nova_to_osvif_vif(
                v, catalogue=bad), copy.deepcopy(vif))
            seen += theirs != ours
    assert seen > 0
