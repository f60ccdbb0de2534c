"""Setup hooks for running Neutron's own test modules against our drivers.

Called in the child process before the tests load (tests/peer_suite.py):
each replaces Neutron's stock driver class in its module by ours, so every
test that instantiates ``mech_openvswitch.OpenvswitchMechanismDriver`` /
``mech_driver.OVNMechanismDriver`` gets the negotiating subclass.
"""


def use_pref_openvswitch() -> None:
    from neutron.plugins.ml2.drivers.openvswitch.mech_driver import (
        mech_openvswitch)

    from os_vif_pref.neutron.ml2 import openvswitch

    mech_openvswitch.OpenvswitchMechanismDriver = (
        openvswitch.PrefOpenvswitchMechanismDriver)


def use_pref_ovn() -> None:
    from neutron.plugins.ml2.drivers.ovn.mech_driver import mech_driver

    from os_vif_pref.neutron.ml2 import ovn

    mech_driver.OVNMechanismDriver = ovn.PrefOVNMechanismDriver
