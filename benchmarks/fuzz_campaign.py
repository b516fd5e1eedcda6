"""The fuzz campaign (issue 14): every family of hostile input through the real CLI, each case in a
forked child with a 10 s wall-clock and a 3 GiB memory limit (tests/fuzz/harness.py), judged:
exit 0 with finite numbers, or exit 2 with one clear line; anything else is counted by signature.

Families and default sizes: mutated ONNX files (byte and protobuf level) 10,000; `--set` values,
hardware TOML files, `--input-shape` strings, sparsity JSON files and sweep `--vary` strings
1,000 each; data files for `prune --data` 1,000. Targets: 0 crashes, 0 hangs over 10 s, 0 exits
0 with non-finite numbers in the output.

Run: .venv/bin/python benchmarks/fuzz_campaign.py [--scale 0.1] [--families onnx,set]
"""
from __future__ import annotations

import argparse
import collections
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT / "tests"))      # the fuzz package
sys.path.insert(0, str(ROOT))                # before tests/, whose codesign/ holds the tests

from _record import record  # noqa: E402
from fuzz.generators import FAMILIES  # noqa: E402
from fuzz.harness import TIME_LIMIT, problems, run_forked, warm_up  # noqa: E402

SIZES = {"onnx": 10_000, "set": 1_000, "hardware": 1_000, "input-shape": 1_000, "sparsity": 1_000,
         "vary": 1_000, "data": 1_000}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every family's size")
    ap.add_argument("--families", default=",".join(SIZES))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cases", default="",
                    help="run only these case numbers of each family (e.g. the ones a loaded run flagged), "
                         "generated as in the full run")
    args = ap.parse_args()
    only = {int(c) for c in args.cases.split(",") if c}
    warm_up()
    rows = ["| family | cases | exit 0 | exit 2 | crashes | hangs (> 10 s) | other problems | slowest s | worst signature |",
            "|---|---|---|---|---|---|---|---|---|"]
    totals = collections.Counter()
    t_all = time.perf_counter()
    for family in args.families.split(","):
        n = max(1, int(SIZES[family] * args.scale), max(only, default=-1) + 1)
        tmp = Path(tempfile.mkdtemp(prefix=f"fuzz-{family}-"))
        counts = collections.Counter()
        signatures = collections.Counter()
        slowest = 0.0
        try:
            for i, (label, argv) in enumerate(FAMILIES[family](n, args.seed, tmp)):
                if only and i not in only:
                    continue
                o = run_forked(argv, TIME_LIMIT)
                slowest = max(slowest, o.seconds)
                found = problems(o)
                counts["cases"] += 1
                counts[f"exit {o.code}"] += 1
                kinds = set()                          # a case counts once per kind
                for p in found:
                    kinds.add("hangs" if p.startswith("crash: hang") or p.startswith("slow") else
                              "crashes" if p.startswith("crash") else "other")
                    signatures[p[:100]] += 1
                    print(f"[{family}] {label}: {p}", flush=True)
                counts.update(kinds)
                if i % 500 == 499:
                    print(f"[{family}] {i + 1}/{n} cases", flush=True)
                    for child in tmp.iterdir():      # keep the disk use bounded
                        if child.is_dir():
                            shutil.rmtree(child, ignore_errors=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        worst = signatures.most_common(1)[0][0] if signatures else "-"
        rows.append(f"| {family} | {counts['cases']:,} | {counts['exit 0']:,} | {counts['exit 2']:,} | "
                    f"{counts['crashes']} | {counts['hangs']} | {counts['other']} | {slowest:.1f} | {worst} |")
        totals.update(counts)
    ok = totals["crashes"] == 0 and totals["hangs"] == 0 and totals["other"] == 0
    notes = (("Only cases " + args.cases + " of each family. " if only else "") + f"Seed {args.seed}; each case forked from a warmed-up parent (imports shared), {TIME_LIMIT:g} s and "
             f"3 GiB per case. {totals['cases']:,} cases in {(time.perf_counter() - t_all) / 60:.0f} min. "
             f"Target (0 crashes, 0 hangs, 0 non-finite outputs or malformed errors): {'met' if ok else 'NOT met'}.")
    record("fuzz_campaign.py", "fuzz_campaign.py: the fuzz campaign (issue 14)", "\n".join(rows), notes)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
