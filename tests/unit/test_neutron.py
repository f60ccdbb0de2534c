"""The Neutron-side chooser and the ML2 mechanism-driver mixin."""

from __future__ import annotations

import json
import logging
from typing import Any

from neutron_lib.plugins.ml2 import api
import pytest

from os_vif_pref import catalogue, exceptions, neutron, offer
from os_vif_pref.testing import cli as cli_testing
from os_vif_pref.testing import ml2

CAT = catalogue.load(plugin_choice={})
OVS_DEFAULT = neutron.Served("ovs", {"port_filter": True,
                                     "ovs_hybrid_plug": False,
                                     "datapath_type": "system"})


def make_offer(*names: str) -> offer.Offer:
    return offer.from_entries((CAT.get(n) for n in names), host="compute-1")


def profile_of(*names: str) -> dict[str, Any]:
    return {offer.KEY: offer.encode(make_offer(*names))}


# --------------------------------------------------------------------------
# choose()
# --------------------------------------------------------------------------

def test_first_servable_in_host_order() -> None:
    o = make_offer("ovs-vhostuser", "ovs", "ovs-hybrid")
    c = neutron.choose(o, ["ovs"], OVS_DEFAULT)
    assert (c.entry, c.vif_type, c.rank) == ("ovs", "ovs", 1)
    # The default's details are kept, the item's match applied over them.
    assert c.vif_details == {"port_filter": True, "ovs_hybrid_plug": False,
                             "datapath_type": "system"}
    assert not c.fallback
    assert "#2" in c.reason


def test_host_preference_wins_over_driver_order() -> None:
    o = make_offer("ovs-hybrid", "ovs")
    c = neutron.choose(o, [neutron.Served("ovs", {"ovs_hybrid_plug": False}),
                           neutron.Served("ovs", {"ovs_hybrid_plug": True})],
                       OVS_DEFAULT)
    assert c.entry == "ovs-hybrid"
    assert c.vif_details == {"ovs_hybrid_plug": True}


def test_explicit_details_must_fit_the_item() -> None:
    o = make_offer("ovs-hybrid", "ovs")
    c = neutron.choose(o, [neutron.Served("ovs", {"ovs_hybrid_plug": False,
                                                  "port_filter": True})],
                       OVS_DEFAULT)
    assert c.entry == "ovs"


def test_required_details_must_be_served() -> None:
    o = make_offer("ovs-vhostuser")
    with pytest.raises(neutron.NoAcceptableBinding):
        neutron.choose(o, [neutron.Served(
            "vhostuser", {"vhostuser_ovs_plug": True})], None)
    c = neutron.choose(o, [neutron.Served(
        "vhostuser", {"vhostuser_ovs_plug": True,
                      "vhostuser_socket": "/run/vhu/x"})], None)
    assert c.entry == "ovs-vhostuser"
    assert "must also set" not in c.reason
    # "Any variant": the driver fills the socket path itself; say so.
    c = neutron.choose(o, ["vhostuser"], None)
    assert c.entry == "ovs-vhostuser"
    assert "must also set vif_details vhostuser_socket" in c.reason


def test_vnic_type_filters() -> None:
    o = make_offer("ovs-direct", "ovs")
    assert neutron.choose(o, ["ovs"], None).entry == "ovs"
    assert neutron.choose(o, ["ovs"], None,
                          vnic_type="direct").entry == "ovs-direct"
    with pytest.raises(neutron.NoAcceptableBinding, match="macvtap"):
        neutron.choose(o, ["ovs"], None, vnic_type="macvtap")
    only_normal = neutron.Served("ovs", None, ("normal",))
    with pytest.raises(neutron.NoAcceptableBinding):
        neutron.choose(o, [only_normal], None, vnic_type="direct")


def test_nothing_in_common_names_both_sides() -> None:
    o = make_offer("linux-bridge", "tap")
    with pytest.raises(neutron.NoAcceptableBinding) as err:
        neutron.choose(o, ["ovs", "vhostuser"], OVS_DEFAULT)
    msg = str(err.value)
    assert "linux-bridge=bridge" in msg and "tap=tap" in msg
    assert "ovs" in msg and "vhostuser" in msg


@pytest.mark.parametrize("profile", [None, {}, {"other": 1},
                                     {offer.KEY: None}])
