"""The ML2/OVN cloud is configured as the installation guide's OVN block.

No cloud needed: the configuration the launcher writes for ``--backend
ovn`` is compared with the literal blocks of doc/source/install/index.rst,
as tests/unit/test_cloud_launcher.py does for the agent back end.  The
scenarios (test_ovn_scenarios.py) then show that a Neutron configured so
binds, and the guide cannot drift from what was tested.
"""

from __future__ import annotations

from pathlib import Path
import sys

from os_vif_pref.testing.cloud import configs
from os_vif_pref.testing.cloud.layout import Layout, Settings
from tests.unit.test_cloud_launcher import guide_lines

#: What every ML2/OVN deployment chooses for itself (addresses, paths):
#: the guide must name these keys, not give this cloud's values.
SITE_VALUES = {("ovn", "ovn_nb_connection"), ("ovn", "ovn_sb_connection"),
               ("ovn", "vhost_sock_dir")}


def _layout(tmp_path: Path, settings: Settings) -> Layout:
    return Layout(root=tmp_path, sock_dir=tmp_path / "s",
                  ports={n: 1 for n in ("mariadb", "rabbitmq", "keystone",
                                        "of_listen")},
                  settings=settings, bin_dir=Path(sys.prefix) / "bin")


def _flat(sections: dict[str, dict[str, str]]) -> set[tuple[str, str, str]]:
    return {(s, k, v) for s, opts in sections.items() for k, v in opts.items()}


def test_ml2_ovn_is_the_guides_block(tmp_path: Path) -> None:
    guide = guide_lines()
    named = {(s, k) for s, k, _ in guide}
    ours = _layout(tmp_path, Settings(backend="ovn",
                                      neutron_driver="pref_ovn"))
    stock = _layout(tmp_path, Settings(backend="ovn", neutron_driver="ovn",
                                       nova_integration=False))
    ml2 = _flat(configs.ml2(ours))
    # Ours differs from stock ML2/OVN by the guide's one line ...
    assert ml2 - _flat(configs.ml2(stock)) == _flat(configs.GUIDE_ML2_OVN)
    assert _flat(configs.GUIDE_ML2_OVN) <= guide
    # ... and the rest of what OVN needs is the guide's block, key by key,
    # with the guide's value except where the site chooses it.
    for section, key, value in ml2:
        if section not in ("ml2", "ml2_type_geneve", "ovn"):
            continue
        assert (section, key) in named, \
            f"the ML2/OVN cloud sets [{section}] {key}, the guide does not"
        if (section, key) not in SITE_VALUES and key != "mechanism_drivers":
            assert (section, key, value) in guide, \
                f"[{section}] {key} = {value}: the guide gives another value"
    assert ("DEFAULT", "service_plugins", "ovn-router") in guide
    assert configs.neutron(ours)["DEFAULT"]["service_plugins"] == "ovn-router"


def test_vhost_dirs_agree(tmp_path: Path) -> None:
    """Neutron's ``[ovn] vhost_sock_dir`` is the compute host's
    ``[os_vif_pref_ovs] vhostuser_socket_dir`` (the guide says so): the
    socket path Neutron writes into the binding is where the host's
    plugin creates it."""
    lay = _layout(tmp_path, Settings(backend="ovn",
                                     neutron_driver="pref_ovn"))
    assert configs.ml2(lay)["ovn"]["vhost_sock_dir"] == configs.nova_compute(
        lay)["os_vif_pref_ovs"]["vhostuser_socket_dir"]
    text = Path(__file__).resolve().parents[2].joinpath(
        "doc/source/install/index.rst").read_text()
    assert "vhost_sock_dir" in text and "vhostuser_socket_dir" in text


def test_agent_back_end_unchanged(tmp_path: Path) -> None:
    """The default back end is still the agent's (no OVN section, no
    router plugin)."""
    lay = _layout(tmp_path, Settings())
    assert lay.settings.backend == "ovs"
    assert "ovn" not in configs.ml2(lay)
    assert configs.neutron(lay)["DEFAULT"]["service_plugins"] == ""
