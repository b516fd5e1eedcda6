"""Issue 26's import limits, measured: the time to import an Identity chain (the weight walk was
quadratic: 44.5 s for 40,000 nodes) and the peak resident memory of the CLI on small hostile
inputs (a kernel wider than the input of the bundled AlexNet, folding asked to compute a huge
Expand, 200 weights naming one file's external data, an NPZ that inflates a thousandfold).

Targets: a 100,000-node chain in seconds, growing linearly; every hostile input refused (or
imported) in well under 1 GB.
Usage: .venv/bin/python benchmarks/import_limits.py
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(ROOT))
from _record import record  # noqa: E402

from codesign.graph import load_network  # noqa: E402
from tests.codesign.test_memory_bounds import (HOSTILE, external_model, identity_chain, npz_bomb,  # noqa: E402
                                               reshaped_by, run_cli)


def chains() -> list[str]:
    rows = []
    for n in (10_000, 40_000, 100_000):
        model = identity_chain(n)
        start = time.perf_counter()
        load_network(model)
        rows.append(f"| Identity chain of {n:,} nodes (load_network) | {time.perf_counter() - start:.1f} s | - |")
    return rows


def hostile(tmp: Path) -> list[str]:
    cases = {"inspect alexnet --input-shape 1x3x1x1": lambda d: ["inspect", "alexnet", "--input-shape", "1x3x1x1"]}

    def expand(d: Path) -> list[str]:
        (d / "m.onnx").write_bytes(reshaped_by(*HOSTILE["Expand"]).SerializeToString())
        return ["inspect", str(d / "m.onnx")]

    def bomb(d: Path) -> list[str]:
        npz_bomb(d / "bomb.npz", 4096 * 180)
        return ["prune", "lenet300", "--data", str(d / "bomb.npz"), "--alpha", "0.5", "--pretrain-epochs", "0",
                "--out", str(d / "run"), "--no-progress"]

    cases["inspect: a Reshape target folded from a 2^27-element Expand"] = expand
    cases["inspect: 200 weights naming one 4 MB external data file"] = lambda d: ["inspect", external_model(d, 200)]
    cases["prune --data: a 2.5 MB NPZ of 2.2 GB in training form"] = bomb
    rows = []
    for i, (what, make) in enumerate(cases.items()):
        folder = tmp / str(i)
        folder.mkdir()
        start = time.perf_counter()
        code, _, peak = run_cli(folder, *make(folder))
        rows.append(f"| {what} (exit {code}) | {time.perf_counter() - start:.1f} s | {peak:.0f} |")
    return rows


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        rows = chains() + hostile(Path(tmp))
    table = "| case | time | peak RSS MB |\n|---|---|---|\n" + "\n".join(rows)
    record("import_limits.py", "Import limits on hostile inputs (issue 26)", table,
           "Targets: chains import in time linear in their length; every hostile input in well under "
           "1 GB (the CLI started by a small Python process that reports its peak RSS, under a 3 GiB "
           "address-space limit). Before (commit aca8db8, same machine): a 20,000-node chain 13.7 s; "
           "alexnet 1x3x1x1 1,290 MB; the Expand 1,147 MB; the external data 4,168 MB; the NPZ out of "
           "memory at 3 GiB.")


if __name__ == "__main__":
    main()
