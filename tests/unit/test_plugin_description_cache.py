"""Plugins' describe() kept as plain data between command-line processes.

``os-vif-pref preferences`` reads each plugin's description from a cache
file named after what could change it
(probes.plugins._description_key), so a warm run does not import os-vif's
objects.  Checked here: the list is the same with and without the cache, a
changed plugin is described anew, and a broken or unwritable cache only
costs time.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import subprocess
import sys
from typing import Any

import pytest

from os_vif_pref import catalogue, preference, probes

PLUGIN = """
from os_vif.objects import host_info


class Plugin:
    @classmethod
    def load(cls, name):
        return cls()

    def describe(self):
        return host_info.HostPluginInfo(plugin_name="fakeplug", vif_info=[
            host_info.HostVIFInfo(
                vif_object_name="VIFOpenVSwitch", min_version="1.0",
                max_version="{max}", supported_port_profiles=[
                    host_info.HostPortProfileInfo(
                        profile_object_name="VIFPortProfileOpenVSwitch",
                        min_version="1.0", max_version="1.0")])])
"""


class FakeEntryPoint:
    """An ``os_vif`` entry point to a module of tmp_path, loaded afresh."""

    dist = None

    def __init__(self, module: str) -> None:
        self.module = module
        self.value = f"{module}:Plugin"
        self.loads = 0

    def load(self) -> Any:
        self.loads += 1
        sys.modules.pop(self.module, None)
        importlib.invalidate_caches()
        return importlib.import_module(self.module).Plugin


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    # A process where os-vif loaded no plugin (as the CLI is): an earlier
    # test of the session may have called os_vif.initialize(), and then
    # os-vif's loaded plugins answer instead of the cache (as inside Nova).
    os_vif = sys.modules.get("os_vif")
    if os_vif is not None:
        monkeypatch.setattr(os_vif, "_EXT_MANAGER", None, raising=False)
    return tmp_path / "cache" / "os-vif-pref"


@pytest.fixture
def fake_plugin(tmp_path, monkeypatch):
    pkg = tmp_path / "src" / "ovp_fake_plug"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "plug.py").write_text(PLUGIN.format(max="1.2"))
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    yield pkg / "plug.py", FakeEntryPoint("ovp_fake_plug.plug")
    for name in ("ovp_fake_plug.plug", "ovp_fake_plug"):
        sys.modules.pop(name, None)


def probe(ep: FakeEntryPoint) -> probes.ProbeResult:
    with probes.description_cache():
        return probes.probe_plugin("fakeplug", {"fakeplug": ep})


def test_warm_probe_reads_the_description_without_loading(cache,
                                                          fake_plugin):
    _, ep = fake_plugin
    cold = probe(ep)
    assert cold.ok and ep.loads == 1
    assert not isinstance(cold.value, probes.PluginDescription)
    assert len(list(cache.glob("plugin-fakeplug-*.json"))) == 1
    warm = probe(ep)
    assert warm.ok and ep.loads == 1  # not loaded again
    assert warm.value == probes.PluginDescription.of(cold.value)
    (vif,) = warm.value.vif_info
    assert (vif.vif_object_name, vif.max_version) == ("VIFOpenVSwitch",
                                                      "1.2")
    assert [p.profile_object_name for p in vif.supported_port_profiles] == [
        "VIFPortProfileOpenVSwitch"]


def test_changed_plugin_module_is_described_anew(cache, fake_plugin):
    path, ep = fake_plugin
    assert probe(ep).value.vif_info[0].max_version == "1.2"
    path.write_text(PLUGIN.format(max="1.1"))
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    again = probe(ep)
    assert ep.loads == 2
    assert again.value.vif_info[0].max_version == "1.1"
    assert probe(ep).value.vif_info[0].max_version == "1.1"  # re-cached
    assert ep.loads == 2


def test_changed_key_is_recomputed_and_other_keys_kept(cache, fake_plugin,
                                                       monkeypatch):
    _, ep = fake_plugin
    keys = iter(["k1", "k2", "k1"])
    monkeypatch.setattr(probes.plugins, "_description_key",
                        lambda name, ep: next(keys))
    probe(ep)
    probe(ep)
    assert ep.loads == 2  # k2 was not cached yet
    probe(ep)
    assert ep.loads == 2  # k1 still is
    assert sorted(p.name for p in cache.iterdir()) == [
        "plugin-fakeplug-k1.json", "plugin-fakeplug-k2.json"]


def test_catalogue_entries_of_the_plugin_are_part_of_the_key(fake_plugin,
                                                             monkeypatch):
    """Our plugins describe exactly their catalogue entries: another
    entry for the plugin is another key; another plugin's entry is not."""
    _, ep = fake_plugin
    cat = catalogue.get_catalogue()
    entry = cat.entries[0]
    monkeypatch.setattr(catalogue, "get_catalogue", lambda: cat)
    before = probes.plugins._description_key(entry.plugin, ep)
    assert before is not None
    assert probes.plugins._description_key(entry.plugin, ep) == before
    changed = dataclasses.replace(
        entry, vif_versions=catalogue.VersionRange("1.0", "9.9"))
    assert changed.vif_versions != entry.vif_versions
    other = dataclasses.replace(cat, entries=(changed, *cat.entries[1:]))
    monkeypatch.setattr(catalogue, "get_catalogue", lambda: other)
    assert probes.plugins._description_key(entry.plugin, ep) != before
    assert probes.plugins._description_key("no-such-plugin", ep) == (
        probes.plugins._description_key("no-such-plugin", ep))
    monkeypatch.setattr(catalogue, "get_catalogue", lambda: cat)
    unrelated = probes.plugins._description_key("no-such-plugin", ep)
    monkeypatch.setattr(catalogue, "get_catalogue", lambda: other)
    assert probes.plugins._description_key("no-such-plugin", ep) == unrelated


