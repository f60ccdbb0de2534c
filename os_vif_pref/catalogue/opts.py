"""The ``[os_vif_pref]`` options of the catalogue: extra directories, the
largest file read, and which plugin plugs an entry.

Registered here, once, for the parser and the loader; listed for
oslo-config-generator through :mod:`os_vif_pref.conf`.
"""

from __future__ import annotations

from oslo_config import cfg

catalogue_opts = [
    cfg.ListOpt(
        "catalogue_dirs", default=[],
        help="Directories whose .yaml files are read as the last layer of "
             "the binding catalogue, after the bundled files and the files "
             "of the os_vif_pref.catalogues entry points. An entry there may "
             "add a binding, or change (override: true) or disable "
             "(enabled: false) an existing one."),
    cfg.IntOpt(
        "catalogue_max_file_bytes", default=1024 * 1024, min=1024,
        help="The largest catalogue file read, in bytes. A larger file is "
             "refused whole (one error naming this option) and the rest of "
             "the catalogue loads: no legitimate file comes near the "
             "default (the bundled catalogue is 18 KiB, 500 vendor entries "
             "350 KiB), and the bound keeps a broken or hostile file from "
             "costing nova-compute time and memory."),
    cfg.DictOpt(
        "plugin_choice", default={},
        help="Per catalogue entry, which os-vif plugin plugs it, as "
             "entry:plugin pairs (e.g. ovs:ovs to use upstream os-vif's "
             "plugin instead of pref_ovs). The plugin must be the entry's "
             "plugin or one of its alt_plugins."),
]

CONF = cfg.CONF
CONF.register_opts(catalogue_opts, group="os_vif_pref")


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    return [("os_vif_pref", catalogue_opts)]
