"""Writing the offer: what the compute host puts in ``binding:profile``.

:func:`encode` keeps the value within ``[os_vif_pref] offer_budget_bytes``
and the room Nova's own keys leave, dropping the least preferred items with
a warning; :func:`to_json` for the CLI.  Apart from the reader so that
Neutron's side is read without it.
"""

from __future__ import annotations

from collections.abc import Iterable
import json
import logging
from typing import Any

from oslo_config import cfg

from os_vif_pref import exceptions
from os_vif_pref.offer.model import (
    KEY,
    ItemLike,
    Offer,
    OfferItem,
    _Encoding,
    _host_of,
    from_entries,
    stored_size,
)
from os_vif_pref.offer.opts import CONF

# The name it has always logged under (offer was one module).
LOG = logging.getLogger("os_vif_pref.offer")


# --------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------

def encode(offer_or_items: Offer | Iterable[ItemLike], *,
           host: str | None = None, budget: int | None = None,
           conf: cfg.ConfigOpts = CONF) -> dict[str, Any]:
    """The value to put under ``binding:profile[KEY]``, within ``budget``.

    ``host`` (default: the offer's own) is the compute host the offer is
    for.  ``budget`` (default ``[os_vif_pref] offer_budget_bytes``) bounds
    what ``{KEY: value}`` takes as Neutron stores it; since json.dumps is
    additive, that is also exactly what it adds to a profile holding other
    keys.  The least preferred items that do not fit (or are beyond
    ``offer_max_items``) are left out, with a warning naming them; if not
    even the most preferred one fits, :class:`~os_vif_pref.exceptions.
    OfferTooLarge` is raised (send no offer: stock binding).
    """
    offer = (offer_or_items if isinstance(offer_or_items, Offer)
             else from_entries(offer_or_items))
    host = _host_of(offer, host)
    if budget is None:
        budget = conf.os_vif_pref.offer_budget_bytes
    max_items = conf.os_vif_pref.offer_max_items
    enc = _Encoding(offer, host)
    total = len(enc.items)
    if total <= max_items:
        value = enc.value()
        if stored_size({KEY: value}) <= budget:   # the usual case
            return value
    n = min(total, max_items)
    while n and enc.size(n) > budget:
        n -= 1
    if total and not n:
        raise exceptions.OfferTooLarge(
            name=offer.items[0].name, size=enc.size(1),
            budget=budget, host=host)
    value = enc.value(n)
    if n < total:
        LOG.warning(
            "The offer for host %s is cut to its %d most preferred of %d "
            "bindings to stay within [os_vif_pref] offer_budget_bytes = %d "
            "(%d characters as Neutron stores it; all %d would take %d) and "
            "offer_max_items = %d; left out: %s", host, n, total, budget,
            enc.size(n), total, enc.size(total), max_items,
            _names(offer.items[n:]))
    return value


def _names(items: Iterable[OfferItem], limit: int = 20) -> str:
    names = [i.name for i in items]
    more = len(names) - limit
    return ", ".join(names[:limit]) + (f" and {more} more" if more > 0
                                       else "")



def to_json(obj: Offer | Iterable[ItemLike], *, host: str | None = None,
            budget: int | None = None, indent: int | None = None) -> str:
    """The binding:profile fragment ``{"os_vif_pref": {...}}`` as JSON
    (compact unless ``indent``)."""
    separators = (",", ":") if indent is None else (",", ": ")
    return json.dumps({KEY: encode(obj, host=host, budget=budget)},
                      indent=indent, separators=separators)