def test_no_offer_is_the_default(profile: Any) -> None:
    c = neutron.choose(profile, ["bridge"], OVS_DEFAULT)
    assert c.fallback and c.entry is None
    assert (c.vif_type, c.vif_details) == ("ovs",
                                           dict(OVS_DEFAULT.vif_details))


@pytest.mark.parametrize("bad", [
    {offer.KEY: "not json"},
    {offer.KEY: {"v": "99.0", "h": "compute-1", "i": []}},
    {offer.KEY: {"v": "2.0", "h": "compute-1", "i": ["x"]}},
    {offer.KEY: {"v": "2.0", "h": "compute-1", "i": [1] * 10_000}},
    {offer.KEY: {"v": "2.0", "h": "compute-1", "i": [],
                 "pad": "x" * (1 << 20)}},
    {offer.KEY: [1, 2, 3]},
    "a string profile",
])
def test_malformed_offer_falls_back_and_logs(bad: Any, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="os_vif_pref.neutron.choose")
    c = neutron.choose(bad, ["ovs"], OVS_DEFAULT, port_id="p1")
    assert c.fallback and c.vif_type == "ovs"
    assert "offer ignored" in c.reason
    assert any("p1" in r.getMessage() for r in caplog.records)


def test_no_offer_and_no_default() -> None:
    with pytest.raises(neutron.NoAcceptableBinding, match="no default"):
        neutron.choose(None, ["ovs"], None)


def test_json_string_profile_value() -> None:
    prof = {offer.KEY: json.dumps(offer.encode(make_offer("ovs")))}
    assert neutron.choose(prof, ["ovs"], None).entry == "ovs"


def test_parse_served() -> None:
    s = neutron.parse_served(
        "ovs, vhostuser:vhostuser_ovs_plug=true:vhostuser_socket=/x bridge")
    assert s == [neutron.Served("ovs"),
                 neutron.Served("vhostuser", {"vhostuser_ovs_plug": True,
                                              "vhostuser_socket": "/x"}),
                 neutron.Served("bridge")]
    with pytest.raises(exceptions.InvalidArgument):
        neutron.parse_served("ovs:nokey")


def test_as_served_rejects_garbage() -> None:
    assert neutron.as_served(("ovs", {"a": 1})) == neutron.Served(
        "ovs", {"a": 1})
    with pytest.raises(exceptions.InvalidArgument):
        neutron.as_served(42)  # type: ignore[arg-type]


# --------------------------------------------------------------------------
# The ML2 mixin, on a port context shaped like ML2's
# --------------------------------------------------------------------------

FakePortContext = ml2.PortContext



class OvsLikeDriver(neutron.NegotiatingMechanismDriverMixin,
                    api.MechanismDriver):
    """An agent-style driver: vif_type/vif_details attributes only."""

    vif_type = "ovs"
    vif_details = {"port_filter": True, "ovs_hybrid_plug": False}

    def initialize(self) -> None:
        pass


class MultiDriver(neutron.NegotiatingMechanismDriverMixin,
                  api.MechanismDriver):
    pref_served = [
        neutron.Served("ovs", {"port_filter": True,
                               "ovs_hybrid_plug": False}),
        neutron.Served("ovs", {"port_filter": False,
                               "ovs_hybrid_plug": True}),
        neutron.Served("vhostuser", {"vhostuser_ovs_plug": True,
                                     "vhostuser_socket": "/run/v/s"}),
    ]
    pref_default = pref_served[0]
    pref_binding_status = "ACTIVE"

    def initialize(self) -> None:
        pass

    def can_bind_segment(self, context, segment) -> bool:
        return segment[api.NETWORK_TYPE] in ("vxlan", "flat")


SEGMENTS = [{api.ID: "seg-vlan", api.NETWORK_TYPE: "vlan"},
            {api.ID: "seg-vx", api.NETWORK_TYPE: "vxlan"}]


def port(profile: Any = None, vnic: str = "normal") -> dict:
    p = {"id": "port-1", "binding:vnic_type": vnic}
    if profile is not None:
        p["binding:profile"] = profile
    return p


def test_mixin_is_a_mechanism_driver() -> None:
    d = OvsLikeDriver()
    assert isinstance(d, api.MechanismDriver)


