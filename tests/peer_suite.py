"""Run a peer's own unittest suites (Nova's, Neutron's) against our code.

Nova and Neutron ship their tests in their wheels; running their modules
with our code patched in proves compatibility better than any test of ours.
Their test bases are written for unittest/stestr, not pytest (pytest's
teardown clashes with Nova's base), and they patch the process for good
(eventlet, oslo.config, os_vif.initialize), so they run in child processes
(``tests/peer_child.py``), and a pytest test only compares what happened
with a list file.

API (what a pytest test calls)::

    from tests import peer_suite

    def test_nova_vif_driver_with_integration():
        outcomes = peer_suite.run(
            "nova_libvirt_vif",                       # names the list file
            ["nova.tests.unit.virt.libvirt.test_vif"],  # modules or test ids
            setup="tests.nova_unit.hooks:integration_on",  # optional
            shards=2, timeout=600)
        peer_suite.check(outcomes, min_ran=80)

``run(name, targets, *, setup=None, shards=2, timeout=600, ...)``
    Starts ``shards`` children; each imports ``preimport`` modules (added
    automatically: ``nova.tests.functional`` for Nova functional targets,
    which must come before any other Nova import), calls the ``setup``
    hook(s) (``"module:function"`` or a list of them, called with no
    arguments before the tests are loaded; a hook may return a callable,
    called after the tests, whose JSON-able result lands in
    ``Outcomes.reports`` / ``report_values(hook)``: let it count what it
    patched, so the test can assert the patch took effect), loads
    ``targets`` with unittest's loader, takes its deterministic part
    (sorted ids, round robin) and runs it. ``timeout`` is the wall clock
    limit per child in seconds: a child still running then is killed and
    the test it was in is reported.
    Children get ``OS_TEST_TIMEOUT`` (``test_timeout``, default 120 s: the
    per-test timeout of oslotest's base, so one hang cannot eat the child's
    whole budget) and oslotest's stdout/stderr/log capture; their own
    stdout/stderr go to a log file per shard (``workdir``, default a new
    temporary directory) whose tail is shown when something is wrong.
    ``env`` adds to the children's environment; ``pythonpath`` entries go
    first on their PYTHONPATH (before the repository root and
    site-packages: e.g. a patched copy of Nova).
    Tests listed ``exclude`` in the list file are loaded (they must still
    exist) but not run. Returns an :class:`Outcomes`.

``check(outcomes, list_file=None, *, min_ran)``
    Compares with ``tests/peer_lists/<name>.txt`` (or the given path) and
    raises ``AssertionError`` with a readable report if: a listed test now
    has another outcome (passes: remove it; or fails differently), a test
    not listed fails, errors, skips or unexpectedly succeeds, a listed id
    (or pattern) no longer matches a loaded test, the run had a problem (a
    child timed out, crashed, or its setup hook raised), a class or module
    fixture failed after its tests, **a loaded test that no list line
    excludes produced no result** (each is named with the cause: ``loaded,
    never ran: setUpClass of X failed: ...``, ``... raised SkipTest: ...``,
    ``... shard 1 was killed after ...``), or fewer than ``min_ran`` tests
    ran. ``min_ran`` is the number of tests the targets hold less the
    excluded ones (so a module that lost tests upstream, or no longer
    imports, cannot pass as "nothing failed"). ``expectedFailure`` is the
    peer's own declaration and needs no line.

``compare(outcomes, expected, *, min_ran) -> list[str]`` is the same check
returning the complaints (for the runner's own tests).

List files: one test per line, ``test_id  outcome  reason`` separated by
whitespace; the reason (the rest of the line) is required; blank lines and
lines starting with ``#`` are ignored. ``outcome`` is one of ``fail``,
``error``, ``skip``, ``expectedFailure``, ``unexpectedSuccess`` (the outcome
the run must show) or ``exclude`` (not run at all: a test that hangs or
cannot run here; say why). A ``test_id`` of the form ``re:REGEX`` (with
``exclude`` only) excludes every loaded id the regular expression matches
whole: how part of a big module is chosen (say which part and why), e.g.
the ``check_can_live_migrate_destination`` tests of Nova's
``test_compute_mgr`` (``tests/peer_lists/nova_unit_integration.txt``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
import dataclasses
import json
import os
from pathlib import Path
import re
import signal
import subprocess
import sys
import tempfile
import time

from tests.peer_child import OUTCOMES, excluded_ids, shard_ids

#: The repository root (the children get it on PYTHONPATH, so hooks in
#: tests.* import).
ROOT = Path(__file__).resolve().parent.parent
#: Where the list files live, one per suite name.
LIST_DIR = Path(__file__).resolve().parent / "peer_lists"
#: Outcomes a list file may name.
LISTABLE = tuple(o for o in OUTCOMES if o != "pass") + ("exclude",)
#: A list file's test_id starting with this is a regular expression.
PATTERN = "re:"
#: Tests named in a report before "and N more".
NAMED_NEVER_RAN = 50
#: Outcomes that need a list line when they happen.
NEEDS_LINE = frozenset({"fail", "error", "skip", "unexpectedSuccess"})
#: Lines of a shard's log shown in a report.
LOG_TAIL_LINES = 40
#: New failures shown with their traceback's tail; the rest get one line
#: (a module that no longer imports fails every test the same way).
DETAILED_FAILURES = 10


class PeerListError(ValueError):
    """A list file line that cannot be read (says file and line)."""


@dataclasses.dataclass(frozen=True)
class Expected:
    """One line of a list file."""

    outcome: str
    reason: str
    line: int


@dataclasses.dataclass(frozen=True)
class TestOutcome:
    """What happened to one test."""

    test_id: str
    outcome: str
    reason: str = ""
    detail: str = ""
    duration: float = 0.0
    shard: int = 0


@dataclasses.dataclass
class Outcomes:
    """Everything a run found: per test, per child, and its problems."""

    name: str
    targets: list[str]
    results: dict[str, TestOutcome] = dataclasses.field(default_factory=dict)
    #: Every id the loader found (before exclusion), in every shard.
    loaded: set[str] = dataclasses.field(default_factory=set)
    #: The loaded ids the list file excludes (by id or ``re:`` pattern).
    excluded: set[str] = dataclasses.field(default_factory=set)
    #: Run-level problems: timeouts, crashes, setup hook failures.
    problems: list[str] = dataclasses.field(default_factory=list)
    #: Class and module fixtures that failed or raised SkipTest (unittest
    #: then runs none of their tests): TestOutcome, ``test_id`` is
    #: unittest's ``"setUpClass (module.Class)"``.
    fixtures: list[TestOutcome] = dataclasses.field(default_factory=list)
    #: Shards that stopped before their end, with why.
    stops: dict[int, str] = dataclasses.field(default_factory=dict)
    shards: int = 1
    logs: list[Path] = dataclasses.field(default_factory=list)
    #: Per shard: what each setup hook's reporter returned (``{hook: ..}``).
    reports: list[dict] = dataclasses.field(default_factory=list)
    wall: float = 0.0

    def report_values(self, hook: str) -> list:
        """The values ``hook``'s reporter returned, one per shard."""
        return [r[hook] for r in self.reports if hook in r]

    @property
    def ran(self) -> int:
        return len(self.results)

    def count(self, outcome: str) -> int:
        return sum(1 for r in self.results.values() if r.outcome == outcome)

    def never_ran(self) -> dict[str, str]:
        """Every loaded test not excluded that has no result, with why:
        ``{test_id: "loaded, never ran: <cause>"}``."""
        missing = self.loaded - self.excluded - set(self.results)
        if not missing:
            return {}
        runnable = sorted(self.loaded - self.excluded)
        owner = {i: shard for shard in range(self.shards)
                 for i in shard_ids(runnable, shard, self.shards)}
        found = {}
        for test_id in sorted(missing):
            cause = _fixture_cause(self.fixtures, test_id)
            if cause is None and owner.get(test_id) in self.stops:
                cause = (f"shard {owner[test_id]} "
                         f"{self.stops[owner[test_id]]}")
            found[test_id] = ("loaded, never ran: "
                              + (cause or "no result was reported for it"))
        return found

    def summary(self) -> str:
        counts = ", ".join(f"{o} {self.count(o)}" for o in OUTCOMES
                           if self.count(o))
        never = len(self.never_ran())
        return (f"{self.name}: {len(self.loaded)} loaded, {self.ran} ran "
                f"({counts or 'none'}), {len(self.excluded)} excluded, "
                f"{never} never ran, {len(self.logs)} shard(s), "
                f"{self.wall:.1f} s")

    def log_tails(self, lines: int = LOG_TAIL_LINES) -> str:
        parts = []
        for log in self.logs:
            try:
                text = log.read_text(encoding="utf-8", errors="replace")
            except OSError as exc:
                parts.append(f"--- {log}: unreadable ({exc})")
                continue
            tail = text.splitlines()[-lines:]
            if not tail:
                continue
            parts.append(f"--- last {len(tail)} lines of {log}:\n"
                         + "\n".join(tail))
        return "\n".join(parts)


