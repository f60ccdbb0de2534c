"""The Nova end of the data path: check what Neutron bound, convert it.

Submodules: :mod:`.dropin` (``nova_to_osvif_vif``: Nova's converter
contract, catalogue-driven, what runs inside Nova), :mod:`.convert`
(``to_os_vif``: the richer converter for callers outside Nova),
:mod:`.check` (``check_binding`` against the offer, ``migrate_check``),
:mod:`.ports` (Neutron port -> Nova VIF dict).  The names below are
re-exported so ``from os_vif_pref import nova`` keeps working for callers of
the earlier single module.
"""

from os_vif_pref.nova.convert import (  # noqa: F401
    BRIDGE_NAME,
    NOT_BOUND,
    PORT_FILTER,
    VHOSTUSER_FP_PLUG,
    VHOSTUSER_OVS_PLUG,
    BindingDetailsMismatch,
    BindingNotAcceptable,
    InvalidBindingValue,
    InvalidPort,
    MigrationVerdict,
    MissingBindingValue,
    NoCommonVersion,
    UnsupportedBinding,
    as_vif,
    binding_of,
    check_binding,
    find_entry,
    is_neutron_port,
    list_opts,
    migrate_check,
    negotiate_version,
    network_to_os_vif,
    nova_opts,
    to_os_vif,
    vif_from_neutron_port,
)
from os_vif_pref.nova.dropin import (  # noqa: F401
    nova_exceptions,
    nova_route,
    nova_to_osvif_instance,
    nova_to_osvif_ip,
    nova_to_osvif_ips,
    nova_to_osvif_network,
    nova_to_osvif_route,
    nova_to_osvif_routes,
    nova_to_osvif_subnet,
    nova_to_osvif_subnets,
    nova_to_osvif_vif,
)
