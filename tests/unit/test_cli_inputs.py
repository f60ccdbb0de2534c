"""Ports as operators have them: every shape reads, anything else is one line.

The samples are what the tools print: the Neutron API's ``GET
/v2.0/ports/ID`` body (Neutron 29 attributes), ``openstack port show -f
json`` (python-openstackclient's key names), and an entry of Nova's
instance network info cache.
"""

from __future__ import annotations

import copy
import json

import pytest

from os_vif_pref import offer, preference
from os_vif_pref.cli import inputs
from os_vif_pref.testing import cli as cli_testing

run = cli_testing.run

PORT_ID = "5e1a8c0f-3c3b-4d9a-9a57-0f6b1c2d3e4f"
PORT2_ID = "7b2c9d10-4d4c-4e0b-8b68-1a7c2d3e4f50"
NET_ID = "0c9e5a3a-6f1d-4c33-bc2e-8d1f7e6a5b4c"
SUBNET_ID = "a1b2c3d4-1111-4222-8333-944455556666"
MAC = "fa:16:3e:4c:2d:7a"
DETAILS = {"connectivity": "l2", "port_filter": True,
           "ovs_hybrid_plug": False, "datapath_type": "system",
           "bridge_name": "br-int"}

#: GET /v2.0/ports/ID on Neutron 29 (ML2/OVS), as the API returns it.
API_PORT = {
    "admin_state_up": True,
    "allowed_address_pairs": [],
    "binding:host_id": "compute-1",
    "binding:profile": {},
    "binding:vif_details": DETAILS,
    "binding:vif_type": "ovs",
    "binding:vnic_type": "normal",
    "created_at": "2026-12-01T10:00:00Z",
    "description": "",
    "device_id": "1c2d3e4f-aaaa-4bbb-8ccc-123456789abc",
    "device_owner": "compute:nova",
    "dns_assignment": [{"hostname": "host-10-0-0-5", "ip_address": "10.0.0.5",
                        "fqdn": "host-10-0-0-5.openstacklocal."}],
    "dns_domain": "", "dns_name": "",
    "extra_dhcp_opts": [],
    "fixed_ips": [{"subnet_id": SUBNET_ID, "ip_address": "10.0.0.5"}],
    "id": PORT_ID,
    "ip_allocation": "immediate",
    "mac_address": MAC,
    "name": "vm1-port",
    "network_id": NET_ID,
    "port_security_enabled": True,
    "project_id": "4b1e3c2d5a6f4e7d8c9b0a1f2e3d4c5b",
    "propagate_uplink_status": False,
    "qos_network_policy_id": None, "qos_policy_id": None,
    "resource_request": None,
    "revision_number": 4,
    "security_groups": ["e5f6a7b8-1234-4cde-8f01-23456789abcd"],
    "status": "ACTIVE",
    "tags": [],
    "tenant_id": "4b1e3c2d5a6f4e7d8c9b0a1f2e3d4c5b",
    "updated_at": "2026-12-01T10:00:05Z",
}

#: `openstack port show vm1-port -f json` of the same port.
CLIENT_PORT = {
    "admin_state_up": "UP",
    "allowed_address_pairs": [],
    "binding_host_id": "compute-1",
    "binding_profile": {},
    "binding_vif_details": DETAILS,
    "binding_vif_type": "ovs",
    "binding_vnic_type": "normal",
    "created_at": "2026-12-01T10:00:00Z",
    "data_plane_status": None,
    "description": "",
    "device_id": "1c2d3e4f-aaaa-4bbb-8ccc-123456789abc",
    "device_owner": "compute:nova",
    "device_profile": None,
    "dns_assignment": [{"hostname": "host-10-0-0-5",
                        "ip_address": "10.0.0.5",
                        "fqdn": "host-10-0-0-5.openstacklocal."}],
    "dns_domain": None, "dns_name": None,
    "extra_dhcp_opts": [],
    "fixed_ips": [{"subnet_id": SUBNET_ID, "ip_address": "10.0.0.5"}],
    "hardware_offload_type": None,
    "hints": "",
    "id": PORT_ID,
    "ip_allocation": "immediate",
    "mac_address": MAC,
    "name": "vm1-port",
    "network_id": NET_ID,
    "numa_affinity_policy": None,
    "port_security_enabled": True,
    "project_id": "4b1e3c2d5a6f4e7d8c9b0a1f2e3d4c5b",
    "propagate_uplink_status": None,
    "resource_request": None,
    "revision_number": 4,
    "qos_network_policy_id": None, "qos_policy_id": None,
    "security_group_ids": ["e5f6a7b8-1234-4cde-8f01-23456789abcd"],
    "status": "ACTIVE",
    "tags": [],
    "trunk_details": None,
    "updated_at": "2026-12-01T10:00:05Z",
}

