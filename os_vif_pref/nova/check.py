"""The Nova side's checks: is Neutron's binding one the host offered?

:func:`check_binding` compares Neutron's answer with the host's offer and
refuses, with an error naming both, a binding the host never offered (today
Nova would fail later with an internal error).  :func:`migrate_check`
answers, before a live migration, whether the binding active on the source
is also offered by the destination, or which one to bind instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import dataclasses
from typing import Any

from os_vif_pref import exceptions
from os_vif_pref import offer as offer_mod
from os_vif_pref.exceptions import excerpt
from os_vif_pref.nova.ports import InvalidPort, binding_of


class BindingNotAcceptable(exceptions.OsVifPrefException):
    msg_fmt = ("Neutron bound port %(port)s as %(returned)s, which the host "
               "did not offer; offered: %(offered)s")
    input_kwargs = {"port": False}


def _describe(vif_type: str, vnic: str, details: Mapping[str, Any]) -> str:
    """A binding in one line: every value from the port is an excerpt."""
    keys = sorted(details, key=str)[:12]
    shown = ", ".join(f"{excerpt(k)}: {excerpt(details[k])}" for k in keys)
    more = "" if len(details) <= 12 else f" (+{len(details) - 12} more)"
    return (f"vif_type={excerpt(vif_type, quote=False)} "
            f"vnic_type={excerpt(vnic, quote=False)} "
            f"vif_details={{{shown}}}{more}")


def _describe_offer(offer: offer_mod.Offer, limit: int = 20) -> str:
    parts = [f"{i.name} ({i.vif_type}/{'|'.join(i.vnic_types)}"
             + (f" {dict(i.vif_details)}" if i.vif_details else "") + ")"
             for i in offer.items[:limit]]
    if len(offer.items) > limit:
        parts.append(f"... {len(offer.items) - limit} more")
    return ", ".join(parts) or "nothing"


def _as_offer(offer: Any) -> offer_mod.Offer | None:
    if offer is None or isinstance(offer, offer_mod.Offer):
        return offer
    if isinstance(offer, Mapping):
        # The value under the key ({"v", "h", "i"}), or a whole
        # binding:profile (which may carry no offer at all).
        if "i" in offer and offer_mod.KEY not in offer:
            return offer_mod.decode_value(offer)
        return offer_mod.decode(offer)
    raise InvalidPort(reason=f"an offer must be an Offer or a mapping, got "
                             f"{type(offer).__name__}")


def check_binding(port: Mapping[str, Any], offer: Any,
                  ) -> offer_mod.OfferItem | None:
    """The offer item Neutron's binding of ``port`` answers, or raise.

    ``offer`` is the :class:`~os_vif_pref.offer.Offer` the host sent (or the
    ``binding:profile`` carrying it).  ``None`` means the host did not
    negotiate: nothing to check, today's behaviour, ``None`` returned.
    A binding outside the offer (including ``binding_failed``) raises
    :class:`BindingNotAcceptable` naming both sides.
    """
    offer = _as_offer(offer)
    if offer is None:
        return None
    vif_type, vnic, details = binding_of(port)
    port_id = port.get("id")
    for item in offer.find(vif_type, vnic, details):
        missing = [k for k in item.required_details
                   if details.get(k) in (None, "")]
        if not missing:
            return item
        raise BindingNotAcceptable(
            port=port_id, returned=_describe(vif_type, vnic, details)
            + f" (matches {excerpt(item.name)} but lacks required vif_details "
              f"{missing})", offered=_describe_offer(offer))
    raise BindingNotAcceptable(port=port_id,
                               returned=_describe(vif_type, vnic, details),
                               offered=_describe_offer(offer))


# --------------------------------------------------------------------------
# Live migration
# --------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class MigrationVerdict:
    """Whether the source's binding works on the destination.

    ``status``: ``same`` (the destination offers it), ``rebind`` (bind
    ``bind_instead`` on the destination), ``impossible`` (nothing offered
    fits the port's vnic_type) or ``unknown`` (the destination does not
    negotiate; today's behaviour applies).
    """

    status: str
    entry: str | None
    bind_instead: offer_mod.OfferItem | None
    reason: str

    @property
    def ok(self) -> bool:
        return self.status in ("same", "unknown")

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "entry": self.entry,
                "bind_instead": (None if self.bind_instead is None
                                 else self.bind_instead.to_dict()),
                "reason": self.reason}


def migrate_check(port: Mapping[str, Any], dest_offer: Any,
                  served: Sequence[Any] | None = None) -> MigrationVerdict:
    """Can the binding active on the source stay as it is on the destination?

    ``port`` carries the active binding (Neutron port or Nova VIF dict);
    ``dest_offer`` is the destination host's offer.  When the destination
    does not offer the binding, the replacement is what Neutron would choose
    from the destination's offer: with ``served`` (see
    :func:`os_vif_pref.neutron.choose`) exactly that, otherwise the first
    offered binding of the same vif_type (the same mechanism driver most
    likely serves it), else the first one for the port's vnic_type.  The
    vnic_type never changes: it is the port's, not the host's.
    """
    vif_type, vnic, details = binding_of(port)
    offer = _as_offer(dest_offer)
    binding = _describe(vif_type, vnic, details)
    if offer is None:
        return MigrationVerdict("unknown", None, None, (
            "the destination sent no offer; the binding is kept as today"))
    try:
        item = check_binding(port, offer)
    except BindingNotAcceptable:
        item = None
    if item is not None:
        return MigrationVerdict("same", item.name, None, (
            f"the destination offers {excerpt(item.name)}, which accepts "
            f"{binding}"))
    if served is not None:
        from os_vif_pref import neutron

        try:
            choice = neutron.choose(offer, served, None, vnic_type=vnic)
        except neutron.NoAcceptableBinding as exc:
            return MigrationVerdict("impossible", None, None, str(exc))
        chosen = offer.get(choice.entry) if choice.entry else None
        return MigrationVerdict("rebind", None, chosen, (
            f"the destination does not offer {binding}; Neutron would bind "
            f"{excerpt(choice.entry)} ({choice.reason})"))
    same_vnic = [i for i in offer.items if vnic in i.vnic_types]
    same_type = [i for i in same_vnic if i.vif_type == vif_type]
    pick = (same_type or same_vnic or [None])[0]
    if pick is None:
        return MigrationVerdict("impossible", None, None, (
            "the destination offers nothing for vnic_type "
            f"{excerpt(vnic)}: "
            f"{_describe_offer(offer)}"))
    why = ("same vif_type, other details" if same_type
           else "no binding of the same vif_type; first for this vnic_type")
    return MigrationVerdict("rebind", None, pick, (
        f"the destination does not offer {binding}; bind "
        f"{excerpt(pick.name)} "
        f"instead ({why})"))
