"""The Neutron side of the negotiation: pick the binding to answer with.

The compute host sends, in ``binding:profile["os_vif_pref"]``, the bindings
it can plug in preference order.  A mechanism driver knows what it can
serve (vif_type and the vif_details it would set).  :func:`choose` returns
the first offered binding the driver can serve - the host's preference
wins, because the host knows what it can plug and what is faster there.

Backward compatibility is the rule that matters most here: a port without
an offer (an old Nova, a port bound by hand), with an offer that cannot be
read, or with an offer computed for another host (Nova copies the source
host's profile to a live-migration destination) gets exactly the driver's
configured default, as today.  ``binding:profile`` is written by Nova (by
default only the ``service`` role may set it), but an offer that cannot be
read is still logged, never turned into a binding failure: a broken or
newer peer must not take a port down.  Only a well-formed offer for this
host that shares nothing with what the driver serves is refused
(:class:`NoAcceptableBinding`): binding anyway would produce a port the
host has said it cannot plug.

This module is pure (no Neutron import): the ML2 side is
:mod:`os_vif_pref.neutron.ml2`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
import dataclasses
import logging
from typing import Any, Union

from os_vif_pref import exceptions
from os_vif_pref import offer as offer_mod

LOG = logging.getLogger(__name__)

PROFILE = "binding:profile"
VNIC_TYPE = "binding:vnic_type"


class NoAcceptableBinding(exceptions.OsVifPrefException):
    msg_fmt = ("None of the bindings the host offers for vnic_type "
               "%(vnic_type)s can be served: offered %(offered)s; this "
               "driver serves %(served)s")
    input_kwargs = {"vnic_type": False}


@dataclasses.dataclass(frozen=True)
class Served:
    """A binding a driver can produce.

    ``vif_details`` are the details the driver would set for it; ``None``
    means "whichever variant the host asks for" (the offered item's match
    values, layered over the default's details when the vif_type is the
    same).  ``vnic_types`` ``None`` means any.
    """

    vif_type: str
    vif_details: Mapping[str, Any] | None = None
    vnic_types: tuple[str, ...] | None = None

    def __str__(self) -> str:
        out = self.vif_type
        if self.vif_details:
            out += "(" + ",".join(f"{k}={v}" for k, v in
                                  sorted(self.vif_details.items())) + ")"
        if self.vnic_types is not None:
            out += "[" + "|".join(self.vnic_types) + "]"
        return out


ServedLike = Union[Served, str, tuple]


def as_served(value: ServedLike) -> Served:
    if isinstance(value, Served):
        return value
    if isinstance(value, str):
        return Served(value)
    if isinstance(value, tuple) and 1 <= len(value) <= 3:
        return Served(*value)
    raise exceptions.InvalidArgument(
        name="served binding", value=value,
        reason="expected Served, a vif_type string or (vif_type, details)")


@dataclasses.dataclass(frozen=True)
class Choice:
    """What to bind, and why (shown by ``os-vif-pref negotiate``)."""

    vif_type: str
    vif_details: dict[str, Any]
    entry: str | None
    reason: str
    fallback: bool = False
    rank: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _details_for(item: offer_mod.OfferItem, served: Served,
                 default: Served | None) -> dict[str, Any] | None:
    """The details ``served`` would bind ``item`` with, or ``None``."""
    if served.vif_details is not None:
        details = dict(served.vif_details)
        if not item.accepts(item.vif_type, item.vnic_types[0], details):
            return None
        if any(details.get(k) in (None, "") for k in item.required_details):
            return None
        return details
    details = {}
    if (default is not None and default.vif_type == served.vif_type
            and default.vif_details):
        details.update(default.vif_details)
    details.update(item.vif_details)
    return details


def _offer_text(offer: offer_mod.Offer, limit: int = 20) -> str:
    names = [f"{i.name}={i.vif_type}" for i in offer.items[:limit]]
    if len(offer.items) > limit:
        names.append(f"... {len(offer.items) - limit} more")
    return ", ".join(names) or "nothing"


def read_offer(profile: Any) -> tuple[offer_mod.Offer | None, str | None]:
    """The offer in a ``binding:profile`` and, if unreadable, why not.

    Never raises: a broken offer is a peer's problem and must not fail the
    binding.
    """
    return offer_mod.read_offer(profile)


def choose(offer: Any, served: Iterable[ServedLike],
           default: ServedLike | None, *, vnic_type: str = "normal",
           port_id: str | None = None, host: str | None = None) -> Choice:
    """The binding to answer with.

    ``offer``: an :class:`~os_vif_pref.offer.Offer`, the port's
    ``binding:profile`` or ``None``.  ``served``: what the driver can
    produce, in the driver's own order (used only to break ties inside one
    offered item).  ``default``: the driver's configured binding, used when
    there is no usable offer.  ``host``: the port's ``binding:host_id``;
    an offer that names another host is not this host's and is ignored
    (``None``: no check).
    """
    the_default = None if default is None else as_served(default)
    the_offer, problem = read_offer(offer)
    offer_host = getattr(the_offer, "host", None)
    stale = bool(the_offer is not None and host and offer_host
                 and offer_host != host)
    if stale:
        # Normal after a live migration by a Nova that copies the source
        # profile: not an error, but worth a line.
        the_offer = None
        problem = (f"the offer was computed for host {offer_host}, the port "
                   f"is being bound to {host}")
    if the_offer is None:
        if the_default is None:
            raise NoAcceptableBinding(
                vnic_type=vnic_type, offered="nothing readable"
                + (f" ({problem})" if problem else ""),
                served="no default binding configured")
        if problem:
            LOG.log(logging.INFO if stale else logging.WARNING,
                    "Port %s: ignoring the os_vif_pref offer in "
                    "binding:profile and binding the default %s: %s",
                    port_id, the_default.vif_type, problem)
        return Choice(
            vif_type=the_default.vif_type,
            vif_details=dict(the_default.vif_details or {}),
            entry=None, fallback=True,
            reason=("no offer in binding:profile: the configured default"
                    if problem is None else
                    f"offer ignored, configured default used: {problem}"))
    servable = [as_served(s) for s in served]
    by_type: dict[str, list[Served]] = {}
    for s in servable:
        if s.vnic_types is None or vnic_type in s.vnic_types:
            by_type.setdefault(s.vif_type, []).append(s)
    for rank, item in enumerate(the_offer.items):
        if vnic_type not in item.vnic_types:
            continue
        for s in by_type.get(item.vif_type, ()):
            details = _details_for(item, s, the_default)
            if details is not None:
                reason = (f"the host's choice #{rank + 1} ({item.name}) is "
                          f"the first offered binding this driver serves "
                          f"({s})")
                todo = [k for k in item.required_details
                        if details.get(k) in (None, "")]
                if todo:
                    reason += ("; the driver must also set vif_details "
                               + ", ".join(todo))
                return Choice(
                    vif_type=item.vif_type, vif_details=details,
                    entry=item.name, rank=rank, reason=reason)
    raise NoAcceptableBinding(
        vnic_type=vnic_type, offered=_offer_text(the_offer),
        served=", ".join(map(str, servable)) or "nothing")


def parse_served(text: str) -> list[Served]:
    """``ovs,ovs:ovs_hybrid_plug=true,vhostuser:vhostuser_ovs_plug=true``.

    Items are separated by commas or spaces; each is ``VIF_TYPE`` (any
    variant) or ``VIF_TYPE:KEY=VALUE[:KEY=VALUE...]`` (exactly those
    details; values true/false/null/numbers are read as JSON).
    """
    import json

    out = []
    for raw in text.replace(",", " ").split():
        vif_type, *pairs = raw.split(":")
        if not vif_type:
            raise exceptions.InvalidArgument(name="served binding",
                                             value=raw, reason="no vif_type")
        if not pairs:
            out.append(Served(vif_type))
            continue
        details: dict[str, Any] = {}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep or not key:
                raise exceptions.InvalidArgument(
                    name="served binding", value=raw,
                    reason=f"{exceptions.excerpt(pair)} is not KEY=VALUE")
            try:
                details[key] = json.loads(value)
            except ValueError:
                details[key] = value
        out.append(Served(vif_type, details))
    return out
