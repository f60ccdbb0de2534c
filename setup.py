import setuptools

# The bundled catalogue lives at the top of the repository (catalogue/) so
# that operators and vendors find it, and is shipped inside the import
# package as ``os_vif_pref.catalogue_data`` so that importlib.resources reads
# it from any install (wheel, sdist, editable).
setuptools.setup(
    pbr=True,
    package_dir={"os_vif_pref.catalogue_data": "catalogue"},
    package_data={"os_vif_pref.catalogue_data": ["*.yaml", "*.json"]},
)
