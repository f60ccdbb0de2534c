"""Load time of the binding catalogue: bundled files plus 500 vendor entries.

Goal (issue 3): loading 500 entries well under 100 ms.  Printed: median and
best of N full loads (parse, schema, semantic checks, layering), per-stage
costs, and the ratio to PyYAML's ``CSafeLoader`` merely reading the same
files (the obvious implementation, which alone is several times slower than
our whole load: we parse with yaml-rs and validate with a compiled schema,
and pay for PyYAML's positions only when an error must be located).

    python benchmarks/bench_catalogue.py [--entries 500] [--runs 20]
"""

from __future__ import annotations

import argparse
from pathlib import Path
import statistics
import tempfile

from timing import timed
import yaml

from os_vif_pref import catalogue

ENTRY = """\
  - name: vendor-{i}
    description: Generated binding number {i}.
    preference: {pref}
    neutron:
      vif_type: vendor_{i}
      vnic_types: [normal, direct]
      vif_details:
        match: {{vendor_plug: true}}
        required: [vendor_socket]
    os_vif:
      object: VIFOpenVSwitch
      versions: {{min: "1.0", max: "1.0"}}
      fields:
        vif_name: {{name: {{prefix: tap}}}}
        bridge_name: {{network: bridge}}
      port_profile:
        object: VIFPortProfileOpenVSwitch
        versions: {{min: "1.0", max: "1.4"}}
        fields:
          interface_id: {{port: [ovs_interfaceid, id]}}
          datapath_type: {{detail: datapath_type}}
    plugin: vendor_plugin
    requires: [ovsdb, "ovs_datapath:netdev"]
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--entries", type=int, default=500)
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "vendor.yaml"
        path.write_text("format: 1\nentries:\n" + "".join(
            ENTRY.format(i=i, pref=i % 1000) for i in range(args.entries)))
        layers = [catalogue.bundled_files(), [str(path)]]
        files = [*layers[0], path]
        cat = catalogue.load(layers, strict=True)
        n = len(cat)
        full = timed(lambda: catalogue.load(layers, strict=True), args.runs)
        floor = timed(lambda: [yaml.load(f.read_text(),
                                         Loader=catalogue.parse._Loader)
                               for f in files], args.runs)
        parse = timed(lambda: catalogue.parse._parse(str(path)), args.runs)
        doc, _ = catalogue.parse._parse(str(path))
        schema = timed(
            lambda: catalogue.schema_check._schema_errors(doc), args.runs)
    med, flo = statistics.median(full), statistics.median(floor)
    print(f"catalogue load, {n} entries ({args.entries} vendor + bundled), "
          f"{args.runs} runs")
    print(f"  full load        median {med:7.2f} ms  best {min(full):7.2f} ms"
          f"  (goal < 100 ms: {'met' if med < 100 else 'NOT met'})")
    print(f"    parse+marks    median {statistics.median(parse):7.2f} ms")
    print(f"    json schema    median {statistics.median(schema):7.2f} ms")
    print(f"  PyYAML CSafeLoader read only  median {flo:7.2f} ms")
    print(f"  ratio ours/PyYAML-read        {med / flo:7.2f}x "
          f"({flo / med:.1f}x faster)")


if __name__ == "__main__":
    main()