def test_broken_cache_file_is_recomputed(cache, fake_plugin):
    _, ep = fake_plugin
    probe(ep)
    (path,) = cache.glob("plugin-fakeplug-*.json")
    for junk in ('{"plugin_name": 1', '{"plugin_name": "fakeplug"}',
                 '{"plugin_name": "x", "vif_info": [{"vif_object_name": 3'
                 ', "min_version": "1.0", "max_version": "1.0", '
                 '"supported_port_profiles": []}]}', "[]", "7"):
        path.write_text(junk)
        loads = ep.loads
        res = probe(ep)
        assert res.ok and ep.loads == loads + 1, junk
        assert res.value.vif_info[0].vif_object_name == "VIFOpenVSwitch"


def test_unwritable_cache_still_probes(tmp_path, monkeypatch, fake_plugin):
    _, ep = fake_plugin
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    assert probe(ep).ok and probe(ep).ok
    assert ep.loads == 2


def test_outside_the_block_no_cache_is_used(cache, fake_plugin):
    _, ep = fake_plugin
    probe(ep)
    res = probes.probe_plugin("fakeplug", {"fakeplug": ep})
    assert ep.loads == 2
    assert not isinstance(res.value, probes.PluginDescription)


class EveryCapability:
    """A host where every capability is present, so every plugin of the
    catalogue is loaded (or read from the cache) and checked."""

    def probe(self, capabilities):
        out = {}
        for cap in capabilities:
            if cap.startswith("plugin:"):
                out[cap] = probes.probe_plugin(cap.split(":", 1)[1])
            else:
                out[cap] = probes.ProbeResult(cap, True, "present")
        return out


def rows(plist: preference.PreferenceList) -> list[dict[str, Any]]:
    return [r.to_dict() for r in plist]


def test_preference_list_is_the_same_with_and_without_cache(cache):
    cat = catalogue.get_catalogue()
    plain = preference.compute(cat, EveryCapability())
    with probes.description_cache():
        cold = preference.compute(cat, EveryCapability())
        warm = preference.compute(cat, EveryCapability())
    assert rows(cold) == rows(plain)
    assert rows(warm) == rows(plain)
    assert warm.usable == plain.usable
    assert plain.usable  # something was checked against a plugin
    cached = [r.value for c, r in warm.probes.items()
              if c.startswith("plugin:") and r.ok]
    assert cached and all(isinstance(v, probes.PluginDescription)
                          for v in cached)
    # --host-info is made from the entries: real os-vif objects either way
    assert (warm.host_info().obj_to_primitive()
            == plain.host_info().obj_to_primitive())


