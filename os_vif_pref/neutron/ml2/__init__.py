"""ML2 mechanism drivers that negotiate the binding with the host's offer.

:mod:`.hook` is the generic part any driver calls (no Neutron import);
:mod:`.openvswitch` (``pref_openvswitch``) and :mod:`.ovn` (``pref_ovn``)
are Neutron's own Open vSwitch and OVN drivers with the hook inside their
binding.  The driver modules import Neutron and are loaded only by ML2
through the ``neutron.ml2.mechanism_drivers`` entry points.
"""
