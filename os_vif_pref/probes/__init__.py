"""Host capabilities the catalogue's ``requires`` name, probed cheaply.

Every catalogue entry lists what the host must have (``ovsdb``,
``kernel_link:veth``, ``ovs_iface:dpdkvhostuserclient``...).  This module
answers those questions without root where it can and without ever raising:
a probe that fails, errors or times out yields a :class:`ProbeResult` with
``ok=False`` and the reason, so one broken probe marks the entries that need
it unusable and leaves the rest of the preference list alone.

Probes come in *families* that answer several capabilities at once (one
OVSDB round trip gives the bridges, datapath types and interface types; one
read of the kernel config gives every link kind).  Families are cached for
``[os_vif_pref] probe_cache_ttl`` seconds, keyed by the configuration they
read, so the preference list can be recomputed often.

Capabilities:

``kernel_link:KIND`` (bridge, tun, veth, macvtap)
    the kernel can create that link kind: ``/sys/module``, then the kernel
    config (``/proc/config.gz`` or ``/boot/config-RELEASE``) and
    ``modules.dep``; tun also needs the ``/dev/net/tun`` character device.
    With none of those readable, a throw-away network namespace is tried.
``ovsdb``
    ovsdb-server answers at the probe connection (one JSON-RPC transact,
    cut off by ``probe_timeout``).
``ovs_bridge``
    the bridge ``[os_vif_pref] probe_ovs_bridge`` exists.
``ovs_datapath:TYPE`` / ``ovs_iface:TYPE``
    in ``Open_vSwitch.datapath_types`` / ``iface_types`` (filled by
    ovs-vswitchd, so they also say vswitchd is running).
``vhostuser_socket_dir``
    ``[os_vif_pref_ovs] vhostuser_socket_dir`` is a writable directory.
``sriov``
    some network device has SR-IOV virtual functions.
``plugin:NAME``
    the os-vif plugin ``NAME`` (entry-point group ``os_vif``) is installed
    and loads; ``value`` is its ``describe()`` (checked by preference.py).
``virt_vif:CLASS``
    the host's virt driver can configure the guest side of os-vif object
    ``CLASS``.  For libvirt, the classes ``LibvirtGenericVIFDriver.
    _get_config_os_vif`` handles, read from the installed Nova's source
    (without importing it), else :data:`KNOWN_LIBVIRT_VIFS`; anything else
    ends in Nova's ``InternalError: Unsupported VIF type``.  Every catalogue
    entry requires this for its object (an implicit ``requires``, see
    :func:`os_vif_pref.catalogue.implicit_requires`), so a binding the
    hypervisor cannot consume is never offered.

One module per job: :mod:`.result` (:class:`ProbeResult`), :mod:`.opts`
(the options), one module per family (:mod:`.kernel`, :mod:`.ovsdb`,
:mod:`.devices`, :mod:`.plugins`, :mod:`.virt`) and :mod:`.prober` (the
cached :class:`Prober`).  Every public name is re-exported here
(``probes.Prober``, ``probes.probe_ovs``, ...); to patch one in a test,
patch it in the module that looks it up (``probes.kernel.TUN_DEVICE``,
``probes.prober.probe_ovs``): the names here are references, not the
variables the code reads.
"""

from os_vif_pref.probes.devices import (  # noqa: F401
    SYS_NET,
    probe_socket_dir,
    probe_sriov,
)
from os_vif_pref.probes.kernel import (  # noqa: F401
    LINK_KINDS,
    MODULES_DIR,
    PROC_CONFIG,
    SYS_MODULE,
    TUN_DEVICE,
    probe_kernel_links,
    probe_links_in_netns,
)
from os_vif_pref.probes.opts import CONF, list_opts, probe_opts  # noqa: F401
from os_vif_pref.probes.ovsdb import ovsdb_query, probe_ovs  # noqa: F401
from os_vif_pref.probes.plugins import (  # noqa: F401
    PluginDescription,
    ProfileDescription,
    VIFDescription,
    description_cache,
    probe_plugin,
)
from os_vif_pref.probes.prober import (  # noqa: F401
    Prober,
    default_prober,
    family,
    known,
)
from os_vif_pref.probes.result import ProbeResult  # noqa: F401
from os_vif_pref.probes.virt import (  # noqa: F401
    KNOWN_LIBVIRT_VIFS,
    libvirt_vif_classes,
    probe_virt_vifs,
    virt_driver,
)
