"""Hostile arguments sent straight to the privileged functions.

Nova's process is not trusted by the privsep daemon: whatever reaches an
entrypoint must be refused *inside the daemon*, whatever the plugins check
first.  So these tests call the entrypoints directly (no plugin in front),
through the real ``sudo privsep-helper`` daemon in the session's test
namespace, and for every value check that

* it is refused with :class:`~os_vif_pref.exceptions.InvalidArgument` (or
  the privileged layer's own ``NetDeviceError``) and that the exception was
  raised in the daemon: the traceback ends in oslo.privsep's channel, not
  in our validators running in this process;
* no link appeared, disappeared or changed in the namespace;
* the daemon is still the same process and still answers.

Values the validators do not refuse today are listed in ``GAPS`` and
marked ``xfail(strict=True)``: each such test fails outright the day the
gap is closed (remove it from ``GAPS`` then), and cleans up what it made.
"""

from __future__ import annotations

import traceback

import pytest

from os_vif_pref import exceptions, privsep
from os_vif_pref.linux import net
from os_vif_pref.testing import conformance

pytestmark = pytest.mark.functional


@pytest.fixture
def links(test_netns):
    return conformance.kernel_links


def _in_daemon(exc: BaseException) -> bool:
    """Whether ``exc`` came back over the privsep channel."""
    files = [f.filename for f in traceback.extract_tb(exc.__traceback__)]
    return (any(f.endswith("oslo_privsep/daemon.py") for f in files)
            and not any(f.endswith("os_vif_pref/validate.py")
                        for f in files))


SHELL = ["t;reboot", "t|id", "t&&id", "$(reboot)", "`id`", "t>x", "t<x",
         "t'x", 't"x', "t*", "t?x", "t\\x", "t$IFS", "t{a,b}", "t!x",
         "~root", "t#x"]
OPTION = ["-rf", "--help"]
TRAVERSAL = ["..", ".", "../etc", "a/../b", "/etc/pwd", "..\\x/"]
OVERLONG = ["a" * 16, "a" * 4096, "a" * 1_000_000, "\u00e9" * 8,
            "\U0001f642" * 4]
NON_ASCII = ["\u00e9", "ta\u0440", "t\u200bx", "\U0001f642", "t\u202ex"]
CONTROL = ["t\x1b[2J", "t\x7f", "t\x08x", "t\rx", "t\nx", "t\tx", "t\0x",
           "t x"]
HUGE_MTU = [65536, 2**31 - 1, 2**63 - 1, -1, 0, 67]
BAD_TYPES = [1500.0, "1500", True, [1500], float("nan"), float("inf")]

#: Values the validators accept although they should not (see the module
#: doc).  Empty since validate.ifname allows only a safe ASCII subset.
GAPS: set[str] = set()


def _name_cases() -> list:
    cases = []
    for group, values in (("shell", SHELL), ("option", OPTION),
                          ("traversal", TRAVERSAL), ("overlong", OVERLONG),
                          ("nonascii", NON_ASCII), ("control", CONTROL)):
        for i, value in enumerate(values):
            marks = [pytest.mark.xfail(
                strict=True, reason="validate.ifname accepts this "
                "kernel-legal name; see GAPS")] if value in GAPS else []
            cases.append(pytest.param(value, id=f"{group}{i}", marks=marks))
    return cases


def _entrypoints_taking_a_name(name: str) -> list:
    """Every privileged entrypoint, with ``name`` in each name argument."""
    ok = "thok0"
    return [
        (net.create_tap, (name,), {}),
        (net.create_tap, (ok,), {"master": name}),
        (net.create_veth_pair, (name, ok), {}),
        (net.create_veth_pair, (ok, name), {}),
        (net.ensure_bridge, (name,), {}),
        (net.add_bridge_port, (name, ok), {}),
        (net.add_bridge_port, (ok, name), {}),
        (net.delete_net_devs, ([name],), {}),
        (net.set_device_mtu, (name, 1500), {}),
        (net.set_device_up, (name,), {}),
        (net.detach_from_bridge, (name,), {}),
        (net.plug_bridge_port, (name, ok), {}),
        (net.plug_bridge_port, (ok, name), {"create_tap": True}),
        (net.plug_bridge_port, (ok, ok), {"vlan_phys": name, "vlan": 5,
                                          "vlan_dev": "vlan5"}),
        (net.plug_bridge_port, (ok, ok), {"vlan_phys": "lo", "vlan": 5,
                                          "vlan_dev": name}),
        (net.create_macvtap, (name, "lo", "bridge"), {}),
        (net.create_macvtap, (ok, name, "bridge"), {}),
    ]


def _fname(func) -> str:
    """An entrypoint's name (privsep wraps it in a partial)."""
    return getattr(func, "__name__", None) or func.args[0].__name__


