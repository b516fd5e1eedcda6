"""Is a run folder's evaluation log what this code computes? Recomputes logged evaluations.

A search resumes by replaying its evaluations.jsonl: every evaluation is a deterministic
function of its request, so a log made by an earlier version of the code stays valid exactly
as long as that version computed the same thing. This script checks that claim on a folder:
it rebuilds the run's oracle (same data, split and cached dense model) and recomputes some of
the logged training runs and probes, comparing accuracy and per-sample correctness bit for bit.

Used when a benchmark or an example report replays a log of an earlier version (its RESULTS.md
section says so and names this check).

Run: .venv/bin/python benchmarks/replay_check.py RUN_DIR [RUN_DIR ...] [--count 2]
     (RUN_DIR's job.json names the settings; --count training runs and as many probes, the
     first and the last ones logged first)
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def picks(records: list[dict], kind: str, count: int) -> list[dict]:
    """`count` records of `kind`, spread over the log: first, last, then evenly between."""
    of_kind = [r for r in records if r["kind"] == kind]
    if len(of_kind) <= count:
        return of_kind
    step = (len(of_kind) - 1) / max(count - 1, 1)
    return [of_kind[round(i * step)] for i in range(count)]


def check(run_dir: Path, count: int) -> list[tuple]:
    import torch
    torch.set_num_threads(1)
    from codesign.executor import EvalRequest
    from codesign.loop.job_spec import LOOP_VERSION, SearchJob
    from codesign.loop.wiring import oracle_for
    settings = json.loads((run_dir / "job.json").read_text())
    settings.pop("loop_version", None)
    files = [f"{k} {settings[k]}" for k in ("model", "data", "hw", "initial") if "@" in str(settings.get(k, ""))]
    if files:      # job.json names files by content (pruning.identity), not by a path to open
        raise SystemExit(f"replay_check: {run_dir} ran on files ({', '.join(files)}); only runs of "
                         "built-in models, data and presets can be rebuilt from job.json")
    for key in ("hw_overrides", "patterns"):
        settings[key] = tuple(settings.get(key, ()))
    job = SearchJob(out=str(run_dir / "replay-check"), **settings)
    oracle = oracle_for(job)
    records = [json.loads(line) for line in (run_dir / "evaluations.jsonl").read_text().splitlines()]
    rows = []
    for rec in picks(records, "train", count) + picks(records, "probe", count):
        request = EvalRequest.make(rec["kind"], rec["alphas"], rec["patterns"])
        t0 = time.perf_counter()
        got = oracle.evaluate(request)
        same = got.accuracy == rec["accuracy"] and (got.correct == rec["correct"] or not rec["correct"])
        rows.append((run_dir.name, rec["kind"], len(request.alphas), rec["accuracy"], got.accuracy,
                     same, time.perf_counter() - t0, LOOP_VERSION))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dirs", nargs="+", type=Path)
    ap.add_argument("--count", type=int, default=2)
    args = ap.parse_args()
    print("| run | kind | pruned layers | logged accuracy | recomputed | identical (accuracy and every sample) | s |")
    print("|---|---|---|---|---|---|---|")
    ok = True
    for d in args.run_dirs:
        for run, kind, layers, logged, got, same, secs, _ in check(d, args.count):
            ok &= same
            print(f"| {run} | {kind} | {layers} | {100 * logged:.2f}% | {100 * got:.2f}% | "
                  f"{'yes' if same else 'NO'} | {secs:.0f} |", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
