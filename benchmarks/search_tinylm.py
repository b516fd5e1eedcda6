"""The search with one-shot probes on a language model (issue 20): SparseGPT on tinylm / fortunes
for the nm-2of4 accelerator, each layer unstructured or 2:4, within a perplexity constraint.

One `codesign search tinylm --data fortunes --task lm --method sparsegpt --calibration 64 --hw
nm-2of4 --patterns unstructured,2:4 --max-drop 5 --final-epochs 0 --train-epochs 0` run (probes and candidates
compressed one-shot, no fine-tuning of the final plan), on a subset that keeps it to minutes on a
shared 2-core machine. Recorded: wall time (and the share of it spent pretraining the dense
model, once, cached), the constraint's verdict on validation and test, the exported model's
speedup on nm-2of4 with its own masks, and how many layers got 2:4 / unstructured / dense
against uniform 2:4 on every layer (the cost model's plan, `codesign.plan`). The run folder is
benchmarks/.cache/search_tinylm-dropD (a rerun with the same settings resumes).

Run: .venv/bin/python benchmarks/search_tinylm.py [--max-drop D]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _record import record  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(__file__).resolve().parent / ".cache"
MAX_DROP = 5.0                      # % perplexity increase allowed (--max-drop changes it)
# 10,000 training sequences (the validation split carved from them), 1,000 test sequences
LIMITS = ["--train-limit", "10000", "--validation", "500", "--test-limit", "1000"]
COMMAND = ["search", "tinylm", "--data", "fortunes", "--task", "lm", "--method", "sparsegpt",
           "--calibration", "64", "--hw", "nm-2of4", "--patterns", "unstructured,2:4",
           "--final-epochs", "0", *LIMITS,
           # a one-shot candidate is not trained: nor is the dense reference it is judged against
           "--train-epochs", "0"]


def run_search(command: list[str], out: Path) -> tuple[float, float | None, int]:
    """Run the CLI, echoing its lines; wall seconds, seconds spent pretraining (from the
    pretraining line to the next one; None when the model came from the cache), exit status."""
    cmd = [str(ROOT / ".venv" / "bin" / "codesign"), *command, "--out", str(out)]
    print("$", " ".join(cmd[1:]), flush=True)
    t0 = time.perf_counter()
    pretrain_start = pretrain = None
    with subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        for line in proc.stdout:
            now = time.perf_counter() - t0
            print(f"[{now:6.0f} s] {line}", end="", flush=True)
            if pretrain_start is not None and pretrain is None and "pretrain" not in line:
                pretrain = now - pretrain_start
            if "pretraining the dense" in line:
                pretrain_start = now
    return time.perf_counter() - t0, pretrain, proc.returncode


def verdict(v: dict | None, met) -> str:
    if v is None:
        return "-"
    return (f"{v['drop']:+.2f}% [{v['ci_low']:+.2f}, {v['ci_high']:+.2f}], n={v['n']}: "
            f"{'met' if met else 'NOT met'}")


def choices(layers) -> Counter:
    """Per prunable layer: what the plan deploys (2:4 sparse, unstructured sparse, pruned but run
    dense, or dense)."""
    counts: Counter = Counter()
    for row in layers:
        if not row["prunable"]:
            continue
        if row["alpha"] >= 1:
            counts["dense"] += 1
        elif row["implementation"] == "dense":
            counts[f"{row['pattern']} pruned, runs dense"] += 1
        else:
            counts[f"{row['pattern']} sparse"] += 1
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-drop", type=float, default=MAX_DROP, help="allowed %% perplexity increase")
    args = parser.parse_args(argv)
    command = [*COMMAND, "--max-drop", f"{args.max_drop:g}"]
    out = CACHE / f"search_tinylm-drop{args.max_drop:g}"
    wall, pretrain, rc = run_search(command, out)
    if rc != 0:
        print(f"codesign search exited {rc}; nothing recorded")
        return 1
    summary = json.loads((out / "summary.json").read_text())
    plan = json.loads((out / "plan.json").read_text())
    import codesign
    uniform = codesign.plan("tinylm", "nm-2of4", alpha=0.5, pattern="2:4")
    uniform_rows = [{"prunable": l.prunable, "alpha": l.alpha, "pattern": l.pattern,
                     "implementation": l.implementation} for l in uniform.layers]
    c = summary["constraint"]
    found, flat = choices(plan["layers"]), choices(uniform_rows)
    kinds = sorted(set(found) | set(flat))
    rows = ["| quantity | search (dp) | uniform 2:4 |", "|---|---|---|",
            f"| wall time, s | {wall:.0f} (pretraining {'cached' if pretrain is None else f'{pretrain:.0f}'}) | - |",
            f"| validation: % perplexity increase [95% CI] | {verdict(c['validation'], c['met'])} | - |",
            f"| test: % perplexity increase [95% CI] | {verdict(c['test'], c['test_met'])} | - |",
            f"| speedup on nm-2of4 (exported model's own masks) | {summary['speedup']['exported']:.3f}x "
            f"(search estimate {summary['speedup']['search_estimate']:.3f}x) | {uniform.totals.speedup:.3f}x "
            f"(cost model; accuracy not measured here) |",
            f"| probes / candidate runs | {summary['probes']} / {summary['training_runs']} | - |",
            f"| perplexity: reference / final (validation), exported test (onnxruntime) | "
            f"{summary['reference_accuracy']:.3f} / {summary['final_accuracy']:.3f}, "
            f"{summary['onnxruntime_test_accuracy']:.3f} | - |",
            *(f"| layers {k} | {found.get(k, 0)} | {flat.get(k, 0)} |" for k in kinds)]
    per_layer = ", ".join(f"{r['name'].removesuffix('.weight')} {r['pattern']} a={r['alpha']:.2f} "
                          f"{r['implementation']}" for r in plan["layers"] if r["prunable"] and r["alpha"] < 1)
    notes = (f"Command: `codesign {' '.join(command)} --out DIR` (seed 0, 1 thread, local executor). "
             f"Validation: {summary['validation_samples']} sequences of 128 bytes carved from the 10,000 training "
             f"sequences; the dense tinylm is pretrained 1 epoch on the rest (cached by content; its time is "
             f"part of the wall time when it was not cached). Shipped: {summary['shipped']}. Per-layer choice "
             f"of the exported plan (layers not listed stay dense): {per_layer or 'none'}. "
             f"Uniform 2:4: every prunable layer (LM head included) at 2:4, costed by `codesign.plan` on "
             f"nm-2of4. Warnings: {'; '.join(summary['warnings']) or 'none'}.")
    record("search_tinylm.py", "search_tinylm.py: the search with one-shot SparseGPT probes on tinylm, "
           f"nm-2of4, max drop {args.max_drop:g}% (issue 20)", "\n".join(rows), notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
