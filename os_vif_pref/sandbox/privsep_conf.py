"""Point privsep contexts at ``sudo <sys.prefix>/bin/privsep-helper``.

oslo.privsep starts its daemon as ``sudo privsep-helper ...``; sudo's
``secure_path`` does not include a virtualenv's ``bin``, so tests, the
benchmarks and ``os-vif-pref demo`` set ``helper_command`` explicitly to the
helper of the running interpreter.  The daemon is still started through
sudo, exactly like on a Nova host - nothing is faked or forked in-process.

Both our context (``[os_vif_pref_privileged]``) and upstream os-vif's OVS
context (``[vif_plug_ovs_privileged]``) are configured, because the OVS
plugin may call into upstream helpers.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time

from oslo_config import cfg
from oslo_privsep import priv_context

#: cfg sections of the contexts we configure, with the module declaring
#: each (importing it registers the section's options).
CONTEXTS = {
    "os_vif_pref_privileged": "os_vif_pref.privsep",
    "vif_plug_ovs_privileged": "vif_plug_ovs.privsep",
}


def helper_command(sudo: str = "sudo") -> str:
    """``sudo <this interpreter's prefix>/bin/privsep-helper``."""
    return f"{sudo} {os.path.join(sys.prefix, 'bin', 'privsep-helper')}"


class SudoMissing(RuntimeError):
    """The daemon is started through sudo, as on a Nova host; no fallback."""


def configure(conf: cfg.ConfigOpts = cfg.CONF,
              sudo: str = "sudo") -> str:
    """Set ``helper_command`` in every known context section; return it.

    Raises :class:`SudoMissing` when sudo is not installed, rather than
    letting the first privileged call fail obscurely (or faking the daemon).
    """
    import importlib
    import shutil

    if shutil.which(sudo) is None:
        raise SudoMissing(
            f"{sudo!r} not found: oslo.privsep starts its daemon through "
            "sudo; install it (apt-get install sudo, as .ci/run does)")
    command = helper_command(sudo)
    for section, module in CONTEXTS.items():
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
        if section in conf:
            conf.set_override("helper_command", command, group=section)
    return command


def _contexts() -> list[priv_context.PrivContext]:
    found = []
    for module_name in CONTEXTS.values():
        module = sys.modules.get(module_name)
        if module is None:
            continue
        for value in vars(module).values():
            if isinstance(value, priv_context.PrivContext):
                found.append(value)
    return found


def _daemon_pids(sock_path: str) -> list[int]:
    """Processes whose command line names this channel's socket path.

    privsep-helper forks the daemon after connecting, so the daemon keeps
    the helper's command line, which carries the (unique) socket path.
    """
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().split(b"\0")
        except OSError:
            continue
        if sock_path.encode() in cmdline and any(
                arg.endswith(b"privsep-helper") for arg in cmdline):
            pids.append(int(entry))
    return pids


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def stop_daemons(timeout: float = 5.0) -> list[int]:
    """Stop every running daemon of the configured contexts, for sure.

    Closing the channel makes a daemon exit; one that does not within
    ``timeout`` is terminated.  Returns the pids that were stopped.
    """
    stopped = []
    for ctx in _contexts():
        channel = ctx.channel
        if channel is None:
            continue
        pids: list[int] = []
        with contextlib.suppress(Exception):
            sock = channel.writer.writesock
            pids = _daemon_pids(sock.getsockname())
        ctx.stop()
        deadline = time.monotonic() + timeout
        for pid in pids:
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.02)
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
            stopped.append(pid)
    return stopped