#: One entry of Nova's instance_info_caches.network_info for that port.
NOVA_VIF = {
    "id": PORT_ID,
    "address": MAC,
    "network": {
        "id": NET_ID, "bridge": "br-int", "label": "private",
        "subnets": [{
            "cidr": "10.0.0.0/24", "dns": [],
            "gateway": {"address": "10.0.0.1", "type": "gateway",
                        "version": 4, "meta": {}},
            "ips": [{"address": "10.0.0.5", "type": "fixed", "version": 4,
                     "meta": {}, "floating_ips": []}],
            "routes": [], "version": 4, "meta": {"enable_dhcp": True}}],
        "meta": {"injected": False, "mtu": 1450, "physical_network": None,
                 "tunneled": True,
                 "tenant_id": "4b1e3c2d5a6f4e7d8c9b0a1f2e3d4c5b"}},
    "type": "ovs",
    "details": DETAILS,
    "devname": "tap5e1a8c0f-3c",
    "ovs_interfaceid": PORT_ID,
    "qbh_params": None, "qbg_params": None,
    "active": True,
    "vnic_type": "normal",
    "profile": {},
    "preserve_on_delete": False,
    "delegate_create": True,
    "meta": {},
}


def second(port: dict) -> dict:
    """The same port again under another id (and MAC)."""
    p = copy.deepcopy(port)
    p["id"] = PORT2_ID
    for key in ("mac_address", "address"):
        if key in p:
            p[key] = "fa:16:3e:00:00:02"
    if "ovs_interfaceid" in p:
        p["ovs_interfaceid"] = PORT2_ID
    return p


