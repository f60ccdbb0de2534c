"""The faults a refused binding raises inside Nova.

They are Nova's :class:`nova.exception.PortBindingFailed` (so the compute
manager's usual handling applies unchanged: reschedule to the next host,
clean the allocated networks, record an instance fault) and this package's
:class:`~os_vif_pref.exceptions.OsVifPrefException` (so our callers can
catch the whole family).  Their text is the one a user reads in
``openstack server show`` and in the instance action event.

This module imports Nova: only :mod:`os_vif_pref.nova.integration` imports
it, and only once the integration is switched on inside nova-compute.
"""

from __future__ import annotations

from typing import Any

from nova import exception as nova_exception

from os_vif_pref import exceptions


class _NovaFault(nova_exception.PortBindingFailed,
                 exceptions.OsVifPrefException):
    """Both families; Nova's constructor fills the message."""

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        nova_exception.PortBindingFailed.__init__(self, message, **kwargs)
        # NovaException's super().__init__ reaches OsVifPrefException's,
        # which resets kwargs: keep Nova's (with 'code'), callers read them.
        self.kwargs = dict(kwargs, code=self.code)


class OfferRefused(_NovaFault):
    """Neutron's binding is not one this host offered: nothing is plugged."""

    msg_fmt = ("Neutron bound port %(port_id)s as %(returned)s, which this "
               "host did not offer; offered: %(offered)s")


class OfferNotServed(_NovaFault):
    """Neutron could bind none of the offered bindings (binding_failed)."""

    msg_fmt = ("Neutron could not bind port %(port_id)s with any binding "
               "host %(host)s offered (offered: %(offered)s); the Neutron "
               "server log gives each mechanism driver's reason")
