"""Child process of tests/peer_suite.py: run one shard of a peer's tests.

Run as ``python -m tests.peer_child --out FILE [options] TARGET...`` (the
parent puts the repository root on PYTHONPATH). What it does, in this order,
because each step depends on the one before:

1. imports the ``--preimport`` modules (``nova.tests.functional`` must be the
   first Nova module imported in a process: it applies eventlet monkey
   patching, without which network info silently stays empty);
2. calls each ``--setup module:function`` hook (to patch our code in before
   the peer's test modules import theirs: ``from x import y`` in a test
   module binds whatever is there at import time); a hook may return a
   callable, called after the tests, whose JSON-able result goes into the
   ``done`` event (what the hook saw: proof that it took effect);
3. loads TARGETs (module names or test ids) with unittest's loader, flattens
   the suite, drops the ``--exclude`` ids and keeps this shard's part of the
   sorted ids (a deterministic partition: shard i of n takes every n-th id);
4. runs them, writing one JSON line per event to FILE as it goes, so that
   if the child hangs or dies, the parent still knows what finished and
   which test was running.

Events: ``{"event": "loaded", "ids": [...]}`` (every id found, before
exclusion and sharding), ``{"event": "selected", "ids": [...]}``,
``{"event": "start", "id": ...}``, ``{"event": "result", "id", "outcome",
"reason", "detail", "duration"}``, ``{"event": "fixture", "id", "outcome",
"reason", "detail"}`` (a class or module fixture failed or raised SkipTest:
unittest then runs none of the tests it covers, and reports no start or
stop for them; ``id`` is unittest's ``"setUpClass (module.Class)"``),
``{"event": "setup_error", "detail"}`` and finally ``{"event": "done",
"ran": n, "reports": {hook: value}}``.

:func:`current_test` is the id of the test running now, for setup hooks
that count per module what the tests did.

The child never decides whether a run is good: it records, the parent
compares with the list file.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Iterator
import importlib
import json
import re
import sys
import time
import traceback
from typing import IO, Any
import unittest

#: Outcomes a test can have; the parent and the list files use these names.
OUTCOMES = ("pass", "fail", "error", "skip", "expectedFailure",
            "unexpectedSuccess")


#: The id of the test running now (``None`` between tests).
_current: str | None = None


def current_test() -> str | None:
    """The id of the test this child is running now, if any."""
    return _current


def excluded_ids(ids: Iterable[str], exact: Iterable[str],
                 patterns: Iterable[str]) -> set[str]:
    """The ``ids`` a list file excludes: named exactly, or matched whole
    by one of the regular expressions ``patterns``."""
    exact = set(exact)
    compiled = [re.compile(p) for p in patterns]
    return {i for i in ids
            if i in exact or any(c.fullmatch(i) for c in compiled)}


class _Writer:
    """One JSON object per line, flushed at once (the parent may have to
    read the file of a child it killed)."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def __call__(self, event: str, **fields: Any) -> None:
        fields["event"] = event
        self._stream.write(json.dumps(fields) + "\n")
        self._stream.flush()