#: unittest's name for a class or module fixture's stand-in.
_FIXTURE_ID = re.compile(r"(?P<method>\w+) \((?P<scope>[^()]+)\)")


def _fixture_cause(fixtures: list[TestOutcome], test_id: str) -> str | None:
    """Why a setUpClass/setUpModule kept ``test_id`` from running, if one
    did (its scope, a class or a module, is a prefix of the id)."""
    for fixture in fixtures:
        match = _FIXTURE_ID.fullmatch(fixture.test_id)
        if not match or not match["method"].startswith("setUp"):
            continue
        if test_id.startswith(match["scope"] + "."):
            what = ("raised SkipTest" if fixture.outcome == "skip"
                    else "failed")
            return (f"{match['method']} of {match['scope']} {what}: "
                    f"{fixture.reason}")
    return None


def load_list(path: Path) -> dict[str, Expected]:
    """Read a list file (see the module docstring); a missing file is an
    empty list (a suite that is expected to pass entirely)."""
    expected: dict[str, Expected] = {}
    if not path.exists():
        return expected
    for number, raw in enumerate(path.read_text(encoding="utf-8")
                                 .splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 2)
        where = f"{path.name}:{number}"
        if len(parts) < 3:
            raise PeerListError(f"{where}: want 'test_id  outcome  reason', "
                                f"got {raw!r}")
        test_id, outcome, reason = parts
        if outcome not in LISTABLE:
            raise PeerListError(f"{where}: outcome {outcome!r} is not one of "
                                f"{', '.join(LISTABLE)}")
        if test_id.startswith(PATTERN):
            if outcome != "exclude":
                raise PeerListError(f"{where}: a {PATTERN} pattern can only "
                                    f"exclude, not {outcome!r}")
            try:
                re.compile(test_id[len(PATTERN):])
            except re.error as exc:
                raise PeerListError(f"{where}: {test_id!r} is not a regular "
                                    f"expression: {exc}") from None
        if test_id in expected:
            raise PeerListError(f"{where}: {test_id} is listed twice (first "
                                f"on line {expected[test_id].line})")
        expected[test_id] = Expected(outcome, reason.strip(), number)
    return expected


