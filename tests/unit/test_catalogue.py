"""The catalogue loader on real files: every validation rule, layering."""

from __future__ import annotations

import sys
import textwrap

import pytest
import yaml

from os_vif_pref import catalogue, exceptions

GOOD_ENTRY = """\
  - name: {name}
    preference: 50
    neutron:
      vif_type: {vif_type}
      vnic_types: [normal]
    os_vif:
      object: VIFGeneric
      versions: {{min: "1.0", max: "1.0"}}
      fields:
        vif_name: {{name: {{prefix: tap}}}}
    plugin: pref_tap
"""


def good_file(*names: str, vif_type: str = "vendor") -> str:
    return "format: 1\nentries:\n" + "".join(
        GOOD_ENTRY.format(name=n, vif_type=vif_type) for n in names)


def write(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def errors_of(*paths: str) -> list[exceptions.CatalogueError]:
    return list(catalogue.load([list(paths)]).errors)


def only_error(*paths: str) -> exceptions.CatalogueError:
    errs = errors_of(*paths)
    assert len(errs) == 1, [str(e) for e in errs]
    return errs[0]


def test_bundled_catalogue_is_valid_and_complete():
    cat = catalogue.load([catalogue.bundled_files()], strict=True)
    names = {e.name for e in cat}
    # Every binding Nova's os-vif conversion knows, plus the Linux ones.
    assert {"ovs", "ovs-hybrid", "ovs-vhostuser", "ovs-direct",
            "ovs-remote-managed", "agilio-ovs", "agilio-ovs-direct",
            "agilio-ovs-forwarder", "vhostuser-fp-ovs", "vhostuser-fp-bridge",
            "vhostuser-vrouter", "vrouter", "linux-bridge", "tap",
            "macvtap"} <= names
    prefs = [(-e.preference, e.name) for e in cat]
    assert prefs == sorted(prefs)


def test_bundled_files_come_from_package_resources():
    files = catalogue.bundled_files()
    assert [f.name for f in files] == sorted(f.name for f in files)
    assert all(f.name.endswith(".yaml") for f in files)
    assert len(files) >= 3


def test_entry_accepts_absent_detail_as_false():
    cat = catalogue.load([catalogue.bundled_files()], strict=True)
    assert [e.name for e in cat.find("ovs", "normal", {})] == ["ovs"]
    assert [e.name for e in cat.find(
        "ovs", "normal", {"ovs_hybrid_plug": True})] == ["ovs-hybrid"]
    assert [e.name for e in cat.find("ovs", "direct", {})] == ["ovs-direct"]
    assert cat.find("ovs", "baremetal", {}) == []


def test_host_plugin_info_is_generated_from_entries():
    cat = catalogue.load([catalogue.bundled_files()], strict=True)
    info = cat.host_plugin_info("pref_ovs")
    objs = {v.vif_object_name: v for v in info.vif_info}
    assert set(objs) == {e.vif_object for e in cat.by_plugin("pref_ovs")}
    assert [p.profile_object_name for p in
            objs["VIFOpenVSwitch"].supported_port_profiles] == [
        "VIFPortProfileOpenVSwitch"]
    assert objs["VIFVHostUser"].max_version == "1.1"


# -- every validation error, each from a real broken file -------------------

BROKEN = {
    "yaml_syntax": (
        "format: 1\nentries:\n  - name: [unclosed\n",
        4, None, "not valid YAML"),
    "empty": ("", None, None, "empty file"),
    "duplicate_key": (
        good_file("a").replace("    plugin: pref_tap\n",
                               "    plugin: pref_tap\n    plugin: x\n"),
        14, "entries[0].plugin", "duplicate key 'plugin' (first at line 13)"),
    "non_string_key": (
        "format: 1\n1.5: x\nentries: []\n", 2, "", "keys must be strings"),
    "wrong_format": (
        good_file("a").replace("format: 1", "format: 2"), 1, "format",
        "1 was expected"),
    "unknown_field": (
        good_file("a").replace("    plugin: pref_tap",
                               "    plugin: pref_tap\n    prefernce: 3"),
        3, "entries[0](a)", "unknown field(s) 'prefernce'"),
    "unquoted_version": (
        good_file("a").replace('max: "1.0"', "max: 1.10"), 10,
        "entries[0](a).os_vif.versions.max",
        "unquoted '1.10' is read by YAML as float 1.1; write it in quotes"),
    "yaml11_boolean": (
        good_file("a").replace("vif_type: vendor", "vif_type: no"), 6,
        "entries[0].neutron.vif_type",
        "unquoted 'no' is ambiguous: YAML 1.1 tools read it as a boolean"),
    "bad_name": (
        good_file("A B"), 3, "entries[0](A B).name", "does not match"),
    "preference_range": (
        good_file("a").replace("preference: 50", "preference: 5000"), 4,
        "entries[0](a).preference", "5000 is greater than the maximum"),
    "incomplete_new_entry": (
        "format: 1\nentries:\n  - name: lonely\n    plugin: x\n", 3,
        "entries[0](lonely)",
        "a new entry needs preference, neutron.vif_type"),
    "unknown_vnic_type": (
        good_file("a").replace("[normal]", "[normal, direkt]"), 7,
        "entries[0](a).neutron.vnic_types", "unknown vnic_type 'direkt'"),
    "unknown_object": (
        good_file("a").replace("VIFGeneric", "VIFGenric"), 9,
        "entries[0](a).os_vif.object", "'VIFGenric' is not an os-vif VIF"),
    "profile_not_profile": (
        good_file("a").replace(
            "    plugin: pref_tap",
            "      port_profile:\n        object: VIFBridge\n"
            "        versions: {min: \"1.0\", max: \"1.0\"}\n"
            "    plugin: pref_tap"),
        14, "entries[0](a).os_vif.port_profile.object",
        "'VIFBridge' is not an os-vif port profile"),
    "min_gt_max": (
        good_file("a").replace('{min: "1.0", max: "1.0"}',
                               '{min: "1.1", max: "1.0"}'),
        10, "entries[0](a).os_vif.versions.min",
        "min 1.1 is greater than max"),
    "version_unknown_to_os_vif": (
        good_file("a").replace('max: "1.0"', 'max: "1.9"'), 10,
        "entries[0](a).os_vif.versions.max",
        "outside the versions the installed os-vif knows (1.0..1.0)"),
    "unknown_object_field": (
        good_file("a").replace("vif_name:", "vif_nmae:"), 12,
        "entries[0](a).os_vif.fields.vif_nmae", "VIFGeneric has no field"),
    "common_field": (
        good_file("a").replace("vif_name:", "address:"), 12,
        "entries[0](a).os_vif.fields.address", "filled by the converter"),
    "nested_object_unknown": (
        good_file("a").replace(
            "vif_name: {name: {prefix: tap}}",
            "vif_name: {object: Nope, fields: {}}"), 12,
        "entries[0](a).os_vif.fields.vif_name.object", "no object 'Nope'"),
    "alt_plugin_is_plugin": (
        good_file("a").replace("    plugin: pref_tap",
                               "    plugin: pref_tap\n"
                               "    alt_plugins: [pref_tap]"), 14,
        "entries[0](a).alt_plugins", "lists the entry's own plugin"),
    "match_not_scalar": (
        good_file("a").replace(
            "      vnic_types: [normal]",
            "      vnic_types: [normal]\n"
            "      vif_details: {match: {k: [1]}}"), 8,
        "entries[0](a).neutron.vif_details.match.k", "must be scalars"),
    "defined_twice_in_file": (
        good_file("a", "a"), 14, "entries[1](a).name",
        "entry 'a' is defined twice"),
    "override_nothing": (
        "format: 1\nentries:\n  - name: ghost\n    override: true\n", 4,
        "entries[0](ghost).override", "no earlier layer has an entry"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_each_validation_error_names_file_line_and_field(tmp_path, case):
    text, line, field, reason = BROKEN[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(text)
    err = only_error(str(path))
    assert err.path == str(path)
    assert err.line == line, str(err)
    if field is not None:
        assert err.field == (field or "(file)"), str(err)
    assert reason in err.reason, str(err)
    # The message a user reads carries all of it.
    assert str(err).startswith(f"{path}:{line}" if line else str(path))
    with pytest.raises(exceptions.CatalogueInvalid) as exc:
        catalogue.load([[str(path)]], strict=True)
    assert str(err) in str(exc.value)


def test_error_has_column(tmp_path):
    path = write(tmp_path, "v.yaml", good_file("a").replace(
        'max: "1.0"', "max: 1.10"))
    err = only_error(path)
    assert (err.line, err.column) == (10, 35)


def test_unreadable_file_and_missing_dir(tmp_path):
    errs = errors_of(str(tmp_path / "missing.yaml"))
    assert "cannot read" in errs[0].reason
    files = catalogue.dir_files([str(tmp_path / "nodir")])
    errs = list(catalogue.load([files]).errors)
    assert "nodir" in str(errs[0]) and "No such file" in str(errs[0])


# -- layering -----------------------------------------------------------------

def test_broken_vendor_file_never_takes_bundled_entries_down(tmp_path):
    bad = write(tmp_path, "vendor.yaml", good_file("x").replace(
        "VIFGeneric", "VIFNope"))
    cat = catalogue.load([catalogue.bundled_files(), [bad]])
    bundled = catalogue.load([catalogue.bundled_files()], strict=True)
    assert [e.name for e in cat] == [e.name for e in bundled]
    assert len(cat.errors) == 1 and cat.errors[0].path == bad


def test_broken_file_is_left_out_whole(tmp_path):
    text = good_file("fine", "broken").replace(
        "VIFGeneric\n      versions: {min: \"1.0\", max: \"1.0\"}\n"
        "      fields:\n        vif_name: {name: {prefix: tap}}\n"
        "    plugin: pref_tap\n", "X", 0)
    path = write(tmp_path, "v.yaml", good_file("fine") + GOOD_ENTRY.format(
        name="broken", vif_type="v").replace("VIFGeneric", "VIFNope"))
    assert text  # the file really holds a good and a bad entry
    cat = catalogue.load([[path]])
    assert len(cat) == 0 and "broken" in str(cat.errors[0])


def test_collision_across_layers_names_both_files(tmp_path):
    base = write(tmp_path, "base.yaml", good_file("same"))
    vendor = write(tmp_path, "vendor.yaml", good_file("same"))
    cat = catalogue.load([[base], [vendor]])
    (err,) = cat.errors
    assert err.path == vendor and base + ":3" in err.reason
    assert "override: true" in err.reason
    assert [e.name for e in cat] == ["same"]
    assert cat.get("same").origin == base + ":3"


def test_collision_between_two_files_of_one_layer(tmp_path):
    one = write(tmp_path, "one.yaml", good_file("dup"))
    two = write(tmp_path, "two.yaml", good_file("dup"))
    (err,) = catalogue.load([[one, two]]).errors
    assert err.path == two and one + ":3" in err.reason


def test_override_merges_field_by_field(tmp_path):
    base = write(tmp_path, "base.yaml", good_file("e"))
    patch = write(tmp_path, "patch.yaml", """\
        format: 1
        entries:
          - name: e
            override: true
            preference: 999
            neutron: {vnic_types: [normal, direct]}
        """)
    cat = catalogue.load([[base], [patch]], strict=True)
    e = cat.get("e")
    assert e.preference == 999
    assert e.vnic_types == ("normal", "direct")
    assert e.vif_type == "vendor" and e.vif_object == "VIFGeneric"
    assert "changed by " + patch in e.origin


def test_override_that_breaks_the_entry_is_rejected(tmp_path):
    base = write(tmp_path, "base.yaml", good_file("e"))
    patch = write(tmp_path, "patch.yaml", """\
        format: 1
        entries:
          - name: e
            override: true
            os_vif: {object: VIFNope}
        """)
    cat = catalogue.load([[base], [patch]])
    assert cat.get("e").vif_object == "VIFGeneric"
    assert cat.errors[0].path == patch and "VIFNope" in cat.errors[0].reason


def test_disable_with_enabled_false(tmp_path):
    base = write(tmp_path, "base.yaml", good_file("a", "b"))
    off = write(tmp_path, "off.yaml",
                "format: 1\nentries:\n  - {name: a, enabled: false}\n")
    cat = catalogue.load([[base], [off]], strict=True)
    assert [e.name for e in cat] == ["b"]
    assert [e.name for e in cat.disabled] == ["a"]


def test_deprecated_replacement_must_exist(tmp_path):
    path = write(tmp_path, "d.yaml", good_file("old").replace(
        "    plugin: pref_tap",
        "    plugin: pref_tap\n    deprecated: {replacement: nothere}"))
    (err,) = catalogue.load([[path]]).errors
    assert "nothere" in err.reason and path in err.path


def test_plugin_choice(tmp_path):
    cat = catalogue.load([catalogue.bundled_files()],
                         plugin_choice={"ovs": "ovs"}, strict=True)
    assert cat.get("ovs").plugin == "ovs"
    assert cat.get("ovs").alt_plugins == ("pref_ovs",)
    bad = catalogue.load([catalogue.bundled_files()],
                         plugin_choice={"ovs": "linux_bridge", "zzz": "x"})
    reasons = sorted(str(e) for e in bad.errors)
    assert "is not one the entry allows" in reasons[0]
    assert "zzz" in reasons[1] and "no catalogue entry" in reasons[1]


def test_catalogue_dirs_option_is_the_last_layer(tmp_path):
    d = tmp_path / "catalogue.d"
    d.mkdir()
    (d / "vendor.yaml").write_text(good_file("vendor-one"))
    (d / "README").write_text("not a catalogue")
    catalogue.CONF.set_override("catalogue_dirs", [str(d)], "os_vif_pref")
    try:
        cat = catalogue.get_catalogue()
        assert "vendor-one" in cat and "ovs" in cat
        assert cat.get("vendor-one").origin == f"{d / 'vendor.yaml'}:3"
    finally:
        catalogue.CONF.clear_override("catalogue_dirs", "os_vif_pref")
    assert "vendor-one" not in catalogue.get_catalogue()


def test_entry_point_catalogues(tmp_path, monkeypatch):
    """A vendor package contributes a catalogue through the entry point."""
    pkg = tmp_path / "vendor_cat"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "bindings.yaml").write_text(good_file("vendor-ep"))
    dist = tmp_path / "vendor_cat-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Name: vendor-cat\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[os_vif_pref.catalogues]\nvendor = vendor_cat\n"
        "broken = vendor_cat_missing:files\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    catalogue.reset_cache()
    # restored afterwards
    monkeypatch.setattr(catalogue.layers, "_ep_files", None)
    cat = catalogue.load()
    assert "vendor-ep" in cat and "ovs" in cat
    assert "bindings.yaml" in cat.get("vendor-ep").origin
    (err,) = cat.errors
    assert "broken" in str(err) and "vendor_cat_missing" in str(err)
    sys.modules.pop("vendor_cat", None)


def test_validate_files_on_top_of_host_layers(tmp_path):
    clash = write(tmp_path, "clash.yaml", good_file("ovs"))
    errs = catalogue.validate_files([clash])
    assert len(errs) == 1 and "already exists" in errs[0].reason
    assert catalogue.validate_files([clash], with_defaults=False) == []


def test_schema_is_valid_json_schema():
    import jsonschema

    sch = catalogue.schema()
    jsonschema.validators.validator_for(sch).check_schema(sch)
    assert sch["properties"]["format"] == {
        "const": 1, "description": sch["properties"]["format"]["description"]}


TRICKY = """\
format: 1
entries:
  - name: t
    description: "yes"
    preference: 0o17
    neutron:
      vif_type: 'on'
      vnic_types: [normal]
      vif_details:
        match: {a: ~, b: null, c: 1e3, d: true, e: FALSE, f: .5, g: -7}
    os_vif:
      object: VIFGeneric
      versions: {min: "1.0", max: "1.0"}
    plugin: p
"""


def test_fast_and_slow_parsers_read_the_same_values(tmp_path):
    """yaml-rs (fast path) and PyYAML (positions) must never disagree."""
    path = write(tmp_path, "t.yaml", TRICKY)
    sources = [path] + [str(f) for f in catalogue.bundled_files()]
    for src in sources:
        fast, errs = catalogue.parse._parse(src)
        assert errs == []
        slow, errs = catalogue.parse._parse_slow(src, open(src).read())
        assert errs == []
        assert fast.data == slow.data, src
    fast, _ = catalogue.parse._parse(path)
    assert fast.data["entries"][0]["preference"] == 15
    assert fast.data["entries"][0]["neutron"]["vif_details"]["match"] == {
        "a": None, "b": None, "c": 1000.0, "d": True, "e": False, "f": 0.5,
        "g": -7}


def test_unquoted_yaml11_boolean_in_a_list_is_rejected(tmp_path):
    path = write(tmp_path, "b.yaml", good_file("a").replace(
        "[normal]", "[normal, off]"))
    err = only_error(path)
    assert (err.line, err.column) == (7, 28)
    assert "unquoted 'off' is ambiguous" in err.reason


def test_origin_is_located_lazily(tmp_path):
    path = write(tmp_path, "o.yaml", good_file("a", "b"))
    cat = catalogue.load([[path]], strict=True)
    assert cat.get("b").origin == f"{path}:14"


def test_slow_path_reads_integers_as_yaml_1_2(tmp_path):
    """``08`` is the integer 8 in YAML 1.2 (yaml-rs); PyYAML's 1.1
    constructor took it for octal and raised ValueError (found by
    hypothesis in test_properties)."""
    path = tmp_path / "c.yaml"
    path.write_text("format: 1\nentries: {08: null}\n")
    cat = catalogue.load([[str(path)]], plugin_choice={})
    assert cat.errors and not cat.entries  # a schema error, not a crash
    assert yaml.load("[08, 0o17, 0x1f, -012]",  # noqa: S506 - safe loader
                     Loader=catalogue.parse._Loader12) == [8, 15, 31, -12]
