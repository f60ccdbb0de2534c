"""A private, userspace Open vSwitch: for ``os-vif-pref demo``, tests,
benchmarks and humans.

Starts an ``ovsdb-server`` and an ``ovs-vswitchd`` whose database, sockets,
pid files and logs all live in one temporary directory, so they never touch
(or depend on) the host's own Open vSwitch service.  There is no openvswitch
kernel module on the machines this runs on, so every bridge is created with
``datapath_type=netdev`` (the userspace datapath).

Run vswitchd inside a network namespace (start this from a process that is
already in one, or pass ``netns=``) so that the taps it opens and the
bridge's internal port never appear in the host's namespace.

For humans::

    python -m os_vif_pref.sandbox.ovs [--bridge br-int] [--netns NS]

prints the ``ovsdb_connection`` to use and keeps the daemons running until
interrupted (Ctrl-C stops them and removes the directory).
``python -m os_vif_pref.testing.private_ovs`` is the same command:
:mod:`os_vif_pref.testing.private_ovs` re-exports this module for tests and
vendors' suites (product code, the demo, imports it from here).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from types import TracebackType

#: Where distributions install the Open_vSwitch schema; the first one found
#: wins.  ``OVS_SCHEMA`` in the environment overrides them.
_SCHEMA_CANDIDATES = (
    "/usr/share/openvswitch/vswitch.ovsschema",
    "/usr/local/share/openvswitch/vswitch.ovsschema",
)

#: Binaries the harness needs; :func:`available` checks for them.
REQUIRED_BINARIES = ("ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl")


class PrivateOVSError(RuntimeError):
    """The private OVS could not be started or driven."""


def available() -> str | None:
    """Return ``None`` if a private OVS can run here, else the reason."""
    missing = [b for b in REQUIRED_BINARIES if not _which(b)]
    if missing:
        return "missing Open vSwitch binaries: " + ", ".join(missing)
    if _schema_path() is None:
        return "vswitch.ovsschema not found (set OVS_SCHEMA)"
    return None


def _which(binary: str) -> str | None:
    # /usr/sbin is often missing from a non-root PATH; the daemons live there.
    path = os.environ.get("PATH", "") + os.pathsep + "/usr/sbin:/sbin"
    return shutil.which(binary, path=path)


def _schema_path() -> str | None:
    env = os.environ.get("OVS_SCHEMA")
    if env:
        return env if os.path.exists(env) else None
    for candidate in _SCHEMA_CANDIDATES:
        if os.path.exists(candidate):
            return candidate
    return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); treat it as gone.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


class PrivateOVS:
    """One private ovsdb-server + ovs-vswitchd pair in a temporary directory.

    Usable as a context manager.  ``connection`` is the OVSDB connection
    string (``unix:<dir>/db.sock``) to give ovsdbapp, ovs-vsctl or os-vif.
    """

    def __init__(
        self,
        bridges: tuple[str, ...] = ("br-int",),
        netns: str | None = None,
        base_dir: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.bridges = bridges
        self.netns = netns
        self.timeout = timeout
        self._base_dir = base_dir
        self.dir: str | None = None

    # -- paths -----------------------------------------------------------
    def _path(self, name: str) -> str:
        if self.dir is None:
            raise PrivateOVSError("private OVS is not started")
        return os.path.join(self.dir, name)

    @property
    def db_sock(self) -> str:
        return self._path("db.sock")

    @property
    def connection(self) -> str:
        """OVSDB connection string for clients."""
        return "unix:" + self.db_sock

    @property
    def env(self) -> dict[str, str]:
        """Environment that keeps every OVS default path inside ``dir``."""
        env = dict(os.environ)
        for var in ("OVS_RUNDIR", "OVS_DBDIR", "OVS_LOGDIR", "OVS_PKGDATADIR"):
            env.pop(var, None)
        assert self.dir is not None
        env.update(OVS_RUNDIR=self.dir, OVS_DBDIR=self.dir,
                   OVS_LOGDIR=self.dir, OVS_SYSCONFDIR=self.dir)
        return env

    # -- process control -------------------------------------------------
    def _run(self, *argv: str, netns: bool = False) -> str:
        cmd = list(argv)
        cmd[0] = _which(cmd[0]) or cmd[0]
        if netns and self.netns:
            cmd = ["ip", "netns", "exec", self.netns, *cmd]
        proc = subprocess.run(cmd, env=self.env, capture_output=True,
                              text=True, timeout=self.timeout + 5)
        if proc.returncode != 0:
            detail = proc.stderr.strip() or proc.stdout.strip()
            raise PrivateOVSError(
                f"{' '.join(cmd)} failed ({proc.returncode}): {detail}")
        return proc.stdout

    def vsctl(self, *args: str, wait: bool = True) -> str:
        """Run ``ovs-vsctl`` against the private database; return stdout."""
        opts = ["--db=" + self.connection, f"--timeout={int(self.timeout)}"]
        if not wait:
            opts.append("--no-wait")
        return self._run("ovs-vsctl", *opts, *args)

    def _pid(self, daemon: str) -> int | None:
        try:
            with open(self._path(daemon + ".pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def _start_ovsdb_server(self) -> None:
        self._run(
            "ovsdb-server", self._path("conf.db"),
            "--remote=punix:" + self.db_sock,
            "--pidfile=" + self._path("ovsdb-server.pid"),
            "--unixctl=" + self._path("ovsdb-server.ctl"),
            "--log-file=" + self._path("ovsdb-server.log"),
            "--detach", "--no-chdir")

    def _start_vswitchd(self) -> None:
        self._run(
            "ovs-vswitchd", self.connection,
            "--pidfile=" + self._path("ovs-vswitchd.pid"),
            "--unixctl=" + self._path("ovs-vswitchd.ctl"),
            "--log-file=" + self._path("ovs-vswitchd.log"),
            "--detach", "--no-chdir", netns=True)

    def _stop_daemon(self, daemon: str) -> None:
        pid = self._pid(daemon)
        if pid is None or not _pid_alive(pid):
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while _pid_alive(pid):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                deadline = time.monotonic() + 5
            time.sleep(0.01)
        with contextlib.suppress(OSError):
            os.unlink(self._path(daemon + ".pid"))

    def start(self) -> PrivateOVS:
        """Create the database, start both daemons, add the bridges."""
        reason = available()
        if reason:
            raise PrivateOVSError(reason)
        # Unix socket paths are limited to 107 bytes: keep the dir short.
        self.dir = tempfile.mkdtemp(prefix="povs-", dir=self._base_dir)
        try:
            self._run("ovsdb-tool", "create", self._path("conf.db"),
                      str(_schema_path()))
            self._start_ovsdb_server()
            self.vsctl("init", wait=False)
            self._start_vswitchd()
            for bridge in self.bridges:
                self.add_bridge(bridge)
        except BaseException:
            self.stop()
            raise
        return self

    def add_bridge(self, bridge: str) -> None:
        """Add a userspace (netdev) bridge, waiting for vswitchd."""
        self.vsctl("--may-exist", "add-br", bridge, "--", "set", "Bridge",
                   bridge, "datapath_type=netdev")

    def restart_ovsdb_server(self, down_for: float = 0.0) -> None:
        """Stop ovsdb-server and start it again on the same socket.

        Clients see their connection drop; this is how tests prove that
        they reconnect.  ``down_for`` keeps the server down that long.
        """
        self._stop_daemon("ovsdb-server")
        with contextlib.suppress(OSError):
            os.unlink(self.db_sock)
        if down_for:
            time.sleep(down_for)
        self._start_ovsdb_server()

    def stop(self) -> None:
        """Stop both daemons and remove the directory (idempotent)."""
        if self.dir is None:
            return
        try:
            self._stop_daemon("ovs-vswitchd")
            self._stop_daemon("ovsdb-server")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self) -> PrivateOVS:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None,
         prog: str = "python -m os_vif_pref.sandbox.ovs") -> int:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run a private userspace Open vSwitch until Ctrl-C.")
    parser.add_argument("--bridge", action="append", dest="bridges",
                        help="bridge to create (netdev); repeatable; "
                        "default br-int")
    parser.add_argument("--netns", help="run ovs-vswitchd in this existing "
                        "network namespace")
    args = parser.parse_args(argv)
    ovs = PrivateOVS(bridges=tuple(args.bridges or ("br-int",)),
                     netns=args.netns)
    with ovs:
        print(f"directory:        {ovs.dir}")
        print(f"ovsdb_connection: {ovs.connection}")
        print(f"try: ovs-vsctl --db={ovs.connection} show")
        print("Ctrl-C to stop.", flush=True)
        # Block only now: the daemons must not inherit a blocked SIGTERM.
        stop = {signal.SIGINT, signal.SIGTERM}
        signal.pthread_sigmask(signal.SIG_BLOCK, stop)
        signal.sigwait(stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
