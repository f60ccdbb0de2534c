"""A hostile or broken catalogue file costs bounded time and memory and
gets a short, exact error (issue 20).

The corpus below is what a typo, a broken generator or an attacker can
put in a catalogue directory.  Each file goes through the three ways
catalogue files are read: ``os-vif-pref catalogue validate``,
``catalogue.load`` (with the bundled layer under it) and the Nova
integration's start.  Each runs in a child process with an address-space
limit (``RLIMIT_AS``), and the test measures the child's time and peak
memory (``wait4``), so a regression shows as a number over a bound, not
as a machine out of memory.  The bounds are generous (several times what
a run takes on a loaded 2-vCPU machine); before the bounds the 8-level
alias file took 31 s and 2.5 GB and the 9-level one would have taken the
machine's memory.
"""

from __future__ import annotations

from collections.abc import Callable
import json
import os
from pathlib import Path
import random
import re
import resource
import subprocess
import sys
import textwrap
import time
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
import pytest
import yaml

from os_vif_pref import catalogue, exceptions

#: What a child may reserve (virtual memory, not resident): Python with
#: oslo and os-vif imported reserves ~0.5 GiB here.  Before the bounds the
#: 8-level alias file needed 2.5 GB resident.
ADDRESS_SPACE = 2 * 1024 ** 3
#: Peak resident memory of a child, bytes: the CLI or a load of the
#: bundled catalogue alone is ~40-90 MB; the largest case (a 1 MiB file
#: of 30,000 invalid entries, composed once for positions) ~140 MB.
MAX_RSS = 400 * 1024 ** 2
#: Seconds per child, start-up included (~1 s; the largest case ~5 s on
#: a loaded machine).  Before the bounds: 31 s for the 8-level file.
MAX_SECONDS = 60
#: The longest line an error report may have: path, position, field and
#: a reason quoting at most an excerpt.
MAX_LINE = 400

# --------------------------------------------------------------------------
# The corpus
# --------------------------------------------------------------------------


