"""The sandbox ``os-vif-pref demo`` runs in: product code, one job a module.

A private userspace Open vSwitch (:mod:`.ovs`), throw-away network
namespaces (:mod:`.netns`), privsep pointed at this interpreter's helper
(:mod:`.privsep_conf`), both together with ``pref_ovs`` configured
(:mod:`.environment`), the kernel-link snapshot that proves nothing was
left behind (:mod:`.links`) and the ML2-shaped port context of the path
without Neutron (:mod:`.ml2_context`).

Product code never imports :mod:`os_vif_pref.testing`; that package
re-exports these under its own names for our tests and vendors' suites.
Nothing here is imported by the services (Nova, Neutron) themselves.
"""