def test_mixin_without_offer_binds_default() -> None:
    ctx = FakePortContext(port(), SEGMENTS)
    OvsLikeDriver().bind_port(ctx)
    assert ctx.bound == [("seg-vlan", "ovs",
                          {"port_filter": True, "ovs_hybrid_plug": False},
                          None)]


def test_mixin_follows_the_offer_and_skips_segments() -> None:
    ctx = FakePortContext(port(profile_of("ovs-vhostuser", "ovs-hybrid",
                                          "ovs")), SEGMENTS)
    MultiDriver().bind_port(ctx)
    assert ctx.bound == [("seg-vx", "vhostuser",
                          {"vhostuser_ovs_plug": True,
                           "vhostuser_socket": "/run/v/s"}, "ACTIVE")]
    ctx = FakePortContext(port(profile_of("ovs-hybrid", "ovs")), SEGMENTS)
    MultiDriver().bind_port(ctx)
    assert ctx.bound[0][1:3] == ("ovs", {"port_filter": False,
                                         "ovs_hybrid_plug": True})


def test_mixin_nothing_in_common_leaves_unbound(caplog) -> None:
    caplog.set_level(logging.WARNING, logger="os_vif_pref.neutron.ml2.hook")
    ctx = FakePortContext(port(profile_of("linux-bridge")), SEGMENTS)
    OvsLikeDriver().bind_port(ctx)
    assert ctx.bound == []
    assert "linux-bridge" in caplog.text


def test_mixin_malformed_offer_binds_default() -> None:
    ctx = FakePortContext(port({offer.KEY: {"version": "x"}}), SEGMENTS)
    OvsLikeDriver().bind_port(ctx)
    assert ctx.bound[0][1] == "ovs"


def test_mixin_honours_vnic_type() -> None:
    ctx = FakePortContext(port(profile_of("ovs-direct", "ovs"),
                               vnic="direct"), SEGMENTS)
    OvsLikeDriver().bind_port(ctx)
    # The agent-style driver serves only its non-hybrid ovs details,
    # which the ovs-direct item (no details match) accepts.
    assert ctx.bound[0][1] == "ovs"


class _DriverWithItsOwnBindPort(api.MechanismDriver):
    def initialize(self) -> None:
        pass

    def bind_port(self, context: Any) -> None:
        """Checks of its own, then set_binding."""


def test_mixin_refuses_to_replace_a_drivers_own_bind_port() -> None:
    with pytest.raises(TypeError, match="pref_set_binding"):
        class Wrapped(neutron.NegotiatingMechanismDriverMixin,
                      _DriverWithItsOwnBindPort):
            pass


def test_mixin_after_the_driver_keeps_its_bind_port() -> None:
    class Fine(_DriverWithItsOwnBindPort,
               neutron.NegotiatingMechanismDriverMixin):
        pass

    assert Fine.bind_port is _DriverWithItsOwnBindPort.bind_port


# --------------------------------------------------------------------------
# The hook: candidates in, the one to set out
# --------------------------------------------------------------------------

VHU = neutron.Candidate("vhostuser", {"vhostuser_ovs_plug": True,
                                      "vhostuser_mode": "server",
                                      "vhostuser_socket": "/run/vhu1",
                                      "datapath_type": "netdev"})
OVS_NETDEV = neutron.Candidate("ovs", {"port_filter": True,
                                       "ovs_hybrid_plug": False,
                                       "datapath_type": "netdev"})


def test_hook_without_offer_is_the_first_candidate() -> None:
    c = neutron.select(port(), [VHU, OVS_NETDEV])
    assert c.fallback and (c.vif_type, c.vif_details) == (
        "vhostuser", dict(VHU.vif_details))


def test_hook_host_order_picks_among_candidates_details_untouched() -> None:
    c = neutron.select(port(profile_of("ovs", "ovs-vhostuser")),
                       [VHU, OVS_NETDEV])
    assert (c.entry, c.vif_type, c.vif_details) == (
        "ovs", "ovs", dict(OVS_NETDEV.vif_details))
    c = neutron.select(port(profile_of("linux-bridge", "ovs-vhostuser",
                                       "ovs")), [VHU, OVS_NETDEV])
    assert c.entry == "ovs-vhostuser" and c.vif_details["vhostuser_socket"]


def test_hook_candidate_missing_a_required_detail_is_not_taken() -> None:
    no_socket = neutron.Candidate("vhostuser", {"vhostuser_ovs_plug": True})
    assert neutron.select(port(profile_of("ovs-vhostuser")),
                          [no_socket]) is None


