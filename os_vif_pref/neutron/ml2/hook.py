"""The hook an ML2 mechanism driver calls to let the host's offer decide.

A driver keeps every check of its own (agent alive, segment and network
type, physical-network mappings, vnic types, its prohibit list, trunks)
and, at the one point where it would call ``context.set_binding``, hands
:func:`select` the bindings it can produce for *this* port on *this*
segment and agent - its stock binding first, each with the full
``vif_details`` it would set - and sets the one it gets back::

    def try_to_bind_segment_for_agent(self, context, segment, agent):
        if not self.check_segment_for_agent(segment, agent):
            return False
        candidates = [Candidate(stock_type, stock_details), ...]
        return hook.set_binding(context, segment[api.ID], candidates,
                                driver="my_driver") is not None

What comes back:

* no offer in ``binding:profile`` (an old Nova), an unreadable one, or one
  computed for another host than the port's ``binding:host_id``: the
  first candidate, i.e. exactly the stock binding;
* a readable offer for this host: the first offered binding (host order)
  that one of the candidates is, with that candidate's details untouched;
* a readable offer for this host that shares nothing with the candidates:
  ``None`` - the driver must not bind this segment/agent (ML2 then tries
  the next one, the next driver, and finally reports ``binding_failed``);
  the reason, naming what was offered and what could be produced, is
  logged at WARNING.

Nothing here imports Neutron: the hook works for any driver, in or out of
tree.  :class:`NegotiatingMechanismDriverMixin` offers the same as methods,
and keeps the earlier ``bind_port`` for drivers that have no binding logic
of their own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import logging
from typing import Any

# Names, not the module: the package re-exports the function ``choose``
# under the submodule's name.
from os_vif_pref.neutron.choose import (
    PROFILE,
    VNIC_TYPE,
    Choice,
    NoAcceptableBinding,
    Served,
    ServedLike,
    as_served,
    choose,
)

LOG = logging.getLogger(__name__)

HOST_ID = "binding:host_id"

#: A binding a driver can produce: ``Candidate(vif_type, vif_details)``
#: with the complete details it would set.
Candidate = Served


def select(port: Mapping[str, Any],
           candidates: Sequence[ServedLike], *,
           default: ServedLike | None = None, driver: str = "",
           where: str = "") -> Choice | None:
    """The binding to set for ``port``, or ``None`` (do not bind here).

    ``candidates``: what the driver can produce for this port here, in the
    driver's own order; ``default`` (first candidate if not given) is what
    the driver binds without a usable offer.  ``driver`` and ``where``
    (e.g. the segment and agent) only go into log lines.
    """
    served = [as_served(c) for c in candidates]
    the_default = (served[0] if default is None and served
                   else default)
    vnic_type = port.get(VNIC_TYPE) or "normal"
    port_id = port.get("id")
    try:
        choice = choose(port.get(PROFILE), served, the_default,
                                vnic_type=vnic_type, port_id=port_id,
                                host=port.get(HOST_ID))
    except NoAcceptableBinding as exc:
        LOG.warning("Port %s not bound by %s%s: %s", port_id,
                    driver or "this driver", f" {where}" if where else "",
                    exc)
        return None
    if not choice.fallback:
        LOG.debug("Port %s bound by %s%s as %s: %s", port_id, driver,
                  f" {where}" if where else "", choice.vif_type,
                  choice.reason)
    return choice


def set_binding(context: Any, segment_id: str,
                candidates: Sequence[ServedLike], *,
                default: ServedLike | None = None, driver: str = "",
                where: str = "", status: Any = None,
                ) -> Choice | None:
    """:func:`select`, then ``context.set_binding`` with the choice.

    Returns the choice, or ``None`` when nothing was set.  ``status`` is
    passed on only when given, so a driver that never passes one calls
    ``set_binding`` exactly as before.
    """
    choice = select(context.current, candidates, default=default,
                    driver=driver, where=where)
    if choice is None:
        return None
    if status is None:
        context.set_binding(segment_id, choice.vif_type, choice.vif_details)
    else:
        context.set_binding(segment_id, choice.vif_type, choice.vif_details,
                            status=status)
    return choice


def _neutron_lib_default(func: Any) -> bool:
    """Whether ``func`` is neutron-lib's do-nothing ``bind_port``."""
    return (getattr(func, "__isabstractmethod__", False)
            or (getattr(func, "__module__", "") ==
                "neutron_lib.plugins.ml2.api"))


class NegotiatingMechanismDriverMixin:
    """Offer negotiation for an ML2 mechanism driver.

    A driver with binding logic of its own calls :meth:`pref_set_binding`
    (or :meth:`pref_select`) where it would call ``context.set_binding``,
    with the bindings it can produce there.  A driver with no logic of its
    own (it binds every segment the same way) may instead put the mixin
    first in its bases and describe what it serves: ``pref_served`` and
    ``pref_default``, or :meth:`served_bindings` / :meth:`default_binding`
    per segment; the mixin's :meth:`bind_port` then binds the first
    segment :meth:`can_bind_segment` accepts.

    Composing the mixin in front of a driver that has a ``bind_port`` of
    its own (``OpenvswitchMechanismDriver`` and every agent-based driver)
    would replace that driver's checks, so it raises ``TypeError`` when the
    class is defined: such drivers call :meth:`pref_set_binding` instead,
    as ``pref_openvswitch`` does.
    """

    pref_served: Sequence[ServedLike] | None = None
    pref_default: ServedLike | None = None
    pref_binding_status: str | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "bind_port" in cls.__dict__:
            return
        mine = NegotiatingMechanismDriverMixin.bind_port
        if cls.bind_port is not mine:  # the driver's own bind_port wins
            return
        for base in cls.__mro__[1:]:
            func = base.__dict__.get("bind_port")
            if func is None or func is mine or _neutron_lib_default(func):
                continue
            raise TypeError(
                f"{cls.__name__}: NegotiatingMechanismDriverMixin would "
                f"replace {base.__name__}.bind_port and with it that "
                f"driver's own checks; put the mixin after it and call "
                f"self.pref_set_binding() where the driver calls "
                f"context.set_binding() (see os_vif_pref.neutron.ml2."
                f"openvswitch)")

    # -- the hook, as methods -------------------------------------------

    def pref_select(self, context: Any,
                    candidates: Sequence[ServedLike], *,
                    default: ServedLike | None = None,
                    where: str = "") -> Choice | None:
        return select(context.current, candidates, default=default,
                      driver=type(self).__name__, where=where)

    def pref_set_binding(self, context: Any, segment_id: str,
                         candidates: Sequence[ServedLike], *,
                         default: ServedLike | None = None,
                         where: str = "", status: Any = None,
                         ) -> Choice | None:
        return set_binding(context, segment_id, candidates, default=default,
                           driver=type(self).__name__, where=where,
                           status=status)

    # -- drivers without binding logic of their own ---------------------

    def default_binding(self, context: Any, segment: Mapping[str, Any],
                        ) -> Served | None:
        if self.pref_default is not None:
            return as_served(self.pref_default)
        vif_type = getattr(self, "vif_type", None)
        if vif_type:
            return Served(vif_type,
                                  dict(getattr(self, "vif_details", {})
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
        for segment in context.segments_to_bind:
            if not self.can_bind_segment(context, segment):
                continue
            default = self.default_binding(context, segment)
            served = self.served_bindings(context, segment)
            if default is None and not served:
                continue
            self.pref_set_binding(context, segment["id"], served,
                                  default=default,
                                  where=f"on segment {segment.get('id')}",
                                  status=self.pref_binding_status)
            return
