"""Unit tests of the OVSDB layer's pure parts (the rest is functional)."""

from __future__ import annotations

from unittest import mock

import pytest

from os_vif_pref.ovs import constants, ovsdb


def _spec(**kw):
    args = dict(bridge="br-int", name="tap1", iface_id="id1",
                mac="fa:16:3e:00:00:01", vm_uuid="vm1")
    args.update(kw)
    return ovsdb.PortSpec(**args)


def test_external_ids_are_neutrons_keys():
    assert _spec().external_ids() == {
        "iface-id": "id1", "iface-status": "active",
        "attached-mac": "fa:16:3e:00:00:01", "vm-uuid": "vm1"}


def test_trunk_bridge_adds_bridge_name():
    ids = _spec(bridge="tbr-abc").external_ids()
    assert ids[constants.EXT_BRIDGE_NAME] == "tbr-abc"
    assert ovsdb.is_trunk_bridge("tbr-abc")
    assert not ovsdb.is_trunk_bridge("br-int")


def test_qos_id_is_stable_per_port_name():
    assert ovsdb.qos_id("tap1") == ovsdb.qos_id("tap1")
    assert ovsdb.qos_id("tap1") != ovsdb.qos_id("tap2")


def test_one_client_per_connection_and_process():
    ovsdb.reset()
    try:
        a = ovsdb.get("unix:/nonexistent/a.sock", 5)
        assert ovsdb.get("unix:/nonexistent/a.sock", 5) is a
        assert ovsdb.get("unix:/nonexistent/b.sock", 5) is not a
        # A new timeout is applied to the existing client, not a new one.
        assert ovsdb.get("unix:/nonexistent/a.sock", 9) is a
        assert a.timeout == 9
        # After fork the child gets its own client.
        with mock.patch.object(ovsdb.os, "getpid", return_value=-1):
            assert ovsdb.get("unix:/nonexistent/a.sock", 9) is not a
    finally:
        ovsdb.reset()


def test_client_is_lazy_and_connect_errors_are_ovsdb_errors():
    client = ovsdb.Ovsdb("unix:/nonexistent/db.sock", 1)
    assert not client.is_connected()
    with pytest.raises(ovsdb.OvsdbError, match="connect.*nonexistent"):
        client.bridge_exists("br-int")


def test_empty_bulk_operations_do_not_connect():
    client = ovsdb.Ovsdb("unix:/nonexistent/db.sock", 1)
    assert client.plug_ports([]) == []
    assert not client.is_connected() and client._api is None
