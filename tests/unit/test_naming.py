"""Interface-name rules."""

from __future__ import annotations

import pytest

from os_vif_pref import naming

PORT = "3f2a6a2c-1111-4222-8333-444455556666"


def test_generated_is_nova_rule() -> None:
    assert naming.generated("tap", PORT) == "tap3f2a6a2c-11"
    assert len(naming.generated("tap", PORT)) == naming.NIC_NAME_LEN
    assert naming.generated("qbr", PORT, 15) == "qbr3f2a6a2c-111"
    assert naming.devname_for_port(PORT) == "tap3f2a6a2c-11"


def test_devname_wins_unless_told_otherwise() -> None:
    vif = {"id": PORT, "devname": "tapcustom"}
    assert naming.vif_name(vif, "nic") == "tapcustom"
    assert naming.vif_name(vif, "vhu", use_devname=False) == "vhu3f2a6a2c-11"
    assert naming.vif_name({"id": PORT, "devname": None}, "nic") == (
        "nic3f2a6a2c-11")
    assert naming.vif_name({"id": PORT}, "nic", length=6) == "nic3f2"


@pytest.mark.parametrize("name,reason", [
    ("a" * 16, "16 bytes"),
    ("tapé" + "x" * 11, "16 bytes"),
    ("", "empty"),
    ("tap/1", "forbidden"),
    ("tap 1", "forbidden"),
    ("tap:1", "forbidden"),
    ("..", "reserved"),
])
def test_bad_names_rejected(name: str, reason: str) -> None:
    with pytest.raises(naming.InvalidInterfaceName, match=reason):
        naming.vif_name({"id": PORT, "devname": name}, "nic")


def test_fifteen_bytes_is_the_limit() -> None:
    assert naming.check("a" * 15) == "a" * 15
    with pytest.raises(naming.InvalidInterfaceName, match=PORT):
        naming.check("a" * 16, PORT)


def test_no_id_no_name() -> None:
    with pytest.raises(naming.InvalidInterfaceName, match="no id"):
        naming.vif_name({"devname": None}, "nic")
