"""Put Nova's api-paste.ini where Nova's own tests look for it.

Nova's test configuration (nova/tests/fixtures/conf.py) points
``api_paste_config`` at ``<state_path>/etc/nova/api-paste.ini`` and
state_path defaults to the directory holding the ``nova`` package, i.e.
site-packages; the wheel installs the file under ``<prefix>/etc/nova``
instead. tox runs this before the tests (``commands_pre``); it is safe to
run again and does nothing when Nova is not installed.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
import shutil
import sys


def main() -> int:
    spec = importlib.util.find_spec("nova")
    if spec is None or not spec.submodule_search_locations:
        print("nova is not installed: nothing to do")
        return 0
    site = Path(next(iter(spec.submodule_search_locations))).parent
    source = Path(sys.prefix) / "etc" / "nova"
    target = site / "etc" / "nova"
    if not (source / "api-paste.ini").exists():
        print(f"no api-paste.ini under {source}", file=sys.stderr)
        return 1
    target.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        if item.is_file():
            shutil.copy2(item, target / item.name)
    print(f"copied {source} to {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