def _laughs(levels: int) -> str:
    """The "billion laughs": each level nine aliases of the one before,
    the last one used as an entry's name (9**levels strings once
    expanded, from under 600 bytes)."""
    lines = ["format: 1", "x0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, "
             "lol]"]
    for i in range(1, levels + 1):
        lines.append(f"x{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    lines.append(f"entries: [{{name: *a{levels}}}]")
    return "\n".join(lines) + "\n"


def _entries(n: int) -> str:
    return "format: 1\nentries:\n" + "".join(
        f"  - {{name: e{i}}}\n" for i in range(n))


#: name -> (content: text, bytes, or a callable making the path itself;
#: the line the error must name (None: the file as a whole); words the
#: message must hold; how many errors).
Case = tuple[Any, "int | None", str, int]
CORPUS: dict[str, Case] = {
    # Aliases: refused where they stand, never expanded.
    "alias-chain-8": (_laughs(8), 2, "YAML anchor '&a0'", 1),
    "alias-chain-12": (_laughs(12), 2, "anchors and aliases are not "
                       "allowed", 1),
    "alias-undefined": ("format: 1\nentries: [{name: *a}]\n", 2,
                        "YAML alias '*a'", 1),
    "anchor-in-flow": ("format: 1\nentries: [&e {name: a}, *e]\n", 2,
                       "YAML anchor '&e'", 1),
    # Nesting: the block form stops at level 33, the flow form at
    # libyaml's own limit (its scanner looks ahead) — both located.
    "deep-block": ("format: 1\nentries:\n" + "".join(
        "  " * i + "- \n" for i in range(40)), 34,
        "nested deeper than 32 levels", 1),
    "deep-flow": ("format: 1\nentries: " + "[" * 100_000 + "]" * 100_000
                  + "\n", 2, "nest", 1),
    # Huge scalars (a name, a key) and integers.
    "huge-name": ("format: 1\nentries:\n  - name: " + "a" * 900_000 + "\n",
                  3, "a value of 900000 characters, more than the 4096 "
                  "allowed: 'aaaa", 1),
    "huge-key": ("format: 1\nentries:\n  - " + "k" * 900_000 + ": 1\n", 3,
                 "a value of 900000 characters", 1),
    "huge-integer": ("format: 1\nentries:\n  - name: x\n    preference: "
                     + "9" * 70 + "\n", 4, "an integer of "
                     f"{(10 ** 70 - 1).bit_length()} bits, more than the 64",
                     1),
    # Size: refused before it is read.
    "huge-file": ("format: 1\nentries:\n" + "# padding\n" * 150_000, None,
                  "1500019 bytes, more than [os_vif_pref] "
                  "catalogue_max_file_bytes = 1048576 allows", 1),
    # Many entries: the node bound; many invalid ones: 20 errors, then one
    # saying there are more.
    "many-nodes": ("format: 1\nentries:\n" + "- {}\n" * 200_000, 99_998,
                   "more than 100000 YAML nodes", 1),
    "many-invalid-entries": (_entries(30_000), 3, "a new entry needs", 21),
    # Not text, or not YAML.
    "binary-junk": (random.Random(20).randbytes(4096), 1, "not UTF-8 text",
                    1),
    "invalid-utf8": (b"format: 1\nentries:\n  - name: caf\xe9\n", 3,
                     "not UTF-8 text: byte 0xe9", 1),
    "control-characters": (b"format: 1\x00\nentries: []\n", 1,
                           "character #x0000 is not allowed", 1),
    # Not a file.
    "directory": (lambda p: p.mkdir(), None,
                  "is a directory; a catalogue file must be a regular file",
                  1),
    "fifo": (lambda p: os.mkfifo(p), None, "is a fifo", 1),
}


def make(tmp: Path, name: str) -> Path:
    content = CORPUS[name][0]
    path = tmp / f"{name}.yaml"
    if callable(content):
        content(path)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


# --------------------------------------------------------------------------
# Children with a memory limit, measured
# --------------------------------------------------------------------------

def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def run_child(args: list[str], cwd: Path,
              env: dict[str, str] | None = None,
              ) -> tuple[int, str, str, float, int]:
    """``(exit code, stdout, stderr, seconds, peak RSS bytes)`` of a
    Python child limited to :data:`ADDRESS_SPACE`.

    The child is reaped with ``wait4``, which gives that child's own peak
    RSS (``RUSAGE_CHILDREN`` would give the largest of all children);
    its output goes to files, so nothing waits on a pipe meanwhile.
    """
    out_path, err_path = cwd / "child.out", cwd / "child.err"
    start = time.monotonic()
    with open(out_path, "w") as out, open(err_path, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, *args], cwd=cwd, stdout=out, stderr=err,
            preexec_fn=_limit, env={**os.environ, **(env or {})})
    deadline = start + MAX_SECONDS * 3
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            os.wait4(proc.pid, 0)
            pytest.fail(f"child {args[:2]} still running after "
                        f"{MAX_SECONDS * 3} s")
        time.sleep(0.05)
    seconds = time.monotonic() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return (proc.returncode, out_path.read_text(), err_path.read_text(),
            seconds, usage.ru_maxrss * 1024)


def check_report(lines: list[str], path: Path, case: Case) -> None:
    """The report names the file (and the line), says what is wrong in a
    line no longer than MAX_LINE, and holds the case's number of errors."""
    _content, line, words, count = case
    assert len(lines) == count, lines[:3]
    first = lines[0]
    where = f"{path}:{line}:" if line is not None else f"{path}: "
    assert first.startswith(where), first
    assert words in "\n".join(lines), first
    assert max(map(len, lines)) <= MAX_LINE, max(lines, key=len)[:500]


def check_cost(seconds: float, rss: int, what: str) -> None:
    assert seconds < MAX_SECONDS, f"{what}: {seconds:.1f} s"
    assert rss < MAX_RSS, f"{what}: peak RSS {rss / 2 ** 20:.0f} MiB"


# --------------------------------------------------------------------------
# The corpus through validate, load and the Nova integration
# --------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(CORPUS))
def test_validate_refuses_in_bounded_time_and_memory(tmp_path, name):
    path = make(tmp_path, name)
    rc, out, err, seconds, rss = run_child(
        ["-m", "os_vif_pref.cli.main", "catalogue", "validate", "--alone",
         str(path)], tmp_path)
    assert rc == 1, err[-2000:]
    lines = out.splitlines()
    assert lines[-1] == f"{CORPUS[name][3]} error(s) in 1 file(s)"
    check_report(lines[:-1], path, CORPUS[name])
    assert "Traceback" not in err
    check_cost(seconds, rss, name)


