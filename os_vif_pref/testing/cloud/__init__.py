"""A real OpenStack cloud on one machine, for tests, benchmarks and vendors.

``python -m os_vif_pref.testing.cloud up --dir DIR`` starts every service
(MariaDB, RabbitMQ, Keystone, Placement, Glance, Nova with the libvirt
driver under QEMU, Neutron with the Open vSwitch agent on a userspace
OVS-DPDK) as processes with their own configuration files in ``DIR``, on
127.0.0.1, and leaves them running; ``... down --dir DIR`` stops all of it.
See ``doc/source/reference/cloud.rst``.
"""
