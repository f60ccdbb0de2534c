"""Tables that fit the terminal, one cause said once, machine formats kept.

Through the real cliff application (os_vif_pref.testing.cli.run) with the
width given as an operator's terminal gives it: ``COLUMNS``.
"""

from __future__ import annotations

import json

import pytest
import yaml

from os_vif_pref import preference, probes
from os_vif_pref.cli import base
from os_vif_pref.testing import cli as cli_testing
from tests.unit import test_preference as tp

run = cli_testing.run

OVSDB_DOWN = "ovsdb-server at tcp:127.0.0.1:6640: Connection refused"


@pytest.fixture
def no_ovsdb(monkeypatch):
    """Probes as on a host without Open vSwitch: every OVS capability fails
    for the one reason ovsdb-server is unreachable."""
    real = probes.probe_ovs

    def probe_ovs(connection, bridge, timeout, wanted=()):
        return real("tcp:127.0.0.1:1", bridge, timeout, wanted)

    monkeypatch.setattr(probes.prober, "probe_ovs", probe_ovs)
    probes.default_prober().clear()
    yield
    probes.default_prober().clear()


def widths(out: str) -> list[int]:
    return [len(line) for line in out.splitlines()]


@pytest.mark.parametrize("argv", [
    ("preferences",), ("probe",), ("catalogue", "list"),
    ("catalogue", "list", "--long"), ("catalogue", "show", "ovs"),
])
@pytest.mark.parametrize("columns", [80, 120])
def test_tables_fit_the_terminal(monkeypatch, no_ovsdb, argv, columns):
    monkeypatch.setenv("COLUMNS", str(columns))
    rc, out, _ = run(*argv)
    assert rc == 0
    assert max(widths(out)) <= columns, out
    assert out.startswith("+-")


def test_preferences_at_80_keeps_the_reason_and_says_what_is_left_out(
        monkeypatch, no_ovsdb):
    monkeypatch.setenv("COLUMNS", "80")
    rc, out, _ = run("preferences")
    assert rc == 0
    header = out.splitlines()[1]
    for name in ("Position", "Name", "Usable", "Why"):
        assert name in header
    assert "left out to fit 80 columns" in out
    assert "Versions" in out.split("left out")[1]
    # Asked for by name: kept (wrapped), nothing left out.
    rc, out, _ = run("preferences", "-c", "Name", "-c", "Versions",
                     "-c", "Why")
    assert "Versions" in out.splitlines()[1] and "left out" not in out
    assert max(widths(out)) <= 80


def test_wide_terminal_shows_every_column(monkeypatch, no_ovsdb):
    monkeypatch.setenv("COLUMNS", "400")
    rc, out, _ = run("preferences")
    assert "left out" not in out
    assert "os-vif object" in out.splitlines()[1]


def test_max_width_wins_over_columns(monkeypatch, no_ovsdb):
    monkeypatch.setenv("COLUMNS", "300")
    rc, out, _ = run("preferences", "--max-width", "90")
    assert max(widths(out)) <= 90


def test_not_a_tty_without_columns_is_not_fitted(monkeypatch, no_ovsdb):
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("CLIFF_MAX_TERM_WIDTH", raising=False)
    rc, out, _ = run("preferences")  # stdout is a StringIO: no terminal
    assert rc == 0 and "left out" not in out
    assert "os-vif object" in out.splitlines()[1]


@pytest.mark.parametrize("fmt", ["json", "yaml", "value", "csv"])
def test_machine_formats_ignore_the_width(monkeypatch, no_ovsdb, fmt):
    monkeypatch.setenv("COLUMNS", "400")
    _, wide, _ = run("preferences", "-f", fmt)
    monkeypatch.setenv("COLUMNS", "40")
    rc, narrow, _ = run("preferences", "-f", fmt)
    assert rc == 0 and narrow == wide
    if fmt == "json":
        rows = json.loads(narrow)
        assert set(rows[0]) == {"Position", "Name", "Usable", "VIF type",
                                "VNIC types", "os-vif object", "Versions",
                                "Plugin", "Why"}
    if fmt == "yaml":
        assert yaml.safe_load(narrow)[0]["Name"]


