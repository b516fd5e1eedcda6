"""Training on a GPU (issue 19 item 7): one `prune` and one `search` timed with --device cuda
against --device cpu on the same machine, with what each run gives (the metric after pruning,
the search's exported speedup), so a faster run is seen to be the same run.

prune: vgg7 on mnist5k (4,000 training images; 1 epoch of dense pretraining, on the device
timed), ADMM at 2:4 with keep fraction 0.5, 2 epochs, batch 128. search: lenet5 on mnist5k, DP allocator over
unstructured and 2:4, 1 epoch of dense pretraining, 0.5 epoch per candidate, max drop 2 points.
Each device runs with its own empty pretraining cache. The CPU runs use `--threads` torch threads
(the project's default 1 gives the same numbers on every machine); a CUDA warm-up runs first so
the GPU's start-up is not in its time.

Without a CUDA device it prints "skipped: no CUDA device" and records nothing.

Run: .venv/bin/python benchmarks/gpu_training.py [--threads 1]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _record import record  # noqa: E402

PRUNE = dict(method="admm", alpha=0.5, pattern="2:4", epochs=2.0, pretrain_epochs=1.0, batch_size=128,
             limit=4000, test_limit=1000)
SEARCH = dict(allocators="dp", patterns="unstructured,2:4", max_drop=2.0, train_limit=4000, test_limit=1000,
              validation=1000, pretrain_epochs=1.0, train_epochs=0.5, final_epochs=0.5, probe_epochs=0.1)


def run_all(devices, threads: int, prune: dict = PRUNE, search: dict = SEARCH) -> list[tuple[str, str, float, str]]:
    """(run, device, seconds, what it gave) of one prune and one search on each device."""
    import codesign
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for device in devices:
            os.environ["CODESIGN_CACHE"] = str(Path(tmp) / f"cache-{device}")
            t0 = time.perf_counter()
            t = codesign.prune("vgg7", "mnist5k", device=device, threads=threads, out=Path(tmp) / f"prune-{device}",
                               **prune).totals
            out.append(("prune vgg7", device, time.perf_counter() - t0,
                        f"accuracy {100 * t.accuracy_before:.2f}% -> {100 * t.accuracy_after:.2f}%"))
            folder = Path(tmp) / f"search-{device}"
            t0 = time.perf_counter()
            codesign.search("lenet5", "mnist5k", out=folder, device=device, **search)
            s = json.loads((folder / "summary.json").read_text())
            out.append(("search lenet5", device, time.perf_counter() - t0,
                        f"exported {s['speedup']['exported']:.2f}x, test accuracy "
                        f"{100 * s['onnxruntime_test_accuracy']:.2f}%"))
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads of the CPU runs")
    args = ap.parse_args()
    import torch
    if not torch.cuda.is_available():
        print("skipped: no CUDA device")
        return 0
    torch.ones(256, 256, device="cuda").matmul(torch.ones(256, 256, device="cuda")).sum().item()   # warm-up
    torch.set_num_threads(args.threads)
    runs = run_all(("cpu", "cuda"), args.threads)
    cpu = {run: s for run, device, s, _ in runs if device == "cpu"}
    rows = ["| run | device | seconds | result | GPU speedup |", "|---|---|---|---|---|"]
    rows += [f"| {run} | {device} | {s:.1f} | {gave} | {f'{cpu[run] / s:.2f}x' if device == 'cuda' else '-'} |"
             for run, device, s, gave in runs]
    notes = (f"GPU: {torch.cuda.get_device_name(0)} (torch {torch.__version__}, CUDA {torch.version.cuda}; TF32 "
             f"convolutions {'on' if torch.backends.cudnn.allow_tf32 else 'off'}, torch's default); CPU runs with "
             f"{args.threads} torch thread(s). prune: {PRUNE}; search: {SEARCH}. Small networks on small images "
             "keep a GPU mostly idle: the times say what --device cuda gives at this project's scale.")
    record("gpu_training.py", "gpu_training.py: prune and search on CUDA vs the CPU (issue 19 item 7)",
           "\n".join(rows), notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
