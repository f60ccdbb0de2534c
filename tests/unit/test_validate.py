"""Every rule of os_vif_pref.validate, accepted and refused values."""

from __future__ import annotations

import os

from hypothesis import given
from hypothesis import strategies as st
import pytest

from os_vif_pref import validate
from os_vif_pref.exceptions import InvalidArgument


@pytest.mark.parametrize("name", ["a", "tap0", "a" * 15, "qvb-1234_5.6",
                                  "br-int", "eth1.100", "_x"])
def test_ifname_ok(name):
    assert validate.ifname(name) == name


@pytest.mark.parametrize("name,reason", [
    ("", "1-15 bytes"), ("a" * 16, "1-15 bytes"), ("é" * 8, "1-15 bytes"),
    ("é" * 7, "ASCII"), ("a/b", "ASCII"), ("a b", "ASCII"),
    ("a\nb", "ASCII"), ("a:0", "ASCII"), ("a\0", "ASCII"),
    (".", "start with"), ("..", "start with"), ("-rf", "start with"),
    ("t;reboot", "ASCII"), ("$(id)", "ASCII"), ("t\u200bx", "ASCII"),
    (None, "string"), (5, "string"), (b"tap0", "string"),
])
def test_ifname_refused(name, reason):
    with pytest.raises(InvalidArgument, match=reason):
        validate.ifname(name)


@given(st.text(min_size=1, max_size=20))
def test_ifname_never_lets_forbidden_through(name):
    try:
        validate.ifname(name)
    except InvalidArgument:
        return
    assert 1 <= len(name.encode("utf-8", "surrogateescape")) <= 15
    assert not any(c in "/:\0;|&$`'\"\\<>*?!#~" or c.isspace()
                   for c in name)
    assert name.isascii() and name[0] not in ".-"


@pytest.mark.parametrize("mtu", [68, 1500, 9000, 65535])
def test_mtu_ok(mtu):
    assert validate.mtu(mtu) == mtu


@pytest.mark.parametrize("mtu", [67, 0, -1, 65536, "1500", 1500.0, True,
                                 None])
def test_mtu_refused(mtu):
    with pytest.raises(InvalidArgument):
        validate.mtu(mtu)


@pytest.mark.parametrize("mac,norm", [
    ("fa:16:3e:00:00:01", "fa:16:3e:00:00:01"),
    ("FA:16:3E:AB:CD:EF", "fa:16:3e:ab:cd:ef"),
    ("02:00:00:00:00:00", "02:00:00:00:00:00"),
])
def test_mac_ok(mac, norm):
    assert validate.mac(mac) == norm


@pytest.mark.parametrize("mac,reason", [
    ("01:00:5e:00:00:01", "unicast"), ("ff:ff:ff:ff:ff:ff", "unicast"),
    ("33:33:00:00:00:01", "unicast"), ("00:00:00:00:00:00", "zeros"),
    ("fa:16:3e:00:00", "six"), ("fa-16-3e-00-00-01", "six"),
    ("fa:16:3e:00:00:0g", "six"), ("fa163e000001", "six"),
    (None, "string"),
])
def test_mac_refused(mac, reason):
    with pytest.raises(InvalidArgument, match=reason):
        validate.mac(mac)


def test_socket_path_inside(tmp_path):
    base = str(tmp_path)
    assert validate.socket_path(f"{base}/vhu1", base) == \
        os.path.join(os.path.realpath(base), "vhu1")
    assert validate.socket_path(f"{base}/sub/../vhu2", base).endswith("vhu2")


@pytest.mark.parametrize("rel", ["../evil", "/etc/passwd", ".", "",
                                 "sub/../../x"])
def test_socket_path_outside_refused(tmp_path, rel):
    base = str(tmp_path / "base")
    os.mkdir(base)
    path = rel if rel.startswith("/") or not rel else f"{base}/{rel}"
    with pytest.raises(InvalidArgument):
        validate.socket_path(path, base)


def test_socket_path_symlinked_parent_refused(tmp_path):
    base = tmp_path / "base"
    base.mkdir()
    (base / "link").symlink_to(tmp_path)
    with pytest.raises(InvalidArgument, match="inside"):
        validate.socket_path(f"{base}/link/vhu", str(base))


@pytest.mark.parametrize("path", ["relative/vhu", "/x\0y", None, 5])
def test_socket_path_malformed(tmp_path, path):
    with pytest.raises(InvalidArgument):
        validate.socket_path(path, str(tmp_path))


def test_socket_path_too_long(tmp_path):
    with pytest.raises(InvalidArgument, match="longer than"):
        validate.socket_path(f"{tmp_path}/{'v' * 120}", str(tmp_path))


@pytest.mark.parametrize("vlan", [0, 4095, -1, "5", True, None])
def test_vlan_refused(vlan):
    with pytest.raises(InvalidArgument):
        validate.vlan_id(vlan)


def test_vlan_ok():
    assert validate.vlan_id(1) == 1 and validate.vlan_id(4094) == 4094