SHAPES = {
    "api port": API_PORT,
    "api envelope": {"port": API_PORT},
    "client port show": CLIENT_PORT,
    "nova vif": NOVA_VIF,
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_shape_reads_as_one_port(shape):
    found, many = inputs.ports(SHAPES[shape])
    assert not many and len(found) == 1
    p = found[0]
    assert p["id"] == PORT_ID
    vif_type = p.get("binding:vif_type") or p.get("type")
    assert vif_type == "ovs"
    details = p.get("binding:vif_details") or p.get("details")
    assert details["bridge_name"] == "br-int"


def test_client_keys_become_the_api_ones():
    (p,), _ = inputs.ports(CLIENT_PORT)
    assert p["binding:vif_type"] == "ovs"
    assert p["binding:host_id"] == "compute-1"
    assert p["binding:vnic_type"] == "normal"
    assert p["admin_state_up"] is True
    assert not any(k.startswith("binding_") for k in p)


@pytest.mark.parametrize("data", [
    {"ports": [API_PORT, second(API_PORT)]},
    [NOVA_VIF, second(NOVA_VIF)],
    json.dumps([NOVA_VIF, second(NOVA_VIF)]),  # the cache column as stored
])
def test_several_ports(data):
    found, many = inputs.ports(data)
    assert many and [p["id"] for p in found] == [PORT_ID, PORT2_ID]


def test_profile_and_details_as_json_strings():
    p = dict(CLIENT_PORT, binding_profile=json.dumps({"pci_slot": "0:1.2"}),
             binding_vif_details=json.dumps(DETAILS))
    (got,), _ = inputs.ports(p)
    assert got["binding:profile"] == {"pci_slot": "0:1.2"}
    assert got["binding:vif_details"] == DETAILS
    (vif,), _ = inputs.ports(dict(NOVA_VIF, profile='{"a": 1}'))
    assert vif["profile"] == {"a": 1}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_convert_reads_every_shape(tmp_path, shape):
    f = tmp_path / "port.json"
    f.write_text(json.dumps(SHAPES[shape]))
    rc, out, err = run("convert", str(f))
    assert rc == 0, err
    prim = json.loads(out)
    assert prim["versioned_object.name"] == "VIFOpenVSwitch"
    data = prim["versioned_object.data"]
    assert data["address"] == MAC
    assert data["port_profile"]["versioned_object.data"][
        "interface_id"] == PORT_ID


def test_convert_each_port_of_a_list_and_one_with_port(tmp_path):
    f = tmp_path / "ports.json"
    f.write_text(json.dumps({"ports": [API_PORT, second(API_PORT)]}))
    rc, out, err = run("convert", str(f))
    assert rc == 0, err
    objs = json.loads(out)
    assert [o["versioned_object.data"]["id"] for o in objs] == [
        PORT_ID, PORT2_ID]
    rc, out, err = run("convert", str(f), "--port", PORT2_ID)
    assert json.loads(out)["versioned_object.data"]["id"] == PORT2_ID
    rc, out, err = run("convert", str(f), "--port", "nope")
    assert rc == 1 and "no such port" in err


@pytest.mark.parametrize("data, got", [
    ({"network": {"id": NET_ID, "name": "private", "mtu": 1450}},
     "an object with keys network"),
    ({"id": NET_ID, "name": "private", "mtu": 1450},
     "an object with keys id, mtu, name"),
    ([1, 2], "a list of 2"),
    ("a string", "a JSON str"),
    ({"ports": [API_PORT, {"x": 1}]}, "port #2"),
])
def test_not_a_port_is_one_line_and_exit_1(tmp_path, data, got):
    f = tmp_path / "x.json"
    f.write_text(json.dumps(data))
    for argv in (("convert", str(f)),
                 ("migrate-check", str(f), "--offer", "-")):
        rc, out, err = run(*argv, stdin="{}")
        assert rc == 1 and out == ""
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1, err
        assert "expected a Neutron port" in err and got in err
        assert "Traceback" not in err


def _tap_only_profile() -> dict:
    return {offer.KEY: offer.encode(offer.from_entries(
        [preference.catalogue.get_catalogue().get("ovs")],
        host="compute-1"))}


def test_migrate_check_each_port(tmp_path):
    f = tmp_path / "ports.json"
    f.write_text(json.dumps({"ports": [API_PORT, second(API_PORT)]}))
    rc, out, err = run("migrate-check", str(f), "--offer", "-", "-f", "json",
                       stdin=json.dumps(_tap_only_profile()))
    assert rc == 0, err
    rows = json.loads(out)
    assert [(r["port"], r["status"]) for r in rows] == [
        (PORT_ID, "same"), (PORT2_ID, "same")]
    rc, out, err = run("migrate-check", str(f), "--offer", "-", "-f",
                       "shell", stdin=json.dumps(_tap_only_profile()))
    assert rc == 1 and "--port" in err
    rc, out, _ = run("migrate-check", str(f), "--offer", "-", "-f", "json",
                     "--port", PORT2_ID,
                     stdin=json.dumps(_tap_only_profile()))
    assert json.loads(out)["status"] == "same"


@pytest.mark.parametrize("as_string", [False, True])
def test_negotiate_offer_from_port_show(as_string):
    profile = _tap_only_profile()
    p = dict(CLIENT_PORT, binding_profile=(json.dumps(profile) if as_string
                                           else profile))
    rc, out, err = run("negotiate", "--offer", "-", "--serve", "ovs",
                       "-f", "json", stdin=json.dumps(p))
    assert rc == 0, err
    data = json.loads(out)
    assert data["entry"] == "ovs" and not data["fallback"]


def test_negotiate_each_port_of_an_envelope():
    profile = _tap_only_profile()
    ports = {"ports": [dict(API_PORT, **{"binding:profile": profile}),
                       second(API_PORT)]}
    rc, out, err = run("negotiate", "--offer", "-", "--serve", "ovs",
                       "-f", "json", stdin=json.dumps(ports))
    assert rc == 0, err
    rows = json.loads(out)
    assert [(r["port"], r["entry"], r["fallback"]) for r in rows] == [
        (PORT_ID, "ovs", False), (PORT2_ID, None, True)]