def list_path(name_or_path: str | os.PathLike[str]) -> Path:
    """``tests/peer_lists/<name>.txt`` for a suite name, else the path."""
    text = os.fspath(name_or_path)
    if os.sep in text or text.endswith(".txt"):
        return Path(text)
    return LIST_DIR / f"{text}.txt"


def _preimports(targets: Iterable[str], extra: Iterable[str]) -> list[str]:
    found = list(extra)
    if (any(t.startswith("nova.tests.functional") for t in targets)
            and "nova.tests.functional" not in found):
        # Eventlet monkey patching: must precede every other Nova import.
        found.insert(0, "nova.tests.functional")
    return found


def _child_env(test_timeout: int, env: dict[str, str] | None,
               pythonpath: Sequence[str] = ()) -> dict[str, str]:
    child = dict(os.environ)
    child.update({
        "OS_TEST_TIMEOUT": str(test_timeout),
        "OS_STDOUT_CAPTURE": "1",
        "OS_STDERR_CAPTURE": "1",
        "OS_LOG_CAPTURE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    # A pytest run's own plugins and options mean nothing to the child.
    child.pop("PYTEST_CURRENT_TEST", None)
    child.update(env or {})
    path = [*map(str, pythonpath), str(ROOT)]
    if child.get("PYTHONPATH"):
        path.append(child["PYTHONPATH"])
    child["PYTHONPATH"] = os.pathsep.join(path)
    return child


def _read_events(path: Path) -> list[dict]:
    events = []
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return events
    for line in text.splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:  # the last line of a killed child
            break
    return events


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def run(name: str, targets: Sequence[str], *,
        setup: str | Sequence[str] | None = None,
        shards: int = 2,
        timeout: float = 600.0,
        test_timeout: int = 120,
        preimport: Sequence[str] = (),
        env: dict[str, str] | None = None,
        pythonpath: Sequence[str | os.PathLike[str]] = (),
        list_file: str | os.PathLike[str] | None = None,
        workdir: str | os.PathLike[str] | None = None) -> Outcomes:
    """Run ``targets`` in ``shards`` child processes (module docstring)."""
    if shards < 1:
        raise ValueError("shards must be at least 1")
    targets = list(targets)
    hooks = [setup] if isinstance(setup, str) else list(setup or ())
    expected = load_list(list_path(list_file or name))
    excluded = sorted(i for i, e in expected.items() if e.outcome == "exclude"
                      and not i.startswith(PATTERN))
    patterns = sorted(i[len(PATTERN):] for i, e in expected.items()
                      if i.startswith(PATTERN))
    work = Path(workdir) if workdir else Path(
        tempfile.mkdtemp(prefix=f"peer-{name}-"))
    work.mkdir(parents=True, exist_ok=True)

    outcomes = Outcomes(name=name, targets=targets, shards=shards)
    child_env = _child_env(test_timeout, env,
                           [os.fspath(p) for p in pythonpath])
    started = time.monotonic()
    children = []
    for shard in range(shards):
        out = work / f"{name}-{shard}.jsonl"
        log = work / f"{name}-{shard}.log"
        cmd = [sys.executable, "-m", "tests.peer_child", "--out", str(out),
               "--shard", str(shard), "--shards", str(shards)]
        for module in _preimports(targets, preimport):
            cmd += ["--preimport", module]
        for hook in hooks:
            cmd += ["--setup", hook]
        for test_id in excluded:
            cmd += ["--exclude", test_id]
        for pattern in patterns:
            cmd += ["--exclude-re", pattern]
        cmd += ["--", *targets]
        with open(log, "wb") as log_stream:
            proc = subprocess.Popen(
                cmd, cwd=work, env=child_env, stdin=subprocess.DEVNULL,
                stdout=log_stream, stderr=subprocess.STDOUT,
                start_new_session=True)
        children.append((shard, proc, out, log))
        outcomes.logs.append(log)

    deadline = started + timeout
    for shard, proc, out, _log in children:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            timed_out = False
        except subprocess.TimeoutExpired:
            _kill(proc)
            timed_out = True
        _collect(outcomes, shard, proc.returncode, timed_out, timeout,
                 _read_events(out))
    outcomes.excluded = excluded_ids(outcomes.loaded, excluded, patterns)
    outcomes.wall = time.monotonic() - started
    return outcomes


def _collect(outcomes: Outcomes, shard: int, returncode: int,
             timed_out: bool, timeout: float, events: list[dict]) -> None:
    """Fold one child's events into ``outcomes``."""
    running = None
    done = False
    for event in events:
        kind = event.get("event")
        if kind == "loaded":
            outcomes.loaded.update(event["ids"])
        elif kind == "start":
            running = event["id"]
        elif kind == "result":
            running = None
            outcomes.results[event["id"]] = TestOutcome(
                test_id=event["id"], outcome=event["outcome"],
                reason=event.get("reason", ""),
                detail=event.get("detail", ""),
                duration=event.get("duration", 0.0), shard=shard)
        elif kind == "fixture":
            outcomes.fixtures.append(TestOutcome(
                test_id=event["id"], outcome=event["outcome"],
                reason=event.get("reason", ""),
                detail=event.get("detail", ""), shard=shard))
        elif kind == "setup_error":
            outcomes.problems.append(
                f"shard {shard}: the setup failed before any test loaded:\n"
                f"{event['detail']}")
            outcomes.stops[shard] = "failed in its setup hook"
        elif kind == "done":
            done = True
            outcomes.reports.append(event.get("reports") or {})
    if timed_out:
        problem = f"killed after the {timeout:.0f} s wall clock limit"
        reason = f"timeout: shard killed after {timeout:.0f} s"
        outcomes.stops[shard] = f"was {problem}"
    elif not done and not any(e.get("event") == "setup_error"
                              for e in events):
        problem = f"the child exited with status {returncode}"
        reason = f"the child process died (status {returncode})"
        outcomes.stops[shard] = f"stopped early: {problem}"
    else:
        return
    # The test that was running when the child stopped gets the blame.
    where = f" while running {running}" if running else " before finishing"
    outcomes.problems.append(f"shard {shard}: {problem}{where}")
    if running:
        outcomes.results[running] = TestOutcome(running, "error", reason,
                                                shard=shard)


def compare(outcomes: Outcomes, expected: dict[str, Expected], *,
            min_ran: int) -> list[str]:
    """The complaints of :func:`check`, each a readable paragraph."""
    complaints = list(outcomes.problems)
    if outcomes.ran < min_ran:
        complaints.append(
            f"only {outcomes.ran} test(s) ran, fewer than the {min_ran} "
            f"expected (an import error or a wrong target?)")

    gone = sorted(i for i in expected if not i.startswith(PATTERN)
                  and i not in outcomes.loaded)
    gone += sorted(i for i in expected if i.startswith(PATTERN)
                   and not excluded_ids(outcomes.loaded, (),
                                        [i[len(PATTERN):]]))
    if gone:
        complaints.append("listed but no longer exist (remove the lines):\n"
                          + "\n".join(f"  {i}  (line {expected[i].line})"
                                      for i in gone))

    changed = []
    for test_id, exp in sorted(expected.items()):
        if exp.outcome == "exclude" or test_id in gone:
            continue
        got = outcomes.results.get(test_id)
        if got is None:
            continue  # never ran: named below with its cause
        if got.outcome == "pass":
            changed.append(f"  {test_id}: now PASSES (listed "
                           f"{exp.outcome}: {exp.reason}); remove the line")
        elif got.outcome != exp.outcome:
            changed.append(f"  {test_id}: {got.outcome} ({got.reason}), "
                           f"listed {exp.outcome}: {exp.reason}")
    if changed:
        complaints.append("listed tests with another outcome:\n"
                          + "\n".join(changed))

    complaints += _never_ran_complaints(outcomes)

    new = [r for test_id, r in sorted(outcomes.results.items())
           if r.outcome in NEEDS_LINE and test_id not in expected]
    if new:
        lines = [f"  {len(new)} test(s); tracebacks of the first "
                 f"{min(len(new), DETAILED_FAILURES)}"]
        for number, result in enumerate(new):
            lines.append(f"  {result.test_id}: {result.outcome}: "
                         f"{result.reason}")
            if number < DETAILED_FAILURES:
                detail = result.detail.strip().splitlines()[-12:]
                lines.extend(f"      {line}" for line in detail)
        complaints.append("not listed, and not passing:\n" + "\n".join(lines))
        complaints.append(
            "if intended, list them (replace the reason):\n" + "\n".join(
                f"{r.test_id}  {r.outcome}  WHY" for r in new))
    return complaints


def _never_ran_complaints(outcomes: Outcomes) -> list[str]:
    """Loaded tests with no result (each a failure), and class or module
    fixtures that failed after their tests ran."""
    complaints = []
    never = outcomes.never_ran()
    if never:
        lines = [f"  {test_id}: {why}" for test_id, why
                 in list(never.items())[:NAMED_NEVER_RAN]]
        if len(never) > NAMED_NEVER_RAN:
            lines.append(f"  ... and {len(never) - NAMED_NEVER_RAN} more")
        for fixture in outcomes.fixtures[:DETAILED_FAILURES]:
            lines.append(f"  {fixture.test_id}: {fixture.outcome}:")
            lines.extend(f"      {line}" for line in
                         fixture.detail.strip().splitlines()[-12:])
        complaints.append(
            f"loaded but never ran, {len(never)} test(s), each a failure "
            f"(exclude a test in the list file, with the reason, if it "
            f"cannot run here):\n" + "\n".join(lines))
    late = [f for f in outcomes.fixtures
            if f.test_id.startswith("tearDown") and f.outcome != "skip"]
    if late:
        complaints.append("class or module fixtures failed after their "
                          "tests:\n" + "\n".join(
                              f"  {f.test_id}: {f.reason}\n      "
                              + "\n      ".join(
                                  f.detail.strip().splitlines()[-12:])
                              for f in late))
    return complaints


def check(outcomes: Outcomes,
          list_file: str | os.PathLike[str] | None = None, *,
          min_ran: int) -> None:
    """Fail (AssertionError) unless the run matches its list file."""
    path = list_path(list_file or outcomes.name)
    complaints = compare(outcomes, load_list(path), min_ran=min_ran)
    if complaints:
        report = [f"{outcomes.summary()}; list file {path}",
                  *complaints]
        if outcomes.problems or any(
                r.outcome == "error" for r in outcomes.results.values()):
            report.append(outcomes.log_tails())
        raise AssertionError("\n\n".join(report))
