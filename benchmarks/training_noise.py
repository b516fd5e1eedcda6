"""How much does one training run at a fixed plan vary? (issue 12: why the final run starts from
the search's candidate)

A search judges each candidate plan by ONE training run. The same plan trained again with
another seed is another draw of the training noise; the paired interval of a verdict covers the
validation samples, not this. Here one plan (seed 0's DP plan of search_vgg7.py, or --alphas) is
trained with K training seeds from the same dense model, data and split, each judged against the
same reference on the validation split; then each candidate is fine-tuned 2 epochs further with
its masks held, as the final run does, and judged again.

Run: .venv/bin/python benchmarks/training_noise.py [--runs 6]   (after search_vgg7.py seed 0)
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _record import record  # noqa: E402
from search_vgg7 import CACHE, COMMON, interval  # noqa: E402


def main() -> int:
    import torch
    torch.set_num_threads(1)
    from codesign.executor import EvalRequest
    from codesign.loop.job_spec import SearchJob
    from codesign.loop.wiring import oracle_for
    from codesign.loop.verdict import paired_drop, unpack
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=6)
    ap.add_argument("--alphas", help="a JSON object {layer: alpha} (default: seed 0's DP plan)")
    args = ap.parse_args()
    if args.alphas:
        alphas = json.loads(args.alphas)
    else:
        history = json.loads((CACHE / "seed0" / "search-history.json").read_text())
        alphas = {n: a for n, a in history["results"]["dp"]["alphas"].items() if a < 1}
    job = SearchJob(out=str(CACHE / "noise"), seed=0, **COMMON)
    oracle = oracle_for(job)
    oracle.run_dir = None          # no checkpoints: every seed's run computes from scratch
    reference = oracle.evaluate(EvalRequest.make("reference"))
    ref = unpack(reference.correct)
    rows = ["| training seed | drop after the training run [95% CI] | met | drop after 2 more epochs (final run) [95% CI] | met |",
            "|---|---|---|---|---|"]
    drops, finals = [], []
    for k in range(args.runs):
        oracle.settings = replace(oracle.settings, seed=k)
        final = oracle.evaluate(EvalRequest.make("final", alphas))
        start = paired_drop(ref, unpack(final.start.correct))
        after = paired_drop(ref, unpack(final.correct))
        drops.append(start.drop)
        finals.append(after.drop)
        rows.append(f"| {k} | {interval(start)} | {'yes' if start.met(job.max_drop) else 'NO'} | "
                    f"{interval(after)} | {'yes' if after.met(job.max_drop) else 'NO'} |")
        print(rows[-1], flush=True)
    plan = ", ".join(f"{n.split('.')[0]} {a:g}" for n, a in sorted(alphas.items()))
    notes = (f"vgg7 / Fashion-MNIST, seed 0's split and dense model of search_vgg7.py, plan: {plan}; {args.runs} "
             f"training runs of 1 epoch (ADMM, lr 5e-4), each with its own seed, then 2 epochs of masked "
             f"fine-tuning; drops in points against the same reference on the {len(ref):,}-sample validation split. "
             f"Training runs: mean {statistics.mean(drops):+.2f}, standard deviation {statistics.stdev(drops):.2f}, "
             f"range {min(drops):+.2f} to {max(drops):+.2f}. After the further fine-tuning: mean "
             f"{statistics.mean(finals):+.2f}, standard deviation {statistics.stdev(finals):.2f}; mean gain "
             f"{statistics.mean(d - f for d, f in zip(drops, finals)):+.2f} points.")
    record("training_noise.py", "training_noise.py: one plan, several training seeds (issue 12)", "\n".join(rows), notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
