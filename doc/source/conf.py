"""Sphinx configuration of the os-vif-pref documentation.

The configuration reference (``oslo_config.sphinxext``), the CLI reference
(``cliff.sphinxext``), the catalogue schema (included from
``os_vif_pref/schema/catalogue-v1.json``) and the wire format (the module
docstring of ``os_vif_pref/offer/``) are generated from the code, so they
cannot drift from it.
"""

import warnings

# eventlet (imported by oslo.privsep when the option modules load) warns
# that it is deprecated; nothing for a documentation build to act on.
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

project = "os-vif-pref"
copyright = "os-vif-pref developers"
author = "os-vif-pref developers"

extensions = [
    "sphinx.ext.autodoc",
    "oslo_config.sphinxext",
    "cliff.sphinxext",
]

# The application name the CLI reference prints before each command.
autoprogram_cliff_application = "os-vif-pref"

# autodoc: the module docstrings only; signatures come from the code.
autodoc_default_options = {"members": False}

master_doc = "index"
exclude_patterns = ["_build"]
pygments_style = "sphinx"
html_theme = "alabaster"
html_theme_options = {"description": "Negotiated VIF binding for Nova and "
                                     "Neutron"}
html_static_path: list[str] = []
