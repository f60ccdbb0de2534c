"""Test helpers shipped with the package.

They live in the package, not in ``tests/``, because the demo command and
vendors' own test suites use them too: a private userspace Open vSwitch, test
network namespaces and the plugin conformance kit.
"""
