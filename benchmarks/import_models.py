"""Time the ONNX import (load + shape inference + layer extraction) of the nine bundled graphs.

Target (issue 2): each well under 2 s. Median of 5 runs per model, after one warm-up run.
Usage: .venv/bin/python benchmarks/import_models.py
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _record import record  # noqa: E402

from codesign.graph import load_network  # noqa: E402
from codesign.models import BUNDLED, light_model_path  # noqa: E402


def main() -> None:
    rows = []
    for name in BUNDLED:
        load_network(name)
        times = []
        for _ in range(5):
            start = time.perf_counter()
            network = load_network(name)
            times.append(time.perf_counter() - start)
        size_kb = light_model_path(name).stat().st_size / 1024
        rows.append(f"| {name} | {size_kb:,.0f} | {len(network.model.graph.node)} | {len(network.layers)} | "
                    f"{network.total_params:,} | {network.total_macs:,} | {1000 * statistics.median(times):.1f} | "
                    f"{1000 * max(times):.1f} |")
    table = ("| model | file KB | nodes | compute layers | weights | MACs | median ms | max ms |\n"
             "|---|---|---|---|---|---|---|---|\n" + "\n".join(rows))
    record("import_models.py", "ONNX import of the bundled graphs (issue 2)", table,
           "Target: each well under 2 s (2000 ms). MACs: one multiply-add = one MAC.")


if __name__ == "__main__":
    main()
