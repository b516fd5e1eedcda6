"""The fuzz campaign (issues 14 and 26): every family of hostile input through the real CLI or the
Python API, each case in a forked child with a wall-clock limit (10 s; 90 s for cases that
train) and a 3 GiB address-space limit, its working folder a fresh scratch folder
(tests/fuzz/harness.py), judged: exit 0 with finite numbers, or exit 2 with one clear line (for
the API: a return, or one of the project's error types with a one-line message); anything else
is counted by signature. Every case is also judged on what it changed outside its run folder
(the scratch folder, its parent, the folder planted links point to) and on the child's peak
resident memory.

Families and default sizes: mutated ONNX files (byte and protobuf level) 10,000; `--set` values,
hardware TOML files, `--input-shape` strings, sparsity JSON files and sweep `--vary` strings
1,000 each; data files for `prune --data` 1,000; tampered run folders, planted links, inputs
under 10 MB that ask for too much memory or time, and API calls with bad arguments 250 each.
Targets: 0 crashes, 0 hangs, 0 exits 0 with non-finite numbers in the output, 0 writes outside
the run folder, peak RSS under 1 GB.

Run: .venv/bin/python benchmarks/fuzz_campaign.py [--scale 0.1] [--families onnx,set] [--size api=100]
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
from fuzz.harness import (MEMORY_LIMIT, RSS_LIMIT_MB, SLOW_LIMIT, TIME_LIMIT, Scene, problems,  # noqa: E402
                          time_limit_for, warm_up)

SIZES = {"onnx": 10_000, "set": 1_000, "hardware": 1_000, "input-shape": 1_000, "sparsity": 1_000,
         "vary": 1_000, "data": 1_000, "run-folder": 250, "symlinks": 250, "resources": 250, "api": 250}
KEEP = {"outside", "cwd", "bases"}        # the folders the harness watches, the real run folders



def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every family's size")
    ap.add_argument("--families", default=",".join(SIZES))
    ap.add_argument("--size", action="append", default=[], metavar="FAMILY=N",
                    help="this many cases of the family (instead of its size times --scale)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cases", default="",
                    help="run only these case numbers of each family (e.g. the ones a loaded run flagged), "
                         "generated as in the full run")
    args = ap.parse_args()
    only = {int(c) for c in args.cases.split(",") if c}
    sizes = {k: int(v) for k, v in (item.split("=") for item in args.size)}
    warm_up()
    import resource
    parent_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = ["| family | cases | exit 0 | exit 2 | crashes | hangs | writes outside | other problems | slowest s | "
            "peak RSS MB | worst signature |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    totals = collections.Counter()
    peak_all = 0.0
    t_all = time.perf_counter()
    for family in args.families.split(","):
        n = max(1, sizes.get(family, int(SIZES[family] * args.scale)), max(only, default=-1) + 1)
        tmp = Path(tempfile.mkdtemp(prefix=f"fuzz-{family}-"))
        generate = FAMILIES[family]
        scene = Scene(tmp, watch_cwd=not getattr(generate, "writes_in_cwd", False))
        counts = collections.Counter()
        signatures = collections.Counter()
        slowest = peak = 0.0
        try:
            for i, (label, case) in enumerate(generate(n, args.seed, tmp)):
                if only and i not in only:
                    continue
                o = scene.run(case)
                slowest, peak = max(slowest, o.seconds), max(peak, o.peak_rss_mb)
                found = problems(o, time_limit_for(case))
                counts["cases"] += 1
                counts[f"exit {o.code}"] += 1
                kinds = set()                          # a case counts once per kind
                for p in found:
                    kinds.add("hangs" if p.startswith("crash: hang") or p.startswith("slow") else
                              "crashes" if p.startswith("crash") else
                              "outside" if p.startswith("write outside") else "other")
                    signatures[p[:100]] += 1
                    print(f"[{family}] {label}: {p}", flush=True)
                counts.update(kinds)
                if i % 500 == 499:
                    print(f"[{family}] {i + 1}/{n} cases", flush=True)
                    for child in tmp.iterdir():      # keep the disk use bounded
                        if child.is_dir() and child.name not in KEEP:
                            shutil.rmtree(child, ignore_errors=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        worst = signatures.most_common(1)[0][0] if signatures else "-"
        rows.append(f"| {family} | {counts['cases']:,} | {counts['exit 0']:,} | {counts['exit 2']:,} | "
                    f"{counts['crashes']} | {counts['hangs']} | {counts['outside']} | {counts['other']} | "
                    f"{slowest:.1f} | {peak:.0f} | {worst} |")
        totals.update(counts)
        peak_all = max(peak_all, peak)
    ok = all(totals[k] == 0 for k in ("crashes", "hangs", "outside", "other")) and peak_all < RSS_LIMIT_MB
    notes = (("Only cases " + args.cases + " of each family. " if only else "") +
             f"Seed {args.seed}; sizes {', '.join(f'{f} {sizes.get(f, int(SIZES[f] * args.scale))}' for f in args.families.split(','))}. "
             f"Each case forked from a warmed-up parent (imports shared; the parent's peak RSS {parent_mb:.0f} MB, "
             f"which a child's RSS includes), {TIME_LIMIT:g} s ({SLOW_LIMIT:g} s for prune, search and API calls) and "
             f"{MEMORY_LIMIT >> 30} GiB of address space per case. "
             f"{totals['cases']:,} cases in {(time.perf_counter() - t_all) / 60:.0f} min. "
             f"Target (0 crashes, 0 hangs, 0 non-finite outputs or malformed errors, 0 writes outside the run folder, "
             f"peak RSS under {RSS_LIMIT_MB} MB): {'met' if ok else 'NOT met'}.")
    record("fuzz_campaign.py", "fuzz_campaign.py: the fuzz campaign (issues 14 and 26)", "\n".join(rows), notes)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
