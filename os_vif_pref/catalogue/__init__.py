"""The binding catalogue: load, layer and validate the YAML files.

The catalogue is the one place that says which Neutron bindings this host
may accept and how each becomes an os-vif object.  Everything downstream
(plugins' ``describe()``, the preference list, the offer, the Nova-side
conversion) reads :class:`Entry` objects from here, so the checks are strict
and every error names file, line, column and field.

Layers, later ones win only where they say so explicitly:

1. the bundled files (``catalogue/`` in the repository, shipped in the wheel
   as ``os_vif_pref/catalogue_data`` and read with importlib.resources);
2. files contributed by other installed packages through the entry-point
   group ``os_vif_pref.catalogues``;
3. ``*.yaml`` files in the directories of ``[os_vif_pref] catalogue_dirs``.

A later layer may add entries; it may change an existing entry only with
``override: true`` (merged field by field) and disable one only with
``enabled: false``.  Any other name collision is an error naming both files.
A file with errors is left out as a whole (never half-loaded), and the error
says which file to fix, so a broken vendor file cannot silently take the
bundled entries down with it.

What one file may cost is bounded (size, YAML anchors and aliases, nesting,
nodes, scalar length; see ``MAX_DEPTH`` and the others below), checked
while it is parsed: the files are read inside nova-compute, and a few
hundred bytes of YAML aliases would otherwise expand to gigabytes.

One module per job: :mod:`.model` (:class:`Entry`, :class:`Catalogue`),
:mod:`.parse` (YAML with positions and the bounds), :mod:`.schema_check`
(the JSON Schema), :mod:`.objects` (the os-vif object model and its
cache), :mod:`.checks` (the semantic checks), :mod:`.layers` (the files of
each layer, loading and :func:`get_catalogue`) and :mod:`.opts`.  Every
public name is re-exported here (``catalogue.load``, ``catalogue.Entry``,
``catalogue.get_catalogue``, ...); to patch a module-level variable in a
test, patch it in the module that owns it (``catalogue.objects._model``,
``catalogue.layers._ep_files``).
"""

from __future__ import annotations

# VersionRange, version_tuple and details_match are defined beside the wire
# format, which neutron-server reads without this package (the dependency
# runs one way); catalogue's names stay for existing callers.
from os_vif_pref.catalogue.layers import (  # noqa: F401
    ENTRY_POINT_GROUP,
    bundled_files,
    default_layers,
    dir_files,
    entry_point_files,
    get_catalogue,
    implicit_requires,
    load,
    reset_cache,
    validate_files,
)
from os_vif_pref.catalogue.model import (  # noqa: F401
    COMMON_VIF_FIELDS,
    FORMAT,
    VNIC_TYPES,
    Catalogue,
    Entry,
    ProfileSpec,
)
from os_vif_pref.catalogue.objects import (  # noqa: F401
    ObjectModel,
    cache_path,
    os_vif_classes,
    os_vif_model,
    read_cache,
    write_cache,
)
from os_vif_pref.catalogue.opts import (  # noqa: F401
    CONF,
    catalogue_opts,
    list_opts,
)
from os_vif_pref.catalogue.parse import (  # noqa: F401
    MAX_DEPTH,
    MAX_ERRORS_PER_FILE,
    MAX_INT_BITS,
    MAX_NODES,
    MAX_SCALAR_CHARS,
    Errors,
    Source,
    field_name,
    yaml_over_bounds,
)
from os_vif_pref.catalogue.schema_check import schema  # noqa: F401
from os_vif_pref.offer import details_match  # noqa: F401
from os_vif_pref.versions import VersionRange, version_tuple  # noqa: F401
