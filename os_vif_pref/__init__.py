"""os-vif-pref: negotiated VIF binding for Nova and Neutron."""
