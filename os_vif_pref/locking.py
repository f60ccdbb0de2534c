"""Per-port locks shared by every process on the host.

Two callers can plug or unplug the same port at once: nova-compute's own
green threads (a resize racing a delete), a nova-compute restart overlapping
the old process's last calls, or an operator's tool next to Nova.  Each of
our primitives is idempotent on its own, but a plug is several of them (a
tap, then its bridge membership, then an OVSDB port) and another caller's
unplug can land in between, or two OVSDB clients can insert the same port
name in one instant and one of them fails on the index.  So every plug and
unplug of a port holds this lock, keyed by the port's device name.

Why ``flock`` on a file, not ``oslo_concurrency.lockutils``: lockutils
needs ``[oslo_concurrency] lock_path`` set for external locks (we use it
when it is), and its in-process semaphores are per name forever; a lock
file per device is what it would do anyway.  The wait polls with a short
non-blocking ``flock`` and ``time.sleep`` so that it yields under eventlet,
where a blocking ``flock`` would stop every green thread of nova-compute.

Lock file names are a hash of the key, so a hostile device name cannot
escape the lock directory; files are never removed (removing a lock file
another process has open is how flock locks get lost).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
import contextlib
import errno
import fcntl
import hashlib
import os
import re
import stat
import tempfile
import time
from typing import Any

from oslo_config import cfg

from os_vif_pref import exceptions

CONF = cfg.CONF
GROUP = "os_vif_pref"

lock_opts = [
    cfg.StrOpt(
        "lock_path", default=None,
        help="Directory of the per-port lock files that serialise plug and "
             "unplug of one port across processes. Unset: [oslo_concurrency]"
             " lock_path when Nova sets it, else a private directory under "
             "the system temporary directory."),
    cfg.FloatOpt(
        "lock_timeout", default=120.0, min=0.1,
        help="Seconds a plug or unplug waits for another caller holding the "
             "same port before failing with a clear error."),
]
CONF.register_opts(lock_opts, group=GROUP)

#: First and last poll interval while waiting (seconds).
_POLL_MIN = 0.001
_POLL_MAX = 0.05
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    return [(GROUP, lock_opts)]


class LockFailed(exceptions.OsVifPrefException):
    msg_fmt = "Cannot lock port %(key)s (%(path)s): %(reason)s"


def lock_dir() -> str:
    """The directory lock files go in, created (mode 0700) if missing."""
    path = CONF[GROUP].lock_path
    if not path:
        with contextlib.suppress(cfg.NoSuchOptError, cfg.NoSuchGroupError):
            path = CONF.oslo_concurrency.lock_path
    if not path:
        path = os.path.join(tempfile.gettempdir(),
                            f"os-vif-pref-locks-{os.getuid()}")
        private = True
    else:
        private = False
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
    except OSError as e:
        raise LockFailed(key="*", path=path, reason=e.strerror) from e
    if private:
        # A shared temporary directory: refuse one someone else planted.
        st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() \
                or st.st_mode & 0o022:
            raise LockFailed(key="*", path=path, reason=(
                "not a directory owned by us and writable only by us"))
    return path


def lock_file(key: str, directory: str | None = None) -> str:
    """The lock file of ``key``: readable prefix plus a hash of the key."""
    raw = key.encode("utf-8", errors="surrogateescape")
    digest = hashlib.sha256(raw).hexdigest()[:24]
    readable = _SAFE.sub("_", key)[:32]
    return os.path.join(directory or lock_dir(),
                        f"port-{readable}-{digest}.lock")


def _acquire(key: str, path: str, deadline: float) -> int:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC
                     | os.O_NOFOLLOW, 0o600)
    except OSError as e:
        raise LockFailed(key=key, path=path,
                         reason=f"{e.strerror} (errno {e.errno})") from e
    delay = _POLL_MIN
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN,
                               errno.EINTR):
                os.close(fd)
                raise LockFailed(key=key, path=path,
                                 reason=f"{e.strerror} (errno {e.errno})"
                                 ) from e
        if time.monotonic() >= deadline:
            os.close(fd)
            raise LockFailed(key=key, path=path, reason=(
                f"held by another caller for more than "
                f"[{GROUP}] lock_timeout = {CONF[GROUP].lock_timeout} s"))
        time.sleep(delay)
        delay = min(delay * 2, _POLL_MAX)


@contextlib.contextmanager
def port_lock(keys: Iterable[str],
              timeout: float | None = None) -> Iterator[None]:
    """Hold the locks of ``keys`` (taken in sorted order: no deadlock
    between two callers locking overlapping sets)."""
    ordered = sorted(set(keys))
    if timeout is None:
        timeout = float(CONF[GROUP].lock_timeout)
    deadline = time.monotonic() + timeout
    directory = lock_dir() if ordered else ""
    fds: list[int] = []
    try:
        for key in ordered:
            fds.append(_acquire(key, lock_file(key, directory), deadline))
        yield
    finally:
        for fd in reversed(fds):
            os.close(fd)   # closing the last descriptor releases the flock


def vif_key(vif: Any) -> str:
    """A VIF's lock key: its device name, or its port id without one."""
    if "vif_name" in vif.fields and vif.obj_attr_is_set("vif_name") \
            and vif.vif_name:
        return str(vif.vif_name)
    return str(vif.id) if vif.obj_attr_is_set("id") else "no-id"


def vif_lock(*vifs: Any, timeout: float | None = None
             ) -> contextlib.AbstractContextManager[None]:
    """The lock of the given VIFs' ports (see :func:`port_lock`)."""
    return port_lock([vif_key(v) for v in vifs], timeout)