LOAD = textwrap.dedent("""\
    import json, sys
    from os_vif_pref import catalogue
    cat = catalogue.load([catalogue.bundled_files(), [sys.argv[1]]])
    print(json.dumps({"errors": [str(e) for e in cat.errors],
                      "entries": [e.name for e in cat.entries]}))
""")


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_load_leaves_the_file_out_and_loads_the_rest(tmp_path, name):
    path = make(tmp_path, name)
    rc, out, err, seconds, rss = run_child(["-c", LOAD, str(path)],
                                           tmp_path)
    assert rc == 0, err[-2000:]
    result = json.loads(out)
    check_report(result["errors"], path, CORPUS[name])
    bundled = catalogue.load([catalogue.bundled_files()])
    assert result["entries"] == [e.name for e in bundled.entries]
    check_cost(seconds, rss, name)


def test_load_in_process_raises_only_catalogue_errors(tmp_path):
    """Strict loading of every case raises CatalogueInvalid, whose
    message is as short as the report."""
    for name in sorted(CORPUS):
        path = make(tmp_path, name)
        with pytest.raises(exceptions.CatalogueInvalid) as err:
            catalogue.load([[path]], strict=True)
        assert len(err.value.errors) == CORPUS[name][3]
        assert len(str(err.value)) <= 40 + CORPUS[name][3] * MAX_LINE


START = textwrap.dedent("""\
    import json, logging, sys, time
    from oslo_config import cfg
    from os_vif_pref import offer
    from os_vif_pref.nova import integration
    from tests.nova.probers import OVS_DPDK, CapabilityProber

    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append((record.levelname, record.getMessage()))

    logging.getLogger().addHandler(Keep())
    logging.getLogger().setLevel(logging.INFO)
    cfg.CONF([], project="nova")
    cfg.CONF.set_override("catalogue_dirs", [sys.argv[1]], "os_vif_pref")

    class Meta:
        def __contains__(self, key):
            return False

    class Flavor:
        extra_specs = {}

    class Instance:
        uuid = "inst-1"
        flavor = Flavor()
        image_meta = Meta()

    start = time.monotonic()
    on = integration.switch_on(
        hosts=["compute1"], prober_for=lambda h: CapabilityProber(OVS_DPDK),
        refresh_interval=0, install=False)
    seconds = time.monotonic() - start
    profile = integration.add_offer({}, Instance(), "normal", "compute1")
    plist = integration._state.plists.get("compute1")
    print(json.dumps({
        "on": on, "seconds": seconds, "records": records,
        "offered": offer.decode(profile).names() if profile else [],
        "entries": [r.name for r in plist] if plist else []}))
""")

#: The good vendor file next to the hostile ones: it must load.
VENDOR = textwrap.dedent("""\
    format: 1
    entries:
      - name: acme-tap
        preference: 5
        neutron: {vif_type: acme_tap, vnic_types: [normal]}
        os_vif:
          object: VIFGeneric
          versions: {min: "1.0", max: "1.0"}
          fields:
            vif_name: {name: {prefix: tap}}
        plugin: pref_tap
        requires: ["kernel_link:tun"]
""")


def test_nova_integration_start_with_a_hostile_catalogue_dir(tmp_path):
    """Inside nova-compute: each hostile file in the operator's directory
    is one ERROR line naming it and is left out; the vendor file next to
    them and the bundled catalogue load, the host's offer goes out; the
    start costs no more than the bounds."""
    cat_dir = tmp_path / "catalogue.d"
    cat_dir.mkdir()
    hostile = [n for n in sorted(CORPUS) if CORPUS[n][3] == 1]
    paths = [make(cat_dir, n) for n in hostile]
    (cat_dir / "zz-acme.yaml").write_text(VENDOR)
    rc, out, err, seconds, rss = run_child(
        ["-c", START, str(cat_dir)], Path(__file__).parents[2],
        env={"PYTHONPATH": str(Path(__file__).parents[2])})
    assert rc == 0, err[-3000:]
    result = json.loads(out)
    assert result["on"]
    errors = [m for level, m in result["records"] if level == "ERROR"]
    assert len(errors) == len(paths), errors
    for path in paths:
        naming = [m for m in errors if f"{path}:" in m]
        assert len(naming) == 1, (path, errors)
    assert max(map(len, errors)) <= MAX_LINE + 40
    assert "acme-tap" in result["entries"]
    assert {"ovs", "tap", "acme-tap"} <= set(result["offered"])
    check_cost(seconds, rss, "integration start")
    check_cost(result["seconds"], 0, "switch_on")


# --------------------------------------------------------------------------
# The bounds, exactly; fast and slow parsers agree
# --------------------------------------------------------------------------

