"""The ``[os_vif_pref]`` options of the offer: the encoder's budget and the
reader's bounds (items, bytes).

Registered here, once, for both directions; listed for oslo-config-generator
through :mod:`os_vif_pref.conf`.
"""

from __future__ import annotations

from oslo_config import cfg

from os_vif_pref.offer.model import PROFILE_MAX

offer_opts = [
    cfg.IntOpt(
        "offer_budget_bytes", default=2048, min=256, max=PROFILE_MAX,
        help="Most characters the offer may add to a port's binding:profile "
             "as Neutron stores it (json.dumps; Neutron refuses a profile "
             "over 4095). The least preferred bindings are left out, with "
             "a warning, to stay within it. The default leaves about 2 KB "
             "for Nova's own keys (an SR-IOV port's take about 400); the "
             "whole bundled catalogue needs about 1 KB."),
    cfg.IntOpt(
        "offer_max_items", default=256, min=1,
        help="Largest number of bindings accepted in an offer read from "
             "binding:profile, and sent in one. The bundled catalogue has "
             "about 20 entries."),
    cfg.IntOpt(
        "offer_max_bytes", default=PROFILE_MAX + 1, min=256,
        help="Largest size (bytes of compact JSON) of an offer read from "
             "binding:profile; Neutron cannot store more than 4095."),
]

CONF = cfg.CONF
CONF.register_opts(offer_opts, group="os_vif_pref")


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    return [("os_vif_pref", offer_opts)]