def test_hook_nothing_in_common_is_none_and_says_both(caplog) -> None:
    caplog.set_level(logging.WARNING, logger="os_vif_pref.neutron.ml2.hook")
    assert neutron.select(port(profile_of("linux-bridge", "tap")),
                          [VHU, OVS_NETDEV], driver="my_driver",
                          where="on segment s1") is None
    text = caplog.text
    for word in ("my_driver", "on segment s1", "linux-bridge=bridge",
                 "tap=tap", "vhostuser(", "ovs("):
        assert word in text


def test_hook_malformed_offer_is_the_first_candidate(caplog) -> None:
    caplog.set_level(logging.WARNING)
    c = neutron.select(port({offer.KEY: {"version": 1, "offer": 5}}),
                       [VHU, OVS_NETDEV])
    assert c.fallback and c.vif_type == "vhostuser"
    assert "ignoring the os_vif_pref offer" in caplog.text


def test_hook_set_binding_passes_status_only_when_given() -> None:
    ctx = FakePortContext(port(profile_of("ovs")), SEGMENTS)
    assert neutron.set_binding(ctx, "seg-vx", [VHU, OVS_NETDEV]).entry == (
        "ovs")
    assert ctx.bound == [("seg-vx", "ovs", dict(OVS_NETDEV.vif_details),
                          None)]
    ctx = FakePortContext(port(profile_of("linux-bridge")), SEGMENTS)
    assert neutron.set_binding(ctx, "seg-vx", [VHU]) is None
    assert ctx.bound == []


# --------------------------------------------------------------------------
# os-vif-pref negotiate
# --------------------------------------------------------------------------

cli = cli_testing.run


def test_cli_negotiate_explains(tmp_path) -> None:
    f = tmp_path / "offer.json"
    f.write_text(json.dumps(profile_of("ovs-vhostuser", "ovs", "tap")))
    rc, out, _ = cli("negotiate", "--offer", str(f), "--serve",
                     "tap,ovs:ovs_hybrid_plug=false:port_filter=true",
                     "-f", "json")
    assert rc == 0
    data = json.loads(out)
    assert (data["entry"], data["vif_type"], data["host_rank"]) == (
        "ovs", "ovs", 2)
    assert json.loads(data["vif_details"]) == {"ovs_hybrid_plug": False,
                                               "port_filter": True}
    assert "#2" in data["reason"] and not data["fallback"]


def test_cli_negotiate_stdin_value_and_port_forms() -> None:
    value = json.dumps(offer.encode(make_offer("ovs-direct", "ovs")))
    rc, out, _ = cli("negotiate", "--offer", "-", "--serve", "ovs",
                     "-f", "json", stdin=value)
    assert rc == 0 and json.loads(out)["entry"] == "ovs"
    p = json.dumps({"id": "p", "binding:vnic_type": "direct",
                    "binding:profile": profile_of("ovs-direct", "ovs")})
    rc, out, _ = cli("negotiate", "--offer", "-", "--serve", "ovs",
                     "-f", "json", stdin=p)
    assert json.loads(out)["entry"] == "ovs-direct"


def test_cli_negotiate_nothing_in_common_is_an_error() -> None:
    rc, out, err = cli("negotiate", "--offer", "-", "--serve", "tap",
                       stdin=json.dumps(profile_of("ovs")))
    assert rc == 1 and "ovs=ovs" in err and "Traceback" not in err


@pytest.mark.parametrize("stdin", ["not json", "[1, 2]",
                                   '{"os_vif_pref": {"v": 7}}',
                                   json.dumps({offer.KEY: {
                                       "v": "2.0", "h": "compute-1",
                                       "i": [{}] * 10_000}})])
def test_cli_negotiate_bad_offer_falls_back(stdin: str) -> None:
    rc, out, err = cli("negotiate", "--offer", "-", "--serve", "ovs",
                       "--default", "ovs:port_filter=true", "-f", "json",
                       stdin=stdin)
    if stdin == "not json":
        assert rc == 1 and "not JSON" in err
        return
    assert rc == 0, err
    data = json.loads(out)
    assert data["fallback"] and data["vif_type"] == "ovs"
    assert json.loads(data["vif_details"]) == {"port_filter": True}
    assert "Traceback" not in err
