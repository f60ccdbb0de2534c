"""The Neutron end of the data path: pick the binding to answer with.

Submodules: :mod:`.choose` (the pure chooser) and :mod:`.ml2` (the hook a
mechanism driver calls, and the ready ``pref_openvswitch`` / ``pref_ovn``
drivers).  The names below are re-exported so ``from os_vif_pref import
neutron`` keeps working for callers of the earlier single module.  This
package must stay importable inside neutron-server without the catalogue,
probes or plugins.
"""

from os_vif_pref.neutron.choose import (  # noqa: F401
    PROFILE,
    VNIC_TYPE,
    Choice,
    NoAcceptableBinding,
    Served,
    ServedLike,
    as_served,
    choose,
    parse_served,
    read_offer,
)
from os_vif_pref.neutron.ml2.hook import (  # noqa: F401
    Candidate,
    NegotiatingMechanismDriverMixin,
    select,
    set_binding,
)