def _errors_of(tmp_path: Path, text: str) -> list[exceptions.CatalogueError]:
    path = tmp_path / "f.yaml"
    path.write_text(text)
    return list(catalogue.load([[path]]).errors)


def _nested(depth: int) -> str:
    """A file whose deepest collection is at ``depth`` (the top mapping
    is 1, ``entries`` 2, an entry 3)."""
    value: Any = "x"
    for _ in range(depth - 3):
        value = [value]
    return yaml.safe_dump({"format": 1, "entries": [{"name": "a",
                                                     "description": value}]})


@settings(max_examples=40, deadline=None)
@given(depth=st.integers(3, catalogue.MAX_DEPTH + 8),
       slow=st.booleans())
def test_depth_bound_is_exact(tmp_path_factory, depth, slow):
    """Refused exactly above MAX_DEPTH, by the fast parser and by the slow
    one (an anchor-like comment sends the file there) alike."""
    text = ("# &slow\n" if slow else "") + _nested(depth)
    errors = _errors_of(tmp_path_factory.mktemp("d"), text)
    refused = [e for e in errors if "nested deeper" in e.reason]
    assert bool(refused) == (depth > catalogue.MAX_DEPTH), errors
    if refused:
        assert refused[0].line is not None


@settings(max_examples=40, deadline=None)
@given(extra=st.integers(-3, 3), slow=st.booleans(),
       char=st.sampled_from("aé€"))
def test_scalar_bound_is_exact(tmp_path_factory, extra, slow, char):
    """Refused exactly above MAX_SCALAR_CHARS characters (not bytes)."""
    n = catalogue.MAX_SCALAR_CHARS + extra
    text = ("# &slow\n" if slow else "") + yaml.safe_dump(
        {"format": 1, "entries": [{"name": "a", "description": char * n}]},
        width=10 ** 6, allow_unicode=True)
    errors = _errors_of(tmp_path_factory.mktemp("s"), text)
    refused = [e for e in errors if "characters, more than" in e.reason]
    assert bool(refused) == (n > catalogue.MAX_SCALAR_CHARS), errors
    if refused:
        assert refused[0].field == "entries[0].description"
        assert len(str(refused[0])) <= MAX_LINE


@settings(max_examples=30, deadline=None)
@given(st.recursive(
    st.text(max_size=5) | st.integers(-5, 5),
    lambda children: st.lists(children, min_size=1, max_size=3)
    | st.dictionaries(st.text("abc", min_size=1, max_size=3), children,
                      min_size=1, max_size=3),
    max_leaves=10))
def test_shared_values_are_refused_at_their_anchor(tmp_path_factory, value):
    """Any value PyYAML writes with an anchor (a shared reference) is
    refused, at the anchor's line, whatever it holds."""
    shared = [value]
    text = yaml.safe_dump({"format": 1, "entries": [
        {"name": "a", "x": shared}, {"name": "b", "x": shared}]})
    errors = _errors_of(tmp_path_factory.mktemp("a"), text)
    assert len(errors) == 1
    anchor_line = next(i for i, line in enumerate(text.splitlines(), 1)
                       if "&id" in line)
    assert errors[0].line == anchor_line
    assert "anchors and aliases are not allowed" in errors[0].reason


def test_file_size_option_is_read(tmp_path, monkeypatch):
    """The size bound is [os_vif_pref] catalogue_max_file_bytes, named in
    the message, and a file at the bound still loads."""
    text = "format: 1\nentries: []\n# " + "p" * 2000 + "\n"
    path = tmp_path / "f.yaml"
    path.write_text(text + "\n")
    size = len(text) + 1
    catalogue.CONF.set_override("catalogue_max_file_bytes", size,
                                "os_vif_pref")
    try:
        assert catalogue.load([[path]]).errors == ()
        catalogue.CONF.set_override("catalogue_max_file_bytes", size - 1,
                                    "os_vif_pref")
        err, = catalogue.load([[path]]).errors
        assert err.reason == (
            f"{size} bytes, more than [os_vif_pref] catalogue_max_file_bytes"
            f" = {size - 1} allows; not read")
    finally:
        catalogue.CONF.clear_override("catalogue_max_file_bytes",
                                      "os_vif_pref")


def test_node_bound_is_exact(tmp_path):
    """MAX_NODES nodes load (as far as the bound goes), one more does not:
    the top mapping, its two keys, ``format``'s value, the list, and its
    items."""
    items = catalogue.MAX_NODES - 5
    for n, refused in ((items, False), (items + 1, True)):
        text = "format: 1\nentries:\n" + "- 1\n" * n
        for slow in (False, True):
            errors = _errors_of(tmp_path, ("# &s\n" if slow else "") + text)
            assert any("YAML nodes" in e.reason for e in errors) == refused


