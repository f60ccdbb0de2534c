"""The one oslo.privsep context of os-vif-pref.

Every privileged operation of the package (Linux devices through netlink)
runs in this daemon.  It keeps only CAP_NET_ADMIN: creating, configuring and
deleting links, TUNSETIFF/TUNSETOWNER/TUNSETPERSIST on ``/dev/net/tun`` (mode
0666, so no CAP_DAC_OVERRIDE) and bridge/VLAN/macvtap membership all need
nothing more.  OVSDB is reached through its unix socket without privilege.

Like every Nova-hosted privsep context it starts, by default, as
``sudo privsep-helper --config-file ... --privsep_context
os_vif_pref.privsep.vif_plug --privsep_sock_path ...``.  Deployments using
rootwrap set ``[os_vif_pref_privileged] helper_command`` (for instance
``sudo nova-rootwrap /etc/nova/rootwrap.conf privsep-helper``); in a
virtualenv, point it at the venv's ``privsep-helper`` because sudo's
``secure_path`` does not include it.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from oslo_config import cfg
from oslo_privsep import capabilities as caps
from oslo_privsep import daemon as priv_daemon
from oslo_privsep import priv_context

LOG = logging.getLogger(__name__)

CFG_SECTION = "os_vif_pref_privileged"
_LOST = "privsep daemon connection lost"


class _Channel(priv_daemon.RootwrapClientChannel):
    """oslo.privsep's client channel, surviving a daemon killed mid-read.

    oslo.privsep restarts its daemon when the channel reports ``running``
    false, which its reader thread sets on a clean EOF.  A daemon killed
    with unread data in its socket gives ECONNRESET instead: the reader
    thread dies with the error, ``running`` stays true, and every later call
    waits forever for a reply nobody reads.  Here any socket error ends the
    reader the way EOF does: calls in flight fail with a clear error and the
    next call starts a new daemon.
    """

    def _reader_main(self, reader: Any) -> None:
        try:
            super()._reader_main(reader)
        except OSError as exc:
            LOG.warning("Lost the privsep daemon (%s); the next privileged "
                        "call starts a new one", exc)
            # OSError() picks the subclass for the errno (ECONNRESET gives
            # ConnectionResetError); the message says what happened.
            err = OSError(exc.errno, f"{_LOST}: {exc.strerror or exc}")
            with self.lock:
                for mbox in self.outstanding_msgs.values():
                    mbox.set_exception(err)
                self.running = False


    def remote_call(self, name: str, args: Any, kwargs: Any,
                    timeout: float | None) -> Any:
        try:
            return super().remote_call(name, args, kwargs, timeout)
        except ConnectionError as exc:
            # Raised by our end of the socket (or by the reader above): the
            # daemon is gone; the next call starts a new one.
            with self.lock:
                self.running = False
            if _LOST in str(exc):
                raise
            raise OSError(exc.errno, f"{_LOST}: {exc.strerror or exc}"
                          ) from exc


class _PrivContext(priv_context.PrivContext):
    """A PrivContext whose daemon channel is :class:`_Channel`."""

    def start(self, method: priv_context.Method = (
            priv_context.Method.ROOTWRAP)) -> None:
        if method is not priv_context.Method.ROOTWRAP:
            return super().start(method)
        with self.start_lock:
            if self.channel is not None:
                LOG.warning("privsep daemon already running")
                return
            self.channel = _Channel(context=self)


vif_plug = _PrivContext(
    "os_vif_pref",
    cfg_section=CFG_SECTION,
    pypath=__name__ + ".vif_plug",
    capabilities=[caps.CAP_NET_ADMIN],
)


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    """oslo.privsep's own options, as registered for our section."""
    return [(CFG_SECTION, copy.deepcopy(priv_context.OPTS))]
