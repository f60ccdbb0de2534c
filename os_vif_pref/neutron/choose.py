"""The Neutron side of the negotiation: pick the binding to answer with.

The compute host sends, in ``binding:profile["os_vif_pref"]``, the bindings
it can plug in preference order.  A mechanism driver knows what it can
serve (vif_type and the vif_details it would set).  :func:`choose` returns
the first offered binding the driver can serve - the host's preference
wins, because the host knows what it can plug and what is faster there.

Backward compatibility is the rule that matters most here: a port without
an offer (an old Nova, a port bound by hand) or with an offer that cannot be
read gets exactly the driver's configured default, as today.  A malformed
offer is logged, never turned into a binding failure, because the field is
user-writable and a typo must not take a port down.  Only a well-formed
offer that shares nothing with what the driver serves is refused
(:class:`NoAcceptableBinding`): binding anyway would produce a port the
host has said it cannot plug.

:class:`NegotiatingMechanismDriverMixin` wires this into an ML2 mechanism
driver (neutron-lib, the ``[neutron]`` extra).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
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

    Never raises: a broken offer is the user's or an old client's problem
    and must not fail the binding.
    """
    return offer_mod.read_offer(profile)


def choose(offer: Any, served: Iterable[ServedLike],
           default: ServedLike | None, *, vnic_type: str = "normal",
           port_id: str | None = None) -> Choice:
    """The binding to answer with.

    ``offer``: an :class:`~os_vif_pref.offer.Offer`, the port's
    ``binding:profile`` or ``None``.  ``served``: what the driver can
    produce, in the driver's own order (used only to break ties inside one
    offered item).  ``default``: the driver's configured binding, used when
    there is no readable offer.
    """
    the_default = None if default is None else as_served(default)
    the_offer, problem = read_offer(offer)
    if the_offer is None:
        if the_default is None:
            raise NoAcceptableBinding(
                vnic_type=vnic_type, offered="nothing readable"
                + (f" ({problem})" if problem else ""),
                served="no default binding configured")
        if problem:
            LOG.warning("Port %s: ignoring the os_vif_pref offer in "
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


# --------------------------------------------------------------------------
# ML2
# --------------------------------------------------------------------------

class NegotiatingMechanismDriverMixin:
    """``bind_port`` for an ML2 mechanism driver that honours the offer.

    Put it first in the bases::

        class MyDriver(NegotiatingMechanismDriverMixin,
                       api.MechanismDriver): ...

    and describe what the driver serves: ``pref_served`` (a list of
    :class:`Served`) and ``pref_default`` (the binding used without an
    offer), or override :meth:`served_bindings` / :meth:`default_binding`
    to compute them per segment.  Drivers in the agent style that already
    have ``vif_type`` / ``vif_details`` attributes work without either: that
    pair is both the default and the only binding served.

    A segment the driver cannot bind (:meth:`can_bind_segment`) is skipped.
    When the offer shares nothing with what the driver serves, the port is
    left unbound by this driver (another driver may bind it; otherwise
    Neutron reports ``binding_failed``) and the reason is logged.
    """

    pref_served: Sequence[ServedLike] | None = None
    pref_default: ServedLike | None = None
    pref_binding_status: str | None = None

    def default_binding(self, context: Any, segment: Mapping[str, Any],
                        ) -> Served | None:
        if self.pref_default is not None:
            return as_served(self.pref_default)
        vif_type = getattr(self, "vif_type", None)
        if vif_type:
            return Served(vif_type, dict(getattr(self, "vif_details", {})
                                         or {}))
        return None

    def served_bindings(self, context: Any, segment: Mapping[str, Any],
                        ) -> list[Served]:
        if self.pref_served is not None:
            return [as_served(s) for s in self.pref_served]
        default = self.default_binding(context, segment)
        return [] if default is None else [default]

    def can_bind_segment(self, context: Any,
                         segment: Mapping[str, Any]) -> bool:
        return True

    def bind_port(self, context: Any) -> None:
        port = context.current
        vnic_type = port.get(VNIC_TYPE) or "normal"
        profile = port.get(PROFILE)
        for segment in context.segments_to_bind:
            if not self.can_bind_segment(context, segment):
                continue
            try:
                choice = choose(profile,
                                self.served_bindings(context, segment),
                                self.default_binding(context, segment),
                                vnic_type=vnic_type, port_id=port.get("id"))
            except NoAcceptableBinding as exc:
                LOG.warning("Port %s not bound by %s on segment %s: %s",
                            port.get("id"), type(self).__name__,
                            segment.get("id"), exc)
                return
            LOG.debug("Port %s: binding %s (%s)", port.get("id"),
                      choice.vif_type, choice.reason)
            context.set_binding(segment["id"], choice.vif_type,
                                choice.vif_details,
                                status=self.pref_binding_status)
            return


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
                    reason=f"{pair!r} is not KEY=VALUE")
            try:
                details[key] = json.loads(value)
            except ValueError:
                details[key] = value
        out.append(Served(vif_type, details))
    return out
