"""``list_opts()`` really returns every option: the generator documents all."""

from __future__ import annotations

from pathlib import Path
import re
import shutil
import subprocess
import sys

from oslo_config import cfg

from os_vif_pref import conf


def test_list_opts_covers_every_registered_option():
    listed = {(group, opt.dest) for group, opts in conf.list_opts()
              for opt in opts}
    # Import every module that declares options, then compare with what
    # cfg.CONF holds under our groups.
    registered = set()
    for group in list(cfg.CONF):
        if not group.startswith("os_vif_pref"):
            continue
        attr = cfg.CONF[group]
        if isinstance(attr, cfg.ConfigOpts.GroupAttr):
            registered |= {(group, name) for name in attr}
    assert registered, "no os_vif_pref option registered"
    assert registered <= listed, registered - listed


def test_oslo_config_generator_renders_every_option(tmp_path: Path):
    gen = shutil.which("oslo-config-generator",
                       path=str(Path(sys.executable).parent))
    assert gen, "oslo-config-generator is installed with oslo.config"
    out = tmp_path / "sample.conf"
    subprocess.run([gen, "--namespace", "os_vif_pref", "--output-file",
                    str(out)], check=True)
    text = out.read_text()
    for group, opts in conf.list_opts():
        assert f"[{group}]" in text
        for opt in opts:
            assert re.search(rf"^#{re.escape(opt.name)} =", text,
                             re.MULTILINE), (group, opt.name)
