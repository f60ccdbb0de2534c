"""Test helpers shipped with the package.

They live in the package, not in ``tests/``, because vendors' own test
suites use them too: a private userspace Open vSwitch, test network
namespaces and the plugin conformance kit.  What ``os-vif-pref demo`` needs
of them is product code in :mod:`os_vif_pref.sandbox`, re-exported here:
product code never imports this package
(``tests/unit/test_no_testing_imports.py`` checks).
"""