def test_mismatched_description_is_reported_the_same_from_cache(cache):
    info = probes.PluginDescription("other", ())
    view = preference._PluginView.of(
        "mine", probes.ProbeResult("plugin:mine", True, info))
    assert view.error and "describes itself as 'other'" in view.error


def test_description_round_trips_through_json():
    desc = probes.PluginDescription("p", (probes.VIFDescription(
        "VIFBridge", "1.0", "1.1", (probes.ProfileDescription(
            "VIFPortProfileBase", "1.0", "1.0"),)),))
    assert probes.PluginDescription.from_json(desc.to_json()) == desc
    assert "supported_port_profiles" in desc.vif_info[0]
    assert str(desc) == "p: VIFBridge 1.0..1.1"


def test_plugin_in_a_loaded_os_vif_is_asked_directly(cache, fake_plugin,
                                                     monkeypatch):
    """Inside Nova os-vif has loaded the plugins: the very object Nova
    calls answers, never the cache."""
    _, ep = fake_plugin
    probe(ep)
    os_vif = importlib.import_module("os_vif")

    class Ext:
        obj = type("Live", (), {"describe": lambda self: "live"})()

    class Manager:
        def names(self):
            return ["fakeplug"]

        def __getitem__(self, name):
            return Ext

    monkeypatch.setattr(os_vif, "_EXT_MANAGER", Manager(), raising=False)
    assert probe(ep).value == "live"



def test_object_model_bases_say_what_issubclass_says(cache, monkeypatch):
    """probe_virt_vifs asks the cached model, not the classes, whether a
    class Nova does not name derives from one it does."""
    monkeypatch.setattr(catalogue.objects, "_model", None)
    catalogue.os_vif_model()
    monkeypatch.setattr(catalogue.objects, "_model", None)
    model = catalogue.os_vif_model(register=False)  # read from the file
    classes = catalogue.os_vif_classes()
    for name, cls in classes.items():
        for other, base in classes.items():
            assert (other in model[name].bases) == (
                other != name and issubclass(cls, base)), (name, other)
    res = probes.probe_virt_vifs("libvirt", ["virt_vif:VIFDirect",
                                             "virt_vif:VIFBridge"])
    assert res["virt_vif:VIFBridge"].ok
    assert ("VIFGeneric" in model["VIFDirect"].bases) == (
        res["virt_vif:VIFDirect"].ok)


SCRIPT = """
import json, sys
from os_vif_pref.cli import main
rc = main.main(sys.argv[1:])
sys.stdout.flush()
sys.stderr.write("\\nMODULES " + json.dumps(sorted(sys.modules)) + "\\n")
sys.exit(rc)
"""


def run_cli(cache_home: str, *argv: str) -> tuple[str, set[str]]:
    env = dict(os.environ, XDG_CACHE_HOME=cache_home, COLUMNS="100")
    proc = subprocess.run([sys.executable, "-c", SCRIPT, *argv], env=env,
                          capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout, set(json.loads(
        proc.stderr.rsplit("MODULES ", 1)[1]))


def test_warm_preferences_skips_os_vif_objects(tmp_path):
    argv = ("preferences", "-f", "json")
    cold_out, cold = run_cli(str(tmp_path), *argv)
    assert "oslo_versionedobjects.base" in cold  # filled the caches
    assert list((tmp_path / "os-vif-pref").glob("plugin-*.json"))
    warm_out, warm = run_cli(str(tmp_path), *argv)
    assert warm_out == cold_out
    for name in ("oslo_versionedobjects.base", "oslo_messaging",
                 "eventlet"):
        assert name not in warm, name
    # --host-info still answers with real os-vif objects.
    out, mods = run_cli(str(tmp_path), "preferences", "--host-info")
    assert json.loads(out)["versioned_object.name"] == "HostInfo"
    assert "oslo_versionedobjects.base" in mods