def _refused_in_daemon(links, func, args, kwargs,
                       expected: type = exceptions.InvalidArgument) -> None:
    before = links()
    pid = net.daemon_pid()
    try:
        func(*args, **kwargs)
    except expected as e:
        assert _in_daemon(e), (
            f"{_fname(func)} refused {args!r} {kwargs!r} outside the "
            "daemon")
    else:
        created = set(links()) - set(before)
        if created:
            net.delete_net_devs(sorted(created))
            net.flush_deleted()
        pytest.fail(f"{_fname(func)}{args!r} {kwargs!r} accepted; "
                    f"created {sorted(created)!r}")
    net.flush_deleted()
    assert links() == before
    assert net.daemon_pid() == pid


def test_calls_really_go_through_a_separate_daemon(test_netns):
    import os

    assert privsep.vif_plug.client_mode
    assert net.daemon_pid() != os.getpid()


@pytest.mark.parametrize("name", _name_cases())
def test_hostile_names_refused_by_daemon(links, name):
    for func, args, kwargs in _entrypoints_taking_a_name(name):
        _refused_in_daemon(links, func, args, kwargs)


@pytest.mark.parametrize("mtu", HUGE_MTU + BAD_TYPES)
def test_hostile_mtus_refused_by_daemon(links, mtu):
    for func, args, kwargs in [
        (net.create_tap, ("thm0",), {"mtu": mtu}),
        (net.create_veth_pair, ("thm0", "thm1"), {"mtu": mtu}),
        (net.ensure_bridge, ("thm0",), {"mtu": mtu}),
        (net.set_device_mtu, ("lo", mtu), {}),
        (net.plug_bridge_port, ("thm0", "thm1"), {"mtu": mtu}),
        (net.create_macvtap, ("thm0", "lo", "bridge"), {"mtu": mtu}),
    ]:
        _refused_in_daemon(links, func, args, kwargs)


@pytest.mark.parametrize("kwargs", [
    {"mac": "fa:16:3e:00:00:01; reboot"},
    {"mac": "fa:16:3e:00:00:01\n"},
    {"mac": "01:00:5e:00:00:01"}, {"mac": 0xFA163E000001},
    {"owner": "root; reboot"}, {"owner": -1}, {"owner": 2**32},
    {"owner": "../../etc/passwd"}, {"owner": True},
    {"multiqueue": "true"}, {"multiqueue": 1},
], ids=lambda kw: next(iter(kw)))
def test_hostile_tap_attributes_refused_by_daemon(links, kwargs):
    _refused_in_daemon(links, net.create_tap, ("tha0",), kwargs)


@pytest.mark.parametrize("func,args,kwargs", [
    (net.create_macvtap, ("thv0", "lo", "bridge; reboot"), {}),
    (net.create_macvtap, ("thv0", "lo", "private"), {}),
    (net.plug_bridge_port, ("thv0", "thv1"),
     {"vlan_phys": "lo", "vlan": 0, "vlan_dev": "vlan0"}),
    (net.plug_bridge_port, ("thv0", "thv1"),
     {"vlan_phys": "lo", "vlan": 4095, "vlan_dev": "vlan4095"}),
    (net.plug_bridge_port, ("thv0", "thv1"),
     {"vlan_phys": "lo", "vlan": 2**40, "vlan_dev": "vlanx"}),
    (net.plug_bridge_port, ("thv0", None), {"create_tap": True}),
    (net.delete_net_devs, ("lo",), {}),          # a str, not a list
    (net.delete_net_devs, ({"lo": 1},), {}),
    (net.flush_deleted, (), {"timeout": float("nan")}),
    (net.flush_deleted, (), {"timeout": float("inf")}),
    (net.flush_deleted, (), {"timeout": 10**9}),
], ids=lambda v: _fname(v) if callable(v) else None)
def test_other_hostile_arguments_refused_by_daemon(links, func, args,
                                                   kwargs):
    _refused_in_daemon(links, func, args, kwargs)


def test_physical_device_deletion_refused_by_daemon(links):
    _refused_in_daemon(links, net.delete_net_devs, (["lo"],), {},
                       expected=net.NetDeviceError)


@pytest.mark.parametrize("args,kwargs", [
    (("t\udcff",), {}),                 # lone surrogate: not UTF-8 at all
    (("thu0",), {"mtu": 2**70}),        # beyond msgpack's 64-bit integers
], ids=["surrogate", "int-beyond-64-bit"])
def test_unserialisable_arguments_never_reach_the_daemon(links, args,
                                                         kwargs):
    """Values msgpack may not carry: they fail in the caller before
    anything is sent, or reach the daemon and are refused there; either way
    nothing is created and the daemon keeps serving."""
    before = links()
    pid = net.daemon_pid()
    with pytest.raises((UnicodeEncodeError, OverflowError, TypeError,
                        ValueError, exceptions.InvalidArgument)):
        net.create_tap(*args, **kwargs)
    assert links() == before
    assert net.daemon_pid() == pid
    assert net.create_tap("thu1") is True       # still serving
    net.delete_net_devs(["thu1"])
    net.flush_deleted()
    assert links() == before