def test_ovsdb_down_is_said_once_per_entry(monkeypatch, no_ovsdb):
    rc, out, _ = run("preferences", "-f", "json")
    rows = {r["Name"]: r for r in json.loads(out)}
    why = rows["ovs-vhostuser"]["Why"]
    assert why.count("Connection refused") == 1, why
    assert ("needs ovsdb, ovs_bridge, ovs_datapath:netdev, "
            "ovs_iface:dpdkvhostuserclient: ovsdb-server at tcp:") in why
    assert rows["ovs"]["Why"].count("Connection refused") == 1


def test_same_cause_is_grouped_in_the_preference_list(tmp_path):
    cat = tp.make_cat(tmp_path, tp.entry(
        "a", vif_type="xa",
        requires='ovsdb, ovs_bridge, "ovs_datapath:netdev", sriov'))
    prober = tp.FakeProber(missing={
        "ovsdb": OVSDB_DOWN, "ovs_bridge": OVSDB_DOWN,
        "ovs_datapath:netdev": OVSDB_DOWN, "sriov": "no VFs"})
    reasons = preference.compute(cat, prober).get("a").reasons
    assert reasons == (
        f"needs ovsdb, ovs_bridge, ovs_datapath:netdev: {OVSDB_DOWN}",
        "needs sriov: no VFs")


def test_no_vswitchd_is_one_cause_for_datapath_and_interface_types():
    info = {"datapath_types": [], "iface_types": [], "ovs_version": "",
            "bridges": {"br-int": "system"}}
    orig = probes.ovsdb.ovsdb_query
    try:
        probes.ovsdb.ovsdb_query = lambda connection, timeout: info
        res = probes.probe_ovs("unix:/x", "br-int", 1.0, [
            "ovs_datapath:netdev", "ovs_iface:dpdkvhostuserclient"])
    finally:
        probes.ovsdb.ovsdb_query = orig
    assert (res["ovs_datapath:netdev"].reason
            == res["ovs_iface:dpdkvhostuserclient"].reason)
    assert "ovs-vswitchd is not running" in res["ovs_datapath:netdev"].reason


# fit_columns on its own ----------------------------------------------------

ROWS = [(1, "ovs-vhostuser", False, "vhostuser", "x" * 45, "y " * 150)]
NAMES = ["Position", "Name", "Usable", "VIF type", "Versions", "Why"]


@pytest.mark.parametrize("width", [70, 80, 100, 120, 200])
def test_fit_columns_short_ones_whole_wide_one_wraps(width):
    shown, w = base.fit_columns(NAMES, ROWS, width, optional=["Versions"],
                                wide=["Why"])
    assert sum(w) + 3 * len(shown) + 1 <= width
    got = dict(zip(shown, w, strict=True))
    assert got["Name"] == len("ovs-vhostuser")
    assert got["Position"] == len("Position")
    assert got["Why"] >= base.MIN_WRAPPED


def test_fit_columns_too_narrow_wraps_everything_within_the_width():
    shown, w = base.fit_columns(NAMES, ROWS, 60, wide=["Why"],
                                optional=["Versions", "VIF type"])
    assert sum(w) + 3 * len(shown) + 1 <= 60
    assert shown == ["Position", "Name", "Usable", "Why"]


def test_fit_columns_drops_optional_only_when_needed():
    shown, _ = base.fit_columns(NAMES, ROWS, 200, optional=["Versions"],
                                wide=["Why"])
    assert "Versions" in shown
    shown, _ = base.fit_columns(NAMES, ROWS, 80, optional=["Versions"],
                                wide=["Why"])
    assert "Versions" not in shown
