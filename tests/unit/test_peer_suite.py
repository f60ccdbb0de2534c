"""The peer-suite runner itself, on a tiny fake unittest module.

The runner decides whether Nova's and Neutron's own suites pass against our
code; these tests show that its comparison can fail, for each way a run
can differ from its list file, and that sharding, setup hooks, exclusion
and the wall clock limit do what the docstring says.
"""

from __future__ import annotations

from pathlib import Path
import textwrap

import pytest

from tests import peer_child, peer_suite

FAKE = '''
import os
import sys
import time
import unittest

import fake_hooks


class Fake(unittest.TestCase):
    def test_pass(self):
        pass

    def test_fail(self):
        self.assertEqual(1, 2, "one is not two")

    def test_error(self):
        raise RuntimeError("boom")

    @unittest.skip("not here")
    def test_skip(self):
        pass

    @unittest.expectedFailure
    def test_xfail(self):
        self.fail("known")

    @unittest.expectedFailure
    def test_xpass(self):
        pass

    def test_patched(self):
        # Passes only when the setup hook ran before this module loaded.
        self.assertTrue(fake_hooks.PATCHED)

    def test_subtest(self):
        for i in range(3):
            with self.subTest(i=i):
                self.assertLess(i, 2)

    def test_hang(self):
        if os.environ.get("FAKE_CRASH"):
            os._exit(7)
        if os.environ.get("FAKE_HANG"):
            print("fake peer: hanging now", file=sys.stderr, flush=True)
            time.sleep(60)
'''

HOOKS = '''
PATCHED = False


def patch():
    global PATCHED
    PATCHED = True
    return lambda: {"patched": PATCHED}


def broken():
    raise ImportError("the integration is not there")
'''

MODULE = "fake_peer_tests"
IDS = {n: f"{MODULE}.Fake.test_{n}" for n in (
    "pass", "fail", "error", "skip", "xfail", "xpass", "patched", "subtest",
    "hang")}

