"""``os-vif-pref catalogue ...`` through the real cliff application."""

from __future__ import annotations

import json

import yaml

from os_vif_pref.testing import cli as cli_testing

run = cli_testing.run


def test_list_json_in_preference_order():
    rc, out, _ = run("catalogue", "list", "-f", "json")
    assert rc == 0
    rows = json.loads(out)
    names = [r["Name"] for r in rows]
    assert {"ovs", "linux-bridge", "tap", "macvtap"} <= set(names)
    prefs = [r["Preference"] for r in rows]
    assert prefs == sorted(prefs, reverse=True)


def test_list_table_and_yaml_long():
    rc, out, _ = run("catalogue", "list")
    assert rc == 0 and "| ovs " in out
    rc, out, _ = run("catalogue", "list", "--long", "-f", "yaml")
    rows = yaml.safe_load(out)
    ovs = next(r for r in rows if r["Name"] == "ovs")
    # The implicit virt_vif requirement shows (catalogue.implicit_requires).
    assert ovs["Requires"] == "ovsdb,ovs_bridge,virt_vif:VIFOpenVSwitch"
    assert ovs["Origin"].endswith("ovs.yaml:11")


def test_show():
    rc, out, _ = run("catalogue", "show", "ovs-hybrid", "-f", "json")
    assert rc == 0
    data = json.loads(out)
    assert data["vif_type"] == "ovs"
    assert data["os_vif"]["object"] == "VIFBridge"
    assert data["vif_details"]["match"] == {"ovs_hybrid_plug": True}


def test_show_unknown_is_a_clear_error():
    rc, _, err = run("catalogue", "show", "nope")
    assert rc == 1
    assert "No catalogue entry named 'nope'" in err


def test_validate_ok_and_broken(tmp_path):
    rc, out, _ = run("catalogue", "validate")
    assert rc == 0 and out.startswith("OK: ")
    bad = tmp_path / "bad.yaml"
    bad.write_text("format: 1\nentries:\n  - name: x\n    preference: 1\n"
                   "    neutron: {vif_type: x, vnic_types: [normal]}\n"
                   "    os_vif: {object: VIFGeneric, versions: "
                   "{min: \"1.0\", max: 1.10}}\n    plugin: x\n")
    rc, out, _ = run("catalogue", "validate", str(bad))
    assert rc == 1
    assert f"{bad}:6:" in out and "write it in quotes" in out
    assert "1 error(s)" in out


def test_validate_detects_collision_with_bundled(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("format: 1\nentries:\n  - name: tap\n    preference: 1\n"
                 "    neutron: {vif_type: x, vnic_types: [normal]}\n"
                 "    os_vif: {object: VIFGeneric, versions: "
                 "{min: \"1.0\", max: \"1.0\"}}\n    plugin: x\n")
    rc, out, _ = run("catalogue", "validate", str(f))
    assert rc == 1 and "already exists" in out and "linux.yaml" in out
    rc, out, _ = run("catalogue", "validate", "--alone", str(f))
    assert rc == 0


def test_config_file_adds_a_layer(tmp_path):
    d = tmp_path / "cat.d"
    d.mkdir()
    (d / "off.yaml").write_text(
        "format: 1\nentries:\n  - {name: tap, enabled: false}\n")
    conf = tmp_path / "test.conf"
    conf.write_text(f"[os_vif_pref]\ncatalogue_dirs = {d}\n")
    rc, out, _ = run("--config-file", str(conf), "catalogue", "list", "--all",
                     "-f", "json")
    rows = {r["Name"]: r for r in json.loads(out)}
    assert rows["tap"]["Enabled"] is False
    run("catalogue", "list")  # later runs without the file are unaffected


def test_schema():
    rc, out, _ = run("catalogue", "schema")
    assert rc == 0
    assert json.loads(out)["title"].startswith("os-vif-pref binding catalogue")


def test_help():
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "os_vif_pref.cli.main", "catalogue", "list",
         "--help"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "--long" in proc.stdout and "--all" in proc.stdout
    proc = subprocess.run(
        [sys.executable, "-m", "os_vif_pref.cli.main", "--help"],
        capture_output=True, text=True, check=False)
    assert proc.returncode == 0 and "catalogue validate" in proc.stdout