def _last_line(text: str) -> str:
    """The exception line of a formatted traceback (its last non-blank
    line), as the short reason; the whole text stays in ``detail``."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


class RecordingResult(unittest.TestResult):
    """Records each test's outcome as one event when the test stops.

    Works for plain unittest cases and for testtools' (Nova's and
    Neutron's bases): testtools hands a plain result skips, expected
    failures and unexpected successes through the same ``add*`` calls.
    A failing subtest makes its test a failure.
    """

    def __init__(self, write: _Writer) -> None:
        super().__init__()
        self._write = write
        self._outcome: tuple[str, str, str] | None = None
        self._subtest_failures: list[str] = []
        self._started = 0.0
        self.ran = 0

    def startTest(self, test: unittest.TestCase) -> None:  # noqa: N802
        global _current
        super().startTest(test)
        _current = test.id()
        self._outcome = None
        self._subtest_failures = []
        self._started = time.monotonic()
        self._write("start", id=test.id())

    def _set(self, outcome: str, reason: str = "", detail: str = "") -> None:
        # The first definite outcome wins, except that an error in cleanup
        # after a pass turns the pass into an error (unittest's own rule).
        if self._outcome is None or self._outcome[0] == "pass":
            self._outcome = (outcome, reason, detail)

    def _err(self, err: Any, test: unittest.TestCase) -> tuple[str, str]:
        try:
            text = self._exc_info_to_string(err, test)
        except Exception:  # a result from an exotic runner: still record
            text = "".join(traceback.format_exception(*err))
        return _last_line(text), text

    def _record(self, test: Any, outcome: str, reason: str,
                detail: str = "") -> None:
        """The running test's outcome; or, when unittest hands in a stand-in
        that is no TestCase, a class or module fixture's failure or skip
        (its tests will not run: the parent names them)."""
        if isinstance(test, unittest.TestCase):
            self._set(outcome, reason, detail)
        else:
            self._write("fixture", id=test.id(), outcome=outcome,
                        reason=reason, detail=detail)

    def addSuccess(self, test: unittest.TestCase) -> None:  # noqa: N802
        super().addSuccess(test)
        self._set("pass")

    def addFailure(self, test, err) -> None:  # noqa: N802
        super().addFailure(test, err)
        self._record(test, "fail", *self._err(err, test))

    def addError(self, test, err) -> None:  # noqa: N802
        super().addError(test, err)
        self._record(test, "error", *self._err(err, test))

    def addSkip(self, test, reason) -> None:  # noqa: N802
        super().addSkip(test, reason)
        self._record(test, "skip", str(reason))

    def addExpectedFailure(self, test, err) -> None:  # noqa: N802
        super().addExpectedFailure(test, err)
        self._set("expectedFailure", *self._err(err, test))

    def addUnexpectedSuccess(self, test) -> None:  # noqa: N802
        super().addUnexpectedSuccess(test)
        self._set("unexpectedSuccess", "passed but is marked expected "
                  "failure")

    def addSubTest(self, test, subtest, err) -> None:  # noqa: N802
        super().addSubTest(test, subtest, err)
        if err is not None:
            reason, detail = self._err(err, subtest)
            self._subtest_failures.append(f"{subtest.id()}: {reason}")
            self._set("fail" if issubclass(err[0], test.failureException)
                      else "error", reason, detail)

    def stopTest(self, test: unittest.TestCase) -> None:  # noqa: N802
        global _current
        super().stopTest(test)
        _current = None
        outcome = self._outcome or ("error", "the test reported no outcome",
                                    "")
        self.ran += 1
        self._write("result", id=test.id(), outcome=outcome[0],
                    reason=outcome[1], detail=outcome[2],
                    duration=round(time.monotonic() - self._started, 4))


def iter_tests(suite: unittest.TestSuite | unittest.TestCase
               ) -> Iterator[unittest.TestCase]:
    """Every test case inside a (nested) suite, in the loader's order."""
    if isinstance(suite, unittest.TestSuite):
        for item in suite:
            yield from iter_tests(item)
    else:
        yield suite


def shard_ids(ids: list[str], shard: int, shards: int) -> set[str]:
    """This shard's part of ``ids``: every ``shards``-th of the sorted ids.

    Sorted first so every child computes the same partition whatever order
    the loader produced; round robin rather than contiguous slices so a
    slow test class is spread over the shards.
    """
    return set(sorted(set(ids))[shard::shards])


def call_hook(spec: str) -> Any:
    """Call ``module:function`` (no arguments); return what it returns."""
    module_name, sep, func_name = spec.partition(":")
    if not sep or not module_name or not func_name:
        raise ValueError(f"setup hook {spec!r} is not 'module:function'")
    func = getattr(importlib.import_module(module_name), func_name)
    return func()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="peer_child")
    parser.add_argument("--out", required=True)
    parser.add_argument("--shard", type=int, default=0)
    parser.add_argument("--shards", type=int, default=1)
    parser.add_argument("--preimport", action="append", default=[])
    parser.add_argument("--setup", action="append", default=[])
    parser.add_argument("--exclude", action="append", default=[])
    parser.add_argument("--exclude-re", action="append", default=[])
    parser.add_argument("targets", nargs="+")
    args = parser.parse_args(argv)

    with open(args.out, "w", encoding="utf-8") as stream:
        write = _Writer(stream)
        reporters = {}
        try:
            for name in args.preimport:
                importlib.import_module(name)
            for spec in args.setup:
                returned = call_hook(spec)
                if callable(returned):
                    reporters[spec] = returned
        except BaseException:
            write("setup_error", detail=traceback.format_exc())
            return 3

        loader = unittest.TestLoader()
        suite = loader.loadTestsFromNames(args.targets)
        tests = list(iter_tests(suite))
        for error in loader.errors:  # import errors also become tests
            print(error, file=sys.stderr)
        write("loaded", ids=[test.id() for test in tests])

        excluded = excluded_ids([t.id() for t in tests], args.exclude,
                                args.exclude_re)
        mine = shard_ids([t.id() for t in tests if t.id() not in excluded],
                         args.shard, args.shards)
        selected = [t for t in tests if t.id() in mine]
        write("selected", ids=[t.id() for t in selected])

        result = RecordingResult(write)
        unittest.TestSuite(selected).run(result)
        reports = {}
        for spec, reporter in reporters.items():
            try:
                reports[spec] = reporter()
            except Exception:
                reports[spec] = {"error": traceback.format_exc()}
        write("done", ran=result.ran, reports=reports)
    return 0


if __name__ == "__main__":
    # Run as ``-m tests.peer_child``: setup hooks importing this module
    # (current_test) must get this copy, not a second one.
    sys.modules.setdefault("tests.peer_child", sys.modules[__name__])
    sys.exit(main())