#: The list that matches a run with the setup hook.
MATCHING = f"""\
# comment, then a blank line

{IDS['fail']}  fail  one is not two, on purpose
{IDS['error']}  error  raises on purpose
{IDS['skip']}  skip  skipped by the module
{IDS['xpass']}  unexpectedSuccess  marked expectedFailure but passes
{IDS['subtest']}  fail  the third subtest fails
"""


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory with the fake test module and hooks, on PYTHONPATH."""
    src = tmp_path / "src"
    src.mkdir()
    (src / f"{MODULE}.py").write_text(FAKE)
    (src / "fake_hooks.py").write_text(HOOKS)
    monkeypatch.setenv("PYTHONPATH", str(src))
    monkeypatch.delenv("FAKE_HANG", raising=False)
    monkeypatch.delenv("FAKE_CRASH", raising=False)
    return tmp_path


def _list(tmp: Path, text: str) -> Path:
    path = tmp / "fake.txt"
    path.write_text(textwrap.dedent(text))
    return path


def _run(tmp: Path, list_text: str = MATCHING, **kwargs):
    lst = _list(tmp, list_text)
    kwargs.setdefault("setup", "fake_hooks:patch")
    kwargs.setdefault("timeout", 60)
    outcomes = peer_suite.run("fake", [MODULE], list_file=lst,
                              workdir=tmp / "work", **kwargs)
    return outcomes, lst


def test_records_every_outcome(fake: Path) -> None:
    outcomes, lst = _run(fake)
    got = {i: r.outcome for i, r in outcomes.results.items()}
    assert got == {
        IDS["pass"]: "pass", IDS["fail"]: "fail", IDS["error"]: "error",
        IDS["skip"]: "skip", IDS["xfail"]: "expectedFailure",
        IDS["xpass"]: "unexpectedSuccess", IDS["patched"]: "pass",
        IDS["subtest"]: "fail", IDS["hang"]: "pass"}
    assert outcomes.results[IDS["skip"]].reason == "not here"
    assert "one is not two" in outcomes.results[IDS["fail"]].reason
    assert "RuntimeError: boom" in outcomes.results[IDS["error"]].detail
    assert outcomes.loaded == set(IDS.values())
    assert outcomes.problems == []
    # Two shards (the default), each ran part of the module.
    assert {r.shard for r in outcomes.results.values()} == {0, 1}
    # The hook's reporter ran after the tests, in each shard.
    assert outcomes.report_values("fake_hooks:patch") == [
        {"patched": True}, {"patched": True}]
    peer_suite.check(outcomes, lst, min_ran=9)


def test_shards_partition_deterministically() -> None:
    ids = [f"m.C.test_{i}" for i in range(11)]
    parts = [peer_child.shard_ids(list(reversed(ids)), s, 3)
             for s in range(3)]
    assert set().union(*parts) == set(ids)
    assert sum(len(p) for p in parts) == len(ids)
    assert parts == [peer_child.shard_ids(ids, s, 3) for s in range(3)]


def test_one_shard(fake: Path) -> None:
    outcomes, lst = _run(fake, shards=1)
    assert {r.shard for r in outcomes.results.values()} == {0}
    peer_suite.check(outcomes, lst, min_ran=9)


def test_without_setup_hook_the_hooked_test_fails(fake: Path) -> None:
    outcomes, lst = _run(fake, setup=None)
    assert outcomes.results[IDS["patched"]].outcome == "fail"
    with pytest.raises(AssertionError, match="not listed, and not passing"
                       ) as exc:
        peer_suite.check(outcomes, lst, min_ran=9)
    assert IDS["patched"] in str(exc.value)
    # The traceback of the new failure is in the report.
    assert "assertTrue(fake_hooks.PATCHED)" in str(exc.value)


def test_listed_test_now_passing_fails_the_check(fake: Path) -> None:
    outcomes, lst = _run(fake, MATCHING + f"{IDS['pass']}  fail  was "
                         "broken\n")
    with pytest.raises(AssertionError, match="now PASSES") as exc:
        peer_suite.check(outcomes, lst, min_ran=9)
    assert IDS["pass"] in str(exc.value)


def test_listed_outcome_must_match(fake: Path) -> None:
    text = MATCHING.replace(f"{IDS['error']}  error", f"{IDS['error']}  fail")
    outcomes, lst = _run(fake, text)
    with pytest.raises(AssertionError, match="another outcome") as exc:
        peer_suite.check(outcomes, lst, min_ran=9)
    assert "RuntimeError: boom" in str(exc.value)


def test_unlisted_skip_fails_the_check(fake: Path) -> None:
    text = "".join(line + "\n" for line in MATCHING.splitlines()
                   if IDS["skip"] not in line)
    outcomes, lst = _run(fake, text)
    with pytest.raises(AssertionError, match=r"test_skip: skip: not here"):
        peer_suite.check(outcomes, lst, min_ran=9)


def test_listed_id_that_no_longer_exists(fake: Path) -> None:
    outcomes, lst = _run(fake, MATCHING + f"{MODULE}.Fake.test_gone  fail  "
                         "renamed upstream\n")
    with pytest.raises(AssertionError, match="no longer exist") as exc:
        peer_suite.check(outcomes, lst, min_ran=9)
    assert "test_gone" in str(exc.value)


def test_too_few_tests_ran(fake: Path) -> None:
    outcomes, lst = _run(fake)
    with pytest.raises(AssertionError, match="only 9 test"):
        peer_suite.check(outcomes, lst, min_ran=10)


def test_import_error_is_not_nothing_failed(fake: Path) -> None:
    lst = _list(fake, "")
    outcomes = peer_suite.run("fake", ["no_such_peer_module"],
                              list_file=lst, workdir=fake / "work")
    # unittest turns the import error into one failing test.
    assert outcomes.ran == 1
    with pytest.raises(AssertionError) as exc:
        peer_suite.check(outcomes, lst, min_ran=1)
    assert "not listed, and not passing" in str(exc.value)
    assert "No module named 'no_such_peer_module'" in str(exc.value)


def test_failing_setup_hook_is_a_problem(fake: Path) -> None:
    outcomes, lst = _run(fake, setup="fake_hooks:broken")
    assert outcomes.ran == 0
    with pytest.raises(AssertionError,
                       match="the integration is not there"):
        peer_suite.check(outcomes, lst, min_ran=1)


def test_exclude_does_not_run_but_must_exist(fake: Path,
                                             monkeypatch) -> None:
    monkeypatch.setenv("FAKE_HANG", "1")
    outcomes, lst = _run(fake, MATCHING + f"{IDS['hang']}  exclude  sleeps "
                         "a minute\n")
    assert IDS["hang"] not in outcomes.results
    assert outcomes.excluded == {IDS["hang"]}
    peer_suite.check(outcomes, lst, min_ran=8)


def test_wall_clock_limit_kills_and_names_the_test(fake: Path,
                                                   monkeypatch) -> None:
    monkeypatch.setenv("FAKE_HANG", "1")
    outcomes, lst = _run(fake, shards=1, timeout=4)
    assert outcomes.results[IDS["hang"]].outcome == "error"
    with pytest.raises(AssertionError,
                       match=f"killed after the 4 s wall clock limit while "
                       f"running {IDS['hang']}") as exc:
        peer_suite.check(outcomes, lst, min_ran=1)
    # The child's stderr is in the report (its log tail).
    assert "fake peer: hanging now" in str(exc.value)


@pytest.mark.parametrize("line, message", [
    ("a.b.c  fail", "want 'test_id  outcome  reason'"),
    ("a.b.c  broken  why", "is not one of"),
])
def test_bad_list_lines(tmp_path: Path, line: str, message: str) -> None:
    with pytest.raises(peer_suite.PeerListError, match=message):
        peer_suite.load_list(_list(tmp_path, line + "\n"))


def test_duplicate_list_line(tmp_path: Path) -> None:
    path = _list(tmp_path, "a.b.c  fail  x\na.b.c  error  y\n")
    with pytest.raises(peer_suite.PeerListError, match="listed twice"):
        peer_suite.load_list(path)


def test_list_path_by_name() -> None:
    assert peer_suite.list_path("nova_vif") == (
        peer_suite.LIST_DIR / "nova_vif.txt")


def test_pythonpath_entries_go_first(fake: Path) -> None:
    # A second fake_hooks earlier on the path wins (how a patched copy of
    # Nova is put before the installed one).
    first = fake / "first"
    first.mkdir()
    (first / "fake_hooks.py").write_text(
        HOOKS.replace('{"patched": PATCHED}', '{"from": "first"}'))
    outcomes, lst = _run(fake, pythonpath=[first])
    assert outcomes.report_values("fake_hooks:patch") == [
        {"from": "first"}, {"from": "first"}]
    peer_suite.check(outcomes, lst, min_ran=9)


def test_many_new_failures_keep_the_report_short(fake: Path,
                                                  monkeypatch) -> None:
    monkeypatch.setattr(peer_suite, "DETAILED_FAILURES", 1)
    outcomes, lst = _run(fake, "", setup=None)
    with pytest.raises(AssertionError) as exc:
        peer_suite.check(outcomes, lst, min_ran=9)
    report = str(exc.value)
    assert "6 test(s); tracebacks of the first 1" in report
    # Every new failure is named, only the first with its traceback.
    assert all(IDS[n] in report for n in
               ("fail", "error", "skip", "xpass", "patched", "subtest"))
    assert report.count("Traceback (most recent call last)") == 1


def test_child_that_dies_names_the_test(fake: Path, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_CRASH", "1")
    outcomes, lst = _run(fake, shards=1)
    assert outcomes.results[IDS["hang"]].outcome == "error"
    with pytest.raises(AssertionError,
                       match=f"the child exited with status 7 while running "
                       f"{IDS['hang']}"):
        peer_suite.check(outcomes, lst, min_ran=1)


# --------------------------------------------------------------------------
# Loaded tests that never ran

#: 4 tests; unittest runs only ``Runs.test_ok``: ``Broken``'s setUpClass
#: raises and ``Skipped``'s raises SkipTest, and for the tests of either
#: class unittest reports no start and no stop.
PROBE = '''
import unittest


class Broken(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        raise RuntimeError("no database here")

    def test_one(self):
        pass

    def test_two(self):
        pass


class Runs(unittest.TestCase):
    def test_ok(self):
        pass


class Skipped(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        raise unittest.SkipTest("needs a GPU")

    def test_gpu(self):
        pass
'''
PROBE_MODULE = "fake_probe_tests"
LOST = {f"{PROBE_MODULE}.Broken.test_one", f"{PROBE_MODULE}.Broken.test_two",
        f"{PROBE_MODULE}.Skipped.test_gpu"}


@pytest.fixture
def probe(fake: Path) -> Path:
    (fake / "src" / f"{PROBE_MODULE}.py").write_text(PROBE)
    return fake


def _run_probe(tmp: Path, list_text: str = "", **kwargs):
    lst = _list(tmp, list_text)
    outcomes = peer_suite.run("fake", [PROBE_MODULE], list_file=lst,
                              workdir=tmp / "work", timeout=60, **kwargs)
    return outcomes, lst


@pytest.mark.parametrize("shards", [1, 2])
def test_tests_lost_to_class_fixtures_fail_the_check(probe: Path,
                                                     shards: int) -> None:
    outcomes, lst = _run_probe(probe, shards=shards)
    assert len(outcomes.loaded) == 4
    assert set(outcomes.results) == {f"{PROBE_MODULE}.Runs.test_ok"}
    assert outcomes.problems == []
    never = outcomes.never_ran()
    assert set(never) == LOST
    assert never[f"{PROBE_MODULE}.Broken.test_one"] == (
        f"loaded, never ran: setUpClass of {PROBE_MODULE}.Broken failed: "
        "RuntimeError: no database here")
    assert never[f"{PROBE_MODULE}.Skipped.test_gpu"] == (
        f"loaded, never ran: setUpClass of {PROBE_MODULE}.Skipped raised "
        "SkipTest: needs a GPU")
    # The one test that ran passed, the list is empty, and min_ran is met:
    # the three lost tests alone fail the check, each named with its cause.
    with pytest.raises(AssertionError) as exc:
        peer_suite.check(outcomes, lst, min_ran=1)
    report = str(exc.value)
    assert "loaded but never ran, 3 test(s), each a failure" in report
    assert all(f"{i}: loaded, never ran: setUpClass of" in report
               for i in LOST)
    # The fixture's traceback is in the report.
    assert 'raise RuntimeError("no database here")' in report
    assert "4 loaded, 1 ran (pass 1), 0 excluded, 3 never ran" in report


def test_tests_lost_to_class_fixtures_can_only_be_excluded(
        probe: Path) -> None:
    # Listing them with an outcome does not do: they have none.
    skip_line = f"{PROBE_MODULE}.Skipped.test_gpu  skip  needs a GPU\n"
    outcomes, lst = _run_probe(probe, skip_line)
    with pytest.raises(AssertionError, match="Skipped.test_gpu: loaded, "
                       "never ran: setUpClass of"):
        peer_suite.check(outcomes, lst, min_ran=1)
    # Excluded, with the reason, they are accounted for.
    excluding = (f"{PROBE_MODULE}.Skipped.test_gpu  exclude  needs a GPU\n"
                 f"re:{PROBE_MODULE}\\.Broken\\..*  exclude  need a "
                 "database\n")
    outcomes, lst = _run_probe(probe, excluding)
    assert outcomes.excluded == LOST
    assert outcomes.never_ran() == {}
    peer_suite.check(outcomes, lst, min_ran=1)


def _run_module(tmp: Path, module: str, source: str):
    """Write ``module`` (next to the fake) and run it in one child with an
    empty list file."""
    (tmp / "src" / f"{module}.py").write_text(source)
    lst = _list(tmp, "")
    outcomes = peer_suite.run("fake", [module], list_file=lst,
                              workdir=tmp / "work", shards=1, timeout=60)
    return outcomes, lst


def test_module_fixture_failure_names_every_test(fake: Path) -> None:
    outcomes, lst = _run_module(
        fake, "fake_module_fixture",
        "import unittest\n\n\n"
        "def setUpModule():\n"
        "    raise OSError('no such device')\n\n\n"
        "class A(unittest.TestCase):\n"
        "    def test_a(self):\n        pass\n\n\n"
        "class B(unittest.TestCase):\n"
        "    def test_b(self):\n        pass\n")
    assert outcomes.ran == 0
    assert outcomes.never_ran() == {
        f"fake_module_fixture.{c}.test_{c.lower()}":
        "loaded, never ran: setUpModule of fake_module_fixture failed: "
        "OSError: no such device" for c in ("A", "B")}
    with pytest.raises(AssertionError, match="2 test"):
        peer_suite.check(outcomes, lst, min_ran=0)


def test_tests_after_a_killed_test_never_ran(fake: Path,
                                             monkeypatch) -> None:
    monkeypatch.setenv("FAKE_HANG", "1")
    outcomes, lst = _run(fake, shards=1, timeout=4)
    # unittest runs a class's tests by name: test_hang, then test_pass ...
    never = outcomes.never_ran()
    assert IDS["pass"] in never and IDS["hang"] not in never
    assert never[IDS["pass"]] == ("loaded, never ran: shard 0 was killed "
                                  "after the 4 s wall clock limit")
    with pytest.raises(AssertionError, match="loaded but never ran"):
        peer_suite.check(outcomes, lst, min_ran=1)


def test_tear_down_class_failure_is_reported(fake: Path) -> None:
    outcomes, lst = _run_module(
        fake, "fake_teardown",
        "import unittest\n\n\n"
        "class A(unittest.TestCase):\n"
        "    @classmethod\n"
        "    def tearDownClass(cls):\n"
        "        raise ValueError('left a bridge behind')\n\n"
        "    def test_a(self):\n        pass\n")
    assert outcomes.results["fake_teardown.A.test_a"].outcome == "pass"
    with pytest.raises(AssertionError, match="tearDownClass "
                       r"\(fake_teardown.A\): ValueError: left a bridge"):
        peer_suite.check(outcomes, lst, min_ran=1)


def test_pattern_that_matches_nothing(fake: Path) -> None:
    outcomes, lst = _run(fake, MATCHING + "re:fake_peer_tests\\.Gone\\..*  "
                         "exclude  a class that was removed\n")
    with pytest.raises(AssertionError, match=r"no longer exist[^\n]*\n"
                       r"  re:fake_peer_tests\\.Gone"):
        peer_suite.check(outcomes, lst, min_ran=9)


@pytest.mark.parametrize("line, message", [
    ("re:a.*  fail  why", "can only exclude"),
    ("re:a(  exclude  why", "is not a regular expression"),
])
def test_bad_pattern_lines(tmp_path: Path, line: str, message: str) -> None:
    with pytest.raises(peer_suite.PeerListError, match=message):
        peer_suite.load_list(_list(tmp_path, line + "\n"))


def test_current_test_is_the_running_one(fake: Path) -> None:
    outcomes, lst = _run_module(
        fake, "fake_current",
        "import unittest\n\n"
        "from tests import peer_child\n\n\n"
        "class A(unittest.TestCase):\n"
        "    def test_which(self):\n"
        "        self.assertEqual(peer_child.current_test(), self.id())\n")
    peer_suite.check(outcomes, lst, min_ran=1)