# --------------------------------------------------------------------------
# The excerpt every message uses
# --------------------------------------------------------------------------

@given(st.text(max_size=300), st.integers(1, 120))
def test_excerpt_is_short_and_exact(value, limit):
    out = exceptions.excerpt(value, limit)
    if len(value) <= limit:
        assert out == repr(value)
    else:
        more = len(value) - limit
        assert out == f"{value[:limit]!r}... ({more} more characters)"
        assert len(out) <= len(repr(value[:limit])) + 30
    plain = exceptions.excerpt(value, limit, quote=False)
    assert plain.startswith(value[:limit])


def test_excerpt_of_other_values():
    assert exceptions.excerpt(b"\xff" * 100, 4) == (
        "b'\\xff\\xff\\xff\\xff'... (96 more bytes)")
    value = {"k": "v" * 200}
    assert exceptions.excerpt(value, 20) == (
        f"{repr(value)[:20]}... ({len(repr(value)) - 20} more characters)")
    assert exceptions.excerpt(10 ** 5000) == "<int too long to show>"


InputCheck = Callable[[str], str]


def _offer_message(value: str) -> str:
    from os_vif_pref import offer
    with pytest.raises(exceptions.MalformedOffer) as err:
        offer.decode({offer.KEY: {"v": "2.0", "h": value, "i": []}})
    return str(err.value)


def _port_message(value: str) -> str:
    from os_vif_pref.nova import ports
    with pytest.raises(ports.InvalidPort) as err:
        ports.binding_of({"id": value, "type": None})
    return str(err.value)


def _details_message(value: str) -> str:
    from os_vif_pref import offer
    from os_vif_pref.nova import check
    bundled = catalogue.load([catalogue.bundled_files()])
    the_offer = offer.from_entries([bundled.get("tap")], host="compute1")
    with pytest.raises(check.BindingNotAcceptable) as err:
        check.check_binding({"id": value, "type": value, "vnic_type": value,
                             "details": {value: value}}, the_offer)
    return str(err.value)


def _inputs_message(value: str) -> str:
    from os_vif_pref.cli import inputs
    with pytest.raises(exceptions.InvalidArgument) as err:
        inputs.ports({value: 1, "x": value}, "port", value)
    return str(err.value)


def _instance_message(value: str) -> str:
    from os_vif_pref import preference
    with pytest.raises(exceptions.InvalidArgument) as err:
        preference.InstanceInfo.from_dict({"vnic_type": value})
    return str(err.value)


@pytest.mark.parametrize("reader, size", [
    # The offer decoder refuses 5 MB whole (offer_max_bytes): a host name
    # as long as the budget allows is quoted.
    (_offer_message, 3000),
    (_port_message, 5_000_000), (_details_message, 5_000_000),
    (_inputs_message, 5_000_000), (_instance_message, 5_000_000)])
def test_readers_quote_an_excerpt_of_a_huge_value(reader, size):
    """The offer and port readers, the CLI's input reader, the instance
    reader: a huge value is quoted as an excerpt, so the message stays a
    line or two."""
    message = reader("v" * size)
    more = size - exceptions.EXCERPT_CHARS
    # Quoted ('vvv'...) or, for an id in running text, not (vvv...).
    assert re.search(f"v{{{exceptions.EXCERPT_CHARS}}}'?\\.\\.\\. "
                     f"\\({more} more characters\\)", message), message[:300]
    assert len(message) < 1200, message[:300]


def test_cli_reports_a_huge_port_in_one_short_line(tmp_path):
    """``convert`` on a port whose id, vif_type and vif_details key are
    megabytes long, and ``catalogue show`` of a huge name: one short
    error, exit 1."""
    from os_vif_pref.testing import cli

    big = "v" * 3_000_000
    port = tmp_path / "port.json"
    port.write_text(json.dumps({"port": {
        "id": big, "mac_address": "fa:16:3e:00:00:01", "network_id": "n",
        "binding:vif_type": big, "binding:vnic_type": "normal",
        "binding:vif_details": {big[:2_000_000]: 1}}}))
    for args in (("convert", str(port)), ("catalogue", "show", big)):
        rc, out, err = cli.run(*args)
        assert rc == 1
        assert "more characters)" in err
        assert len(out + err) < 1200, (out + err)[:300]
