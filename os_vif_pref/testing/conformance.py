"""A conformance kit for os-vif plugins: ours, or a vendor's.

Nova trusts an os-vif plugin on four points that nothing checks today:
that the entry point really loads it, that its ``describe()`` tells the
truth (and agrees with the binding catalogue, so the host can offer what it
plugs), that ``plug``/``unplug`` may be repeated (Nova replugs on every host
reboot and unplugs VIFs that may never have been plugged), and that a bad
VIF fails with a clean, declared error instead of a ``KeyError`` half-way
through.  This kit turns those into pytest tests any plugin can run::

    from os_vif_pref.testing import conformance

    class TestMyPlugin(conformance.PluginConformance):
        PLUGIN_NAME = "my_plugin"            # entry point in group os_vif
        PLUGIN_CLASS = my_pkg.MyPlugin       # optional: what it must load

        @pytest.fixture
        def environment(self, my_test_netns):  # whatever plug needs
            yield

        def make_vif(self):                  # a new, unique, pluggable VIF
            return objects.vif.VIFGeneric(...)

Everything goes through ``os_vif.initialize()``/``os_vif.plug()``/
``os_vif.unplug()`` as Nova calls them (plus ``plugin.plug()`` directly to
see which exception the plugin itself raises).  "Nothing changed" is judged
by :meth:`PluginConformance.observe`: by default the kernel links of the
calling namespace, by name, kind, master, MTU and up/down; override it to
add what your plugin touches (OVSDB rows, files...).

Override points (all optional except ``PLUGIN_NAME`` and ``make_vif``):
``PLUGIN_CLASS``, ``CLEAN_EXCEPTIONS``, ``REQUIRE_CATALOGUE_ENTRY``,
``INVALID_FIELDS``, :meth:`environment`, :meth:`observe`,
:meth:`assert_plugged`, :meth:`assert_unplugged`, :meth:`shared_names`,
:meth:`invalid_vifs`, :meth:`foreign_vifs`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from importlib import metadata
import itertools
from typing import Any, ClassVar
import uuid

import os_vif
from os_vif import exception as osv_exception
from os_vif import objects
from os_vif import plugin as osv_plugin
from oslo_config import cfg
import pytest

from os_vif_pref import catalogue as catalogue_mod
from os_vif_pref.sandbox import environment as sandbox_env
from os_vif_pref.sandbox.links import kernel_links

#: A namespace with a private OVS and ``pref_ovs`` pointed at it, for the
#: :meth:`PluginConformance.environment` of an OVS plugin's suite.
private_ovs_environment = sandbox_env.private_ovs_environment

ENTRY_POINT_GROUP = "os_vif"

#: Values a plugin must refuse for a name it hands to the kernel or OVS,
#: whatever tool it uses: a shell command line with a path in it, path
#: traversal, over-long (in bytes: non-ASCII counts double), NUL, newline,
#: empty, the sysfs directory names.
HOSTILE_NAMES: tuple[str, ...] = (
    "t;rm -rf /",
    "../../etc",
    "..",
    "a/b",
    "x" * 64,
    "\u00e9" * 10,          # 20 bytes in UTF-8: over IFNAMSIZ
    "t\0x",
    "t\nx",
    "",
)

#: An MTU no device can have.
HUGE_MTU = 2**31 - 1

_counter = itertools.count(1)


def unique_suffix() -> str:
    """A short, process-unique suffix for device names (fits IFNAMSIZ)."""
    return f"{next(_counter):x}{uuid.uuid4().hex[:4]}"


def _vif_classes() -> dict[str, type[objects.vif.VIFBase]]:
    return {name: cls for name, cls in catalogue_mod.os_vif_classes().items()
            if issubclass(cls, objects.vif.VIFBase)
            and cls is not objects.vif.VIFBase}


def _profile_classes() -> dict[str, type[Any]]:
    return {name: cls for name, cls in catalogue_mod.os_vif_classes().items()
            if issubclass(cls, objects.vif.VIFPortProfileBase)}


def _vt(version: str) -> tuple[int, int]:
    return catalogue_mod.version_tuple(version)


def _diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    lines = []
    for key in sorted(set(before) | set(after), key=str):
        if before.get(key) != after.get(key):
            lines.append(f"  {key}: {before.get(key)!r} -> "
                         f"{after.get(key)!r}")
    return "\n".join(lines) or "  (no difference)"


class PluginConformance:
    """Base class of a plugin's conformance tests (see the module doc).

    Not collected by itself (its name does not start with ``Test``);
    subclass it as ``TestSomething``.  pytest makes a new instance per
    test, so per-test state lives on ``self``.
    """

    #: The entry-point name in group ``os_vif``.
    PLUGIN_NAME: ClassVar[str]
    #: The class the entry point must load (None: any PluginBase).
    PLUGIN_CLASS: ClassVar[type[osv_plugin.PluginBase] | None] = None
    #: What a plugin may raise for a bad VIF (os-vif's own family, plus
    #: the plugin's declared ones); anything else is a bug.
    CLEAN_EXCEPTIONS: ClassVar[tuple[type[BaseException], ...]] = (
        osv_exception.ExceptionBase,)
    #: Whether every VIF object describe() claims needs a catalogue entry
    #: that names this plugin (without one the host can never offer it).
    REQUIRE_CATALOGUE_ENTRY: ClassVar[bool] = True
    #: Fields of make_vif()'s VIF that reach the kernel/OVS as names; the
    #: default invalid_vifs() fills them with HOSTILE_NAMES.
    INVALID_FIELDS: ClassVar[tuple[str, ...]] = ("vif_name",)

    # -- hooks ----------------------------------------------------------------
    @pytest.fixture
    def environment(self) -> Iterator[None]:
        """Whatever plug needs (namespace, daemons, source devices)."""
        yield

    def make_vif(self) -> objects.vif.VIFBase:
        """A new VIF this plugin can plug; unique names on every call."""
        raise NotImplementedError("subclasses give make_vif()")

    def make_instance(self) -> objects.instance_info.InstanceInfo:
        return objects.instance_info.InstanceInfo(
            uuid=str(uuid.uuid4()), name="conformance-" + unique_suffix(),
            project_id="conformance")

    def observe(self) -> dict[Any, Any]:
        """The state plug/unplug may change (default: kernel links)."""
        return dict(kernel_links())

    def shared_names(self, vif: objects.vif.VIFBase) -> set[Any]:
        """Keys of observe() a plug may create and unplug leave (a shared
        bridge, say)."""
        return set()

    def assert_plugged(self, vif: objects.vif.VIFBase,
                       state: Mapping[Any, Any]) -> None:
        """Check that ``vif`` is plugged, given observe() after plug."""

    def assert_unplugged(self, vif: objects.vif.VIFBase,
                         state: Mapping[Any, Any]) -> None:
        """Check that ``vif`` is gone, given observe() after unplug."""

    def invalid_vifs(self) -> list[tuple[str, objects.vif.VIFBase]]:
        """(label, VIF) pairs of the plugin's own VIF type that it must
        refuse: every INVALID_FIELDS field set to each HOSTILE_NAMES value,
        and a network MTU no device can have."""
        out = []
        for field in self.INVALID_FIELDS:
            for value in HOSTILE_NAMES:
                vif = self.make_vif()
                target: Any = vif
                name = field
                if "." in field:
                    head, name = field.split(".", 1)
                    target = getattr(vif, head)
                setattr(target, name, value)
                out.append((f"{field}={value!r}", vif))
        vif = self.make_vif()
        if "network" in vif and vif.network is not None:
            vif.network.mtu = HUGE_MTU
            out.append((f"network.mtu={HUGE_MTU}", vif))
        return out

    def foreign_vifs(self) -> list[objects.vif.VIFBase]:
        """VIFs of types describe() does not claim, addressed to us."""
        described = {v.vif_object_name for v in self._plugin().describe()
                     .vif_info}
        out = []
        for name, cls in sorted(_vif_classes().items()):
            if name in described:
                continue
            vif = cls(id=str(uuid.uuid4()), address="fa:16:3e:00:00:99",
                      plugin=self.PLUGIN_NAME)
            if "vif_name" in cls.fields:
                vif.vif_name = "tfor" + unique_suffix()
            out.append(vif)
        return out

    # -- plumbing -------------------------------------------------------------
    @pytest.fixture(autouse=True)
    def _conformance_setup(self, environment: None) -> Iterator[None]:
        os_vif.initialize()
        self._made: list[objects.vif.VIFBase] = []
        self.instance = self.make_instance()
        yield
        # Best effort: leave nothing behind even when a test failed.
        for vif in reversed(self._made):
            try:
                self._plugin().unplug(vif, self.instance)
            except Exception:  # noqa: BLE001, S110 - cleanup only
                pass

    def _plugin(self) -> osv_plugin.PluginBase:
        os_vif.initialize()
        assert os_vif._EXT_MANAGER is not None
        try:
            return os_vif._EXT_MANAGER[self.PLUGIN_NAME].obj
        except KeyError:
            pytest.fail(f"os_vif.initialize() did not load a plugin named "
                        f"{self.PLUGIN_NAME!r} (entry point group "
                        f"{ENTRY_POINT_GROUP!r})")

    def new_vif(self) -> objects.vif.VIFBase:
        vif = self.make_vif()
        self._made.append(vif)
        return vif

    def _assert_clean_error(self, func: Any, vif: objects.vif.VIFBase,
                            what: str) -> BaseException:
        try:
            func(vif, self.instance)
        except self.CLEAN_EXCEPTIONS as e:
            assert str(e).strip(), f"{what}: empty error message"
            return e
        except Exception as e:  # noqa: BLE001 - the point of the check
            pytest.fail(f"{what}: raised {type(e).__module__}."
                        f"{type(e).__name__} ({e}), which is none of the "
                        f"declared "
                        f"{[c.__name__ for c in self.CLEAN_EXCEPTIONS]}")
        pytest.fail(f"{what}: accepted, but must be refused")

    # -- entry point, describe(), catalogue -----------------------------------
    def test_entry_point_loads_the_plugin(self) -> None:
        eps = [ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)
               if ep.name == self.PLUGIN_NAME]
        assert len(eps) == 1, (
            f"expected one {ENTRY_POINT_GROUP!r} entry point named "
            f"{self.PLUGIN_NAME!r}, found {[ep.value for ep in eps]}")
        cls = eps[0].load()
        assert isinstance(cls, type) and issubclass(
            cls, osv_plugin.PluginBase), f"{eps[0].value} is no PluginBase"
        if self.PLUGIN_CLASS is not None:
            assert cls is self.PLUGIN_CLASS, (
                f"entry point loads {cls}, expected {self.PLUGIN_CLASS}")
        assert isinstance(self._plugin(), cls)

    def test_config_options_registered_in_plugin_group(self) -> None:
        plugin = self._plugin()
        group = f"os_vif_{self.PLUGIN_NAME}"
        for opt in getattr(type(plugin), "CONFIG_OPTS", ()):
            assert opt.dest in cfg.CONF[group], (
                f"option {opt.name} is not registered in [{group}]")

    def test_describe_is_well_formed(self) -> None:
        info = self._plugin().describe()
        assert isinstance(info, objects.host_info.HostPluginInfo)
        assert info.plugin_name == self.PLUGIN_NAME, (
            f"describe() says plugin_name={info.plugin_name!r}, but Nova "
            f"sets vif.plugin to the entry-point name {self.PLUGIN_NAME!r}")
        assert info.vif_info, "describe() claims no VIF object at all"
        vif_classes, profile_classes = _vif_classes(), _profile_classes()
        seen = set()
        for vi in info.vif_info:
            assert vi.vif_object_name not in seen, (
                f"{vi.vif_object_name} described twice")
            seen.add(vi.vif_object_name)
            cls = vif_classes.get(vi.vif_object_name)
            assert cls is not None, (
                f"{vi.vif_object_name} is not an os-vif VIF object")
            assert _vt(vi.min_version) <= _vt(vi.max_version) <= \
                _vt(cls.VERSION), (
                f"{vi.vif_object_name} {vi.min_version}-{vi.max_version} "
                f"(this os-vif has {cls.VERSION})")
            for pp in vi.supported_port_profiles:
                pcls = profile_classes.get(pp.profile_object_name)
                assert pcls is not None, (
                    f"{pp.profile_object_name} is not an os-vif port profile")
                assert _vt(pp.min_version) <= _vt(pp.max_version) <= \
                    _vt(pcls.VERSION)
        # What Nova does with it: serialise and send it over RPC.
        prim = info.obj_to_primitive()
        back = objects.host_info.HostPluginInfo.obj_from_primitive(prim)
        assert back.plugin_name == info.plugin_name

    def test_describe_agrees_with_catalogue(self) -> None:
        info = self._plugin().describe()
        described = {v.vif_object_name: v for v in info.vif_info}
        cat = catalogue_mod.get_catalogue()
        mine = [e for e in cat if e.plugin == self.PLUGIN_NAME]
        alt = [e for e in cat if self.PLUGIN_NAME in e.alt_plugins]
        # Every entry this plugin is chosen for must be pluggable by it.
        for entry in mine:
            vi = described.get(entry.vif_object)
            assert vi is not None, (
                f"catalogue entry {entry.name!r} ({entry.origin}) names "
                f"plugin {self.PLUGIN_NAME} for {entry.vif_object}, which "
                f"describe() does not claim")
            rng = catalogue_mod.VersionRange(vi.min_version, vi.max_version)
            assert rng.intersect(entry.vif_versions) is not None, (
                f"entry {entry.name!r}: {entry.vif_object} "
                f"{entry.vif_versions} vs describe() {rng}")
            if entry.port_profile is not None:
                pps = {p.profile_object_name for p in
                       vi.supported_port_profiles}
                assert entry.port_profile.object in pps, (
                    f"entry {entry.name!r} needs port profile "
                    f"{entry.port_profile.object}; describe() has {pps}")
        if self.REQUIRE_CATALOGUE_ENTRY:
            covered = {e.vif_object for e in mine + alt}
            missing = sorted(set(described) - covered)
            assert not missing, (
                f"describe() claims {missing} but no catalogue entry names "
                f"plugin {self.PLUGIN_NAME} for them: the host can never "
                f"offer them (add a catalogue entry)")

    def test_factory_vifs_are_described(self) -> None:
        described = {v.vif_object_name for v in
                     self._plugin().describe().vif_info}
        vif = self.make_vif()
        assert vif.obj_name() in described
        assert vif.plugin == self.PLUGIN_NAME
        vif.obj_to_primitive()   # Nova serialises it

    # -- plug / unplug --------------------------------------------------------
    def test_plug_and_unplug_are_idempotent(self) -> None:
        vif = self.new_vif()
        before = self.observe()
        os_vif.plug(vif, self.instance)
        plugged = self.observe()
        self.assert_plugged(vif, plugged)
        os_vif.plug(vif, self.instance)
        again = self.observe()
        assert again == plugged, (
            "a second plug changed the state:\n" + _diff(plugged, again))
        os_vif.unplug(vif, self.instance)
        gone = self.observe()
        self.assert_unplugged(vif, gone)
        os_vif.unplug(vif, self.instance)
        gone2 = self.observe()
        assert gone2 == gone, (
            "a second unplug changed the state:\n" + _diff(gone, gone2))
        shared = self.shared_names(vif)
        left = {k: v for k, v in gone.items() if k not in shared}
        start = {k: v for k, v in before.items() if k not in shared}
        assert left == start, (
            "unplug left state behind:\n" + _diff(start, left))

    def test_unplug_of_never_plugged_vif_is_a_noop(self) -> None:
        vif = self.new_vif()
        before = self.observe()
        os_vif.unplug(vif, self.instance)
        os_vif.unplug(vif, self.instance)
        after = self.observe()
        assert after == before, (
            "unplugging an absent VIF changed the state:\n"
            + _diff(before, after))

    def test_replug_after_unplug(self) -> None:
        vif = self.new_vif()
        for _ in range(2):
            os_vif.plug(vif, self.instance)
            self.assert_plugged(vif, self.observe())
            os_vif.unplug(vif, self.instance)
            self.assert_unplugged(vif, self.observe())

    # -- errors ---------------------------------------------------------------
    def test_foreign_vif_types_are_clean_errors(self) -> None:
        foreign = self.foreign_vifs()
        before = self.observe()
        for vif in foreign:
            what = f"plug({vif.obj_name()})"
            self._assert_clean_error(self._plugin().plug, vif, what)
            with pytest.raises(osv_exception.PlugException):
                os_vif.plug(vif, self.instance)
        after = self.observe()
        assert after == before, (
            "refused plugs changed the state:\n" + _diff(before, after))

    def test_invalid_vifs_are_clean_errors_and_create_nothing(self) -> None:
        invalid = self.invalid_vifs()
        assert invalid, "invalid_vifs() gave nothing to check"
        before = self.observe()
        for label, vif in invalid:
            self._assert_clean_error(self._plugin().plug, vif,
                                     f"plug with {label}")
            with pytest.raises(osv_exception.PlugException):
                os_vif.plug(vif, self.instance)
            after = self.observe()
            assert after == before, (
                f"refused plug with {label} changed the state:\n"
                + _diff(before, after))

    def test_plugin_without_initialize_is_reported(self) -> None:
        """os-vif's own contract, which a plugin must not work around:
        a VIF naming an unknown plugin is ``NoMatchingPlugin``."""
        vif = self.make_vif()
        vif.plugin = self.PLUGIN_NAME + "_no_such_plugin"
        with pytest.raises(osv_exception.NoMatchingPlugin):
            os_vif.plug(vif, self.instance)
