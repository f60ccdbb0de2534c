"""Processes of the cloud: started with their own log, stopped by their pid.

Every daemon the launcher starts is recorded in ``DIR/run/<name>.pid`` the
moment it is started, so ``down`` (in another process, after a crash of the
test that started it) finds and stops everything.  Each process leads its
own session: stopping it signals its whole process group, which catches the
children uwsgi, libvirtd and RabbitMQ start.  Every wait has a bound, and a
failed wait names the service and quotes the last lines of its log.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
import contextlib
import os
from pathlib import Path
import signal
import subprocess
import time


class CloudError(RuntimeError):
    """A service of the cloud did not come up or misbehaved."""


def tail(path: Path, lines: int = 15) -> str:
    """The last ``lines`` lines of a log, for an error message."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 16384))
            data = f.read().decode("utf-8", "replace")
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join("    " + line
                     for line in data.splitlines()[-lines:])


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie of ours counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


class Procs:
    """The processes of one cloud directory."""

    def __init__(self, root: Path) -> None:
        self.run_dir = root / "run"
        self.log_dir = root / "logs"
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._popen: dict[str, subprocess.Popen[bytes]] = {}

    def log(self, name: str) -> Path:
        """The log file of service ``name``."""
        return self.log_dir / f"{name}.log"

    def pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def pid(self, name: str) -> int | None:
        """The recorded pid of ``name``, if any."""
        try:
            return int(self.pid_file(name).read_text().strip())
        except (OSError, ValueError):
            return None

    def start(self, name: str, argv: Sequence[str], *,
              env: Mapping[str, str] | None = None,
              cwd: Path | None = None) -> int:
        """Start ``argv`` as service ``name`` in its own session.

        Output goes to the service's log file (appended: a restart keeps
        the earlier lines, which is what one reads after a failure).
        """
        old = self.pid(name)
        if old is not None and alive(old):
            raise CloudError(f"{name} is already running (pid {old})")
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        with open(self.log(name), "ab") as log:
            log.write(f"--- started {time.strftime('%H:%M:%S')}: "
                      f"{' '.join(argv)}\n".encode())
            log.flush()
            proc = subprocess.Popen(
                list(argv), stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, env=full_env,
                cwd=str(cwd) if cwd else None, start_new_session=True)
        self.pid_file(name).write_text(f"{proc.pid}\n")
        self._popen[name] = proc
        return proc.pid

    def running(self, name: str) -> bool:
        pid = self.pid(name)
        return pid is not None and alive(pid)

    def check_running(self, name: str) -> None:
        """Raise with the log's tail if ``name`` is no longer running."""
        if not self.running(name):
            proc = self._popen.get(name)
            code = proc.poll() if proc else None
            raise CloudError(
                f"{name} exited (status {code}); last lines of "
                f"{self.log(name)}:\n{tail(self.log(name))}")

    def wait(self, name: str, what: str, ready: Callable[[], bool], *,
             timeout: float, interval: float = 0.25,
             must_run: bool = True) -> float:
        """Wait until ``ready()``; return the seconds it took.

        Raises :class:`CloudError` naming ``name`` and ``what`` with the
        log's tail when the bound is reached or the process died.
        """
        start = time.monotonic()
        deadline = start + timeout
        last_exc: Exception | None = None
        while True:
            try:
                if ready():
                    return time.monotonic() - start
            except Exception as exc:  # noqa: BLE001 - reported on timeout
                last_exc = exc
            if must_run:
                self.check_running(name)
            if time.monotonic() > deadline:
                why = f" (last error: {last_exc})" if last_exc else ""
                raise CloudError(
                    f"{name}: {what} not reached within {timeout:.0f} s"
                    f"{why}; last lines of {self.log(name)}:\n"
                    f"{tail(self.log(name))}")
            time.sleep(interval)

    def stop(self, name: str, *, term_wait: float = 10.0,
             sig: int = signal.SIGTERM) -> None:
        """Stop ``name`` and its process group; SIGKILL after ``term_wait``.

        Idempotent: a service that is not running is only forgotten.
        """
        pid = self.pid(name)
        if pid is not None and alive(pid):
            _signal_group(pid, sig)
            deadline = time.monotonic() + term_wait
            while alive(pid) and time.monotonic() < deadline:
                self._reap(name)
                time.sleep(0.05)
            if alive(pid):
                _signal_group(pid, signal.SIGKILL)
                deadline = time.monotonic() + 5
                while alive(pid) and time.monotonic() < deadline:
                    self._reap(name)
                    time.sleep(0.05)
            # Children that left the group's leader behind (uwsgi workers).
            _signal_group(pid, signal.SIGKILL)
        self._reap(name)
        with contextlib.suppress(OSError):
            self.pid_file(name).unlink()

    def _reap(self, name: str) -> None:
        proc = self._popen.get(name)
        if proc is not None and proc.poll() is not None:
            self._popen.pop(name, None)

    def names(self) -> list[str]:
        """Every service with a pid file, newest first (stop order)."""
        files = sorted(self.run_dir.glob("*.pid"),
                       key=lambda p: p.stat().st_mtime, reverse=True)
        return [p.stem for p in files]

    def stop_all(self, kill_after: Mapping[str, float] | None = None) -> None:
        """Stop every recorded service, newest first."""
        kill_after = kill_after or {}
        for name in self.names():
            self.stop(name, term_wait=kill_after.get(name, 10.0))


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def run(argv: Sequence[str], *, env: Mapping[str, str] | None = None,
        timeout: float = 300, what: str | None = None,
        input_text: str | None = None) -> str:
    """Run a one-shot command (a db sync); raise with its output's tail."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    try:
        proc = subprocess.run(list(argv), env=full_env, capture_output=True,
                              text=True, timeout=timeout, input=input_text,
                              stdin=None if input_text else subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise CloudError(f"{what or argv[0]}: no end within {timeout:.0f} s"
                         ) from exc
    if proc.returncode != 0:
        out = (proc.stderr or "") + (proc.stdout or "")
        lines = "\n".join("    " + line for line in out.splitlines()[-20:])
        raise CloudError(f"{what or ' '.join(argv)} failed "
                         f"({proc.returncode}):\n{lines}")
    return proc.stdout
