"""Start-up of the ``os-vif-pref`` command, this tree against a baseline.

Goals (issue 14): ``preferences`` <= 0.6 s and ``catalogue list`` <= 0.4 s
wall on the 2-core machine (they were ~1.25 s and ~0.8 s).  Like hyperfine:
each command is run as a real process, ``--runs`` times after ``--warmup``
runs, the two trees alternating so both see the same load; printed are the
minimum and median wall time, the median CPU time (user + system of the
child: steadier than wall on a shared machine) and the ratio new/old.

The baseline is a git revision checked out in a temporary worktree and put
first on ``PYTHONPATH`` (the installed entry points then load its modules);
default: the revision before the start-up work (``--baseline``), or
``--baseline none`` for this tree alone.  The machine is shared by several
jobs while this runs: treat absolute numbers as upper bounds and the ratio
as the result.

    python benchmarks/bench_cli_startup.py [--runs 15] [--baseline REV]
"""

from __future__ import annotations

import argparse
import contextlib
import os
from pathlib import Path
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

#: The main commit before the start-up work (tables/inputs had not touched
#: start-up either): the figures of the issue were measured on it.
BASELINE = "20ebc59"

COMMANDS = [("preferences",), ("catalogue", "list")]
GOALS = {"preferences": 0.6, "catalogue list": 0.4}

HERE = Path(__file__).resolve().parent.parent


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall s, CPU s) of one run of ``os-vif-pref ARGV``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, check=False)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: "
                         f"{proc.stderr.decode(errors='replace')[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (
        after.ru_stime - before.ru_stime)
    return wall, cpu


@contextlib.contextmanager
def worktree(rev: str):  # type: ignore[no-untyped-def]
    d = tempfile.mkdtemp(prefix="ovp-bench-")
    path = os.path.join(d, "tree")
    subprocess.run(["git", "-C", str(HERE), "worktree", "add", "-q",
                    "--detach", path, rev], check=True)
    try:
        yield path
    finally:
        subprocess.run(["git", "-C", str(HERE), "worktree", "remove",
                        "--force", path], check=False)
        shutil.rmtree(d, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--baseline", default=BASELINE,
                    help="git revision to compare with, or 'none'")
    args = ap.parse_args()
    exe = shutil.which("os-vif-pref")
    if exe is None:
        raise SystemExit("os-vif-pref is not installed (pip install -e .)")
    base_env = dict(os.environ, COLUMNS="120")
    base_env.pop("PYTHONPATH", None)
    trees: dict[str, dict[str, str]] = {"new": dict(base_env,
                                                    PYTHONPATH=str(HERE))}
    with contextlib.ExitStack() as stack:
        if args.baseline != "none":
            old = stack.enter_context(worktree(args.baseline))
            trees = {"old": dict(base_env, PYTHONPATH=old), **trees}
        print(f"os-vif-pref start-up, {args.runs} runs each after "
              f"{args.warmup} warm-up, alternating; load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        results: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for cmd in COMMANDS:
            argv = [exe, *cmd]
            for _ in range(args.warmup):
                for env in trees.values():
                    run_once(argv, env)
            for _ in range(args.runs):
                for name, env in trees.items():
                    results.setdefault((name, " ".join(cmd)), []).append(
                        run_once(argv, env))
        print(f"{'command':16} {'tree':4} {'min wall':>9} {'median':>8} "
              f"{'CPU med':>8} {'goal':>5}")
        for cmd in COMMANDS:
            name = " ".join(cmd)
            for tree in trees:
                walls = [w for w, _ in results[(tree, name)]]
                cpus = [c for _, c in results[(tree, name)]]
                print(f"{name:16} {tree:4} {min(walls):8.3f}s "
                      f"{statistics.median(walls):7.3f}s "
                      f"{statistics.median(cpus):7.3f}s "
                      f"{GOALS[name]:4.1f}s")
            if "old" in trees:
                old_w = statistics.median(w for w, _ in results[("old", name)])
                new_w = statistics.median(w for w, _ in results[("new", name)])
                old_c = statistics.median(c for _, c in results[("old", name)])
                new_c = statistics.median(c for _, c in results[("new", name)])
                print(f"{name:16} new/old wall {new_w / old_w:.2f}, "
                      f"CPU {new_c / old_c:.2f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
