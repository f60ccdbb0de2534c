"""The private OVS harness itself: starts, survives a server restart,
and leaves nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from os_vif_pref.sandbox import ovs
from os_vif_pref.testing import private_ovs

pytestmark = pytest.mark.functional


def _alive(pid: int) -> bool:
    return ovs._pid_alive(pid)


def test_start_restart_stop_leaves_nothing(test_netns):
    server = private_ovs.PrivateOVS(bridges=("br-a", "br-b"))
    with server:
        directory = server.dir
        pids = [server._pid("ovsdb-server"), server._pid("ovs-vswitchd")]
        assert all(pid and _alive(pid) for pid in pids)
        assert server.vsctl("list-br").split() == ["br-a", "br-b"]
        assert server.vsctl("get", "Bridge", "br-a",
                            "datapath_type").strip() == "netdev"
        # Sockets stay in the private directory.
        assert server.connection == "unix:" + os.path.join(directory,
                                                           "db.sock")
        server.vsctl("add-br", "br-c", "--", "set", "Bridge", "br-c",
                     "datapath_type=netdev")
        server.restart_ovsdb_server()
        new_pid = server._pid("ovsdb-server")
        assert new_pid != pids[0] and not _alive(pids[0])
        # Same database file: configuration survives the restart.
        assert "br-c" in server.vsctl("list-br").split()
    assert server.dir is None
    assert not os.path.exists(directory)
    assert not any(_alive(p) for p in pids + [new_pid])
    server.stop()                       # idempotent


@pytest.mark.parametrize("module", ["os_vif_pref.testing.private_ovs",
                                    "os_vif_pref.sandbox.ovs"])
def test_command_line_for_humans(test_netns, module):
    proc = subprocess.Popen(
        [sys.executable, "-m", module, "--bridge", "br-h"],
        stdout=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Ctrl-C"):
                break
        conn = next(ln.split()[-1] for ln in lines
                    if ln.startswith("ovsdb_connection:"))
        directory = next(ln.split()[-1] for ln in lines
                         if ln.startswith("directory:"))
        out = subprocess.run(["ovs-vsctl", "--db=" + conn, "list-br"],
                             capture_output=True, text=True, check=True)
        assert out.stdout.split() == ["br-h"]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert proc.returncode == 0
    assert not os.path.exists(directory)
