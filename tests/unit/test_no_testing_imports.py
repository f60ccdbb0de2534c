"""Product code never imports :mod:`os_vif_pref.testing`.

``os_vif_pref/testing`` is for our tests and vendors' suites (it needs
pytest, among others); what the product itself needs from there lives in
product modules (``os_vif_pref/sandbox`` for the demo) that testing
re-exports.  The check is static, over every file of the package, so an
import inside a function (the demo's are) counts as much as one at the top,
and a module nothing imports at test time is still read.

import-linter checks the same rule (setup.cfg ``[importlinter]``, contract
``no-testing``); this test stays for what it does not see, a module named
in a string (``importlib.import_module('os_vif_pref.testing...')``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import os_vif_pref

PACKAGE = "os_vif_pref"
FORBIDDEN = PACKAGE + ".testing"
PACKAGE_DIR = Path(os_vif_pref.__file__).parent


def _module_name(path: Path, root: Path, package: str) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([package, *parts])


def _forbidden(name: str) -> bool:
    return name == FORBIDDEN or name.startswith(FORBIDDEN + ".")


def _imports(tree: ast.AST, module: str, is_package: bool
             ) -> list[tuple[int, str]]:
    """Every module name ``tree`` imports (line, name), relative imports
    resolved and ``from X import Y`` counted as ``X.Y`` too (Y may be a
    module), plus ``importlib.import_module``/``__import__`` of a string."""
    here = module if is_package else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here.split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{a.name}") for a in node.names]
        elif (isinstance(node, ast.Call) and node.args
              and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)):
            func = node.func
            name = (func.attr if isinstance(func, ast.Attribute)
                    else getattr(func, "id", ""))
            if name in ("import_module", "__import__"):
                found.append((node.lineno, node.args[0].value))
    return found


def violations(root: Path, package: str = PACKAGE
               ) -> tuple[list[str], list[str]]:
    """(files read, ``file:line: name`` for each import of the testing
    package) over ``root``, the directory of ``package``, except
    ``root/testing`` itself."""
    read, bad = [], []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if rel.parts[0] == "testing":
            continue
        read.append(str(rel))
        module = _module_name(path, root, package)
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for line, name in _imports(tree, module,
                                   path.name == "__init__.py"):
            if _forbidden(name):
                bad.append(f"{package}/{rel}:{line}: {name}")
    return read, bad


def test_product_code_does_not_import_testing() -> None:
    read, bad = violations(PACKAGE_DIR)
    # The scan did read the product (the demo included), not nothing.
    assert "cli/demo/steps.py" in read and "sandbox/ovs.py" in read, read
    assert not any(r.startswith("testing/") for r in read)
    assert bad == [], (
        "product modules import os_vif_pref.testing (move what they need "
        "into a product module that testing re-exports):\n"
        + "\n".join(bad))


def test_the_guard_catches_every_spelling(tmp_path: Path) -> None:
    """The check can fail: a fake package with one violation per file."""
    root = tmp_path / PACKAGE
    (root / "testing").mkdir(parents=True)
    (root / "cli").mkdir()
    files = {
        "top.py": "import os_vif_pref.testing.netns\n",
        "frm.py": "from os_vif_pref.testing import private_ovs\n",
        "pkg.py": "from os_vif_pref import catalogue, testing\n",
        "cli/late.py": ("def run():\n"
                        "    from os_vif_pref.testing import ml2\n"),
        "cli/rel.py": "from ..testing import conformance\n",
        "cli/rel2.py": "from .. import testing\n",
        "dyn.py": ("import importlib\n"
                   "m = importlib.import_module('os_vif_pref.testing.x')\n"),
    }
    clean = {
        "ok.py": ("from os_vif_pref import catalogue\n"
                  "import os_vif_pref.testing_notes\n"
                  "from os_vif_pref.sandbox import ovs\n"),
        "testing/inner.py": "from os_vif_pref.testing import netns\n",
    }
    for rel, text in {**files, **clean}.items():
        (root / rel).write_text(text)
    read, bad = violations(root)
    assert "testing/inner.py" not in read
    caught = {entry.split(":")[0].removeprefix(PACKAGE + "/")
              for entry in bad}
    assert caught == set(files), bad
    assert f"{PACKAGE}/cli/late.py:2: os_vif_pref.testing.ml2" in bad
