"""Nova's real libvirt VIF driver renders every object we offer under it.

A unittest module (Nova's test base does not run under pytest), run by
``tests/compat/test_nova_peer_os_vif_util.py`` through the shared peer
runner with :func:`tests.compat.nova_hook.install` as setup, so
``nova.network.os_vif_util.nova_to_osvif_vif`` - what the driver calls -
is our drop-in.

For every bundled catalogue entry and each of its vnic_types a realistic
Nova VIF is built; when the probes say the libvirt driver configures the
entry's object (``virt_vif:CLASS``, so the entry can be offered),
``LibvirtGenericVIFDriver.get_config(...).to_xml()`` must render the guest
interface without error.  When they say it does not (macvtap's
VIFDirect), Nova's driver must indeed refuse that object: the capability
is checked against the real driver both ways.
"""

from __future__ import annotations

from unittest import mock

from lxml import etree
from nova import exception, objects, test
from nova.network import os_vif_util
from nova.tests import fixtures as nova_fixtures
from nova.virt.libvirt import vif as libvirt_vif
import os_vif

from os_vif_pref import catalogue, nova, probes
from os_vif_pref.testing.nova_ports import realistic_vif


def bundled() -> catalogue.Catalogue:
    cat = catalogue.load([catalogue.bundled_files()], plugin_choice={})
    assert not cat.errors, cat.errors
    return cat


class LibvirtRendersOfferedObjects(test.NoDBTestCase):

    def setUp(self) -> None:
        super().setUp()
        self.useFixture(nova_fixtures.LibvirtFixture(stub_os_vif=False))
        os_vif.initialize()
        self.driver = libvirt_vif.LibvirtGenericVIFDriver()
        # vDPA needs the device path of a real host: the only host call.
        self.useFixture(test.fixtures.MockPatchObject(
            self.driver, "_get_vdpa_dev_path",
            return_value="/dev/vhost-vdpa-0"))
        self.instance = objects.Instance(
            id=1, uuid="f0000000-0000-0000-0000-000000000001",
            project_id=723)
        self.image_meta = objects.ImageMeta.from_dict({})
        self.flavor = objects.Flavor(
            name="m1.small", memory_mb=128, vcpus=1, root_gb=0,
            ephemeral_gb=0, swap=0, extra_specs={}, flavorid=1,
            is_public=True, vcpu_weight=None, id=2, disabled=False,
            rxtx_factor=1.0)

    def test_the_driver_calls_our_dropin(self) -> None:
        self.assertEqual(os_vif_util.nova_to_osvif_vif.__module__,
                         nova.dropin.__name__)

    def test_every_offered_entry_renders(self) -> None:
        cat = bundled()
        rendered, refused = [], []
        for entry in cat.entries + cat.disabled:
            cap = f"virt_vif:{entry.vif_object}"
            offered = probes.probe_virt_vifs("libvirt", [cap])[cap].ok
            for vnic in entry.vnic_types:
                vif = realistic_vif(entry, vnic)
                if offered:
                    with self.subTest(entry=entry.name, vnic=vnic):
                        xml = self.driver.get_config(
                            self.instance, vif, self.image_meta,
                            self.flavor, "kvm").to_xml()
                        node = etree.fromstring(xml)
                        self.assertEqual(node.tag, "interface")
                        self.assertEqual(node.find("mac").get("address"),
                                         vif["address"])
                        rendered.append((entry.name, vnic))
                else:
                    # Ours builds it (outside Nova); Nova's driver refuses.
                    obj = nova.to_os_vif(dict(vif), catalogue=cat)
                    with mock.patch.object(os_vif_util, "nova_to_osvif_vif",
                                           return_value=obj):
                        self.assertRaises(
                            exception.InternalError, self.driver.get_config,
                            self.instance, vif, self.image_meta,
                            self.flavor, "kvm")
                    refused.append(entry.name)
        # Every entry is one or the other; the run is not vacuous.
        self.assertGreaterEqual(len(rendered), 20)
        self.assertEqual(sorted(set(refused)), ["macvtap"])
