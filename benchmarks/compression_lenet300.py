"""Allocation vs method (issue 12): LeNet-300-100 on full Fashion-MNIST, equal budget, 2 seeds.

Every method (admm, magnitude, progressive, agp, ltp, asl) with `--allocation uniform` (every
layer at 1/r) and `--allocation global` (one magnitude threshold across layers, as
torch.nn.utils.prune.global_unstructured), at 10x, 30x and 60x, each from the same cached dense
model (10 epochs) with the same 3-epoch compression budget, next to a plain-torch baseline
written independently of the project: global_unstructured (L1) on a torch nn.Sequential holding
the same dense weights, then 3 epochs of masked Adam fine-tuning. Test accuracy on the 10,000
test images (95% Wilson interval in the table's last columns for the best ADMM variant and the
baseline). Finished runs are cached in benchmarks/.cache/compression_lenet300.json.

Run: .venv/bin/python benchmarks/compression_lenet300.py [--quick]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _record import record  # noqa: E402
from codesign.loop.verdict import wilson_interval  # noqa: E402
from pruning.data import load_dataset  # noqa: E402
from pruning.pipeline import PruneJob, load_module, run_job  # noqa: E402
from pruning.pretrain import pretrained  # noqa: E402

METHODS = ("admm", "progressive", "magnitude", "agp", "ltp", "asl")
ALLOCATIONS = ("uniform", "global")
RATIOS = (10, 30, 60)
SEEDS = (0, 1)
EPOCHS = 3.0
PRETRAIN = 10.0
CACHE = Path(__file__).resolve().parent / ".cache" / "compression_lenet300.json"


def torch_baseline(data, seed: int, ratio: float, epochs: float) -> float:
    """The plain-torch reference: same dense weights, global L1 prune, masked fine-tune."""
    module = load_module("lenet300", data, seed)
    pretrained(module, "lenet300", data, PRETRAIN, seed=seed)
    state = {n: p.detach().clone() for n, p in module.params_by_onnx_name().items()}
    net = nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(data.input_shape)), 300), nn.ReLU(), nn.Linear(300, 100), nn.ReLU(), nn.Linear(100, 10))
    for i, name in ((1, "fc1"), (3, "fc2"), (5, "fc3")):
        net[i].weight.data.copy_(state[f"{name}.weight"])
        net[i].bias.data.copy_(state[f"{name}.bias"])
    torch_prune.global_unstructured([(net[i], "weight") for i in (1, 3, 5)],
                                    pruning_method=torch_prune.L1Unstructured, amount=1 - 1 / ratio)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x, y = torch.from_numpy(data.train_x), torch.from_numpy(data.train_y)
    g = torch.Generator().manual_seed(seed)
    for _ in range(int(epochs)):
        for idx in torch.randperm(len(y), generator=g).split(128):
            opt.zero_grad()
            nn.functional.cross_entropy(net(x[idx]), y[idx]).backward()
            opt.step()
    with torch.no_grad():
        pred = net(torch.from_numpy(data.test_x)).argmax(1).numpy()
    return float((pred == data.test_y).mean())


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="digits, one seed, nothing recorded")
    args = ap.parse_args()
    torch.set_num_threads(1)
    name = "digits" if args.quick else "fashion-mnist"
    data = load_dataset(name)
    seeds = SEEDS[:1] if args.quick else SEEDS
    cache = json.loads(CACHE.read_text()) if CACHE.exists() and not args.quick else {}
    t_all = time.perf_counter()

    def run(key, fn):
        if key not in cache:
            t0 = time.perf_counter()
            cache[key] = {"accuracy": fn(), "seconds": time.perf_counter() - t0}
            if not args.quick:
                CACHE.parent.mkdir(exist_ok=True)
                CACHE.write_text(json.dumps(cache, indent=1))
            print(key, f"{100 * cache[key]['accuracy']:.2f}%", f"{cache[key]['seconds']:.0f} s", flush=True)
        return cache[key]

    for seed in seeds:
        for ratio in RATIOS:
            run(f"torch-global|{ratio}|{seed}", lambda: torch_baseline(data, seed, ratio, EPOCHS))
            for method in METHODS:
                for allocation in ALLOCATIONS:
                    job = PruneJob("lenet300", data=name, method=method, alpha=1 / ratio, allocation=allocation,
                                   epochs=EPOCHS, pretrain_epochs=PRETRAIN, seed=seed, eval_limit=2000)
                    run(f"{method}|{allocation}|{ratio}|{seed}",
                        lambda: float(run_job(job, data=data).result.accuracy))
    n = len(data.test_y)

    def mean(key_prefix, ratio):
        accs = [cache[f"{key_prefix}|{ratio}|{s}"]["accuracy"] for s in seeds]
        return float(np.mean(accs)), accs
    header = "| method | allocation | " + " | ".join(f"{r}x" for r in RATIOS) + " |"
    rows = [header, "|---|---|" + "---|" * len(RATIOS)]
    for method in METHODS:
        for allocation in ALLOCATIONS:
            cells = []
            for r in RATIOS:
                m, accs = mean(f"{method}|{allocation}", r)
                cells.append(f"{100 * m:.2f}% ({', '.join(f'{100 * a:.2f}' for a in accs)})")
            rows.append(f"| {method} | {allocation} | " + " | ".join(cells) + " |")
    cells = []
    for r in RATIOS:
        m, accs = mean("torch-global", r)
        cells.append(f"{100 * m:.2f}% ({', '.join(f'{100 * a:.2f}' for a in accs)})")
    rows.append("| plain torch global_unstructured + fine-tune | global | " + " | ".join(cells) + " |")
    verdict = []
    for r in RATIOS:
        best = max((mean(f"{m}|{a}", r)[0], f"{m} {a}") for m in ("admm", "progressive") for a in ALLOCATIONS)
        base = mean("torch-global", r)[0]
        lo, hi = wilson_interval(best[0], n * len(seeds))
        blo, bhi = wilson_interval(base, n * len(seeds))
        verdict.append(f"{r}x: best ADMM variant {best[1]} {100 * best[0]:.2f}% [{100 * lo:.2f}, {100 * hi:.2f}] vs "
                       f"baseline {100 * base:.2f}% [{100 * blo:.2f}, {100 * bhi:.2f}]: "
                       f"{'>=' if best[0] >= base else 'BELOW'}")
    notes = (f"Test accuracy, mean over seeds {list(seeds)} (each seed's in brackets), {n:,} test images; "
             f"every run from the same cached dense LeNet-300-100 of its seed ({PRETRAIN:g} epochs, Adam 1e-3), "
             f"{EPOCHS:g} compression epochs, batch 128, lr 1e-3, method defaults. Intervals: 95% Wilson on "
             f"{n * len(seeds):,} pooled predictions.\n\n" + "\n".join(f"- {v}" for v in verdict)
             + f"\n\nWall time of the whole benchmark: {(time.perf_counter() - t_all) / 60:.1f} min (cached runs included at their recorded time: "
             f"{sum(v['seconds'] for v in cache.values()) / 60:.1f} min of runs).")
    if args.quick:
        print("\n".join(rows), "\n", notes)
        return 0
    record("compression_lenet300.py", "compression_lenet300.py: allocation vs method, LeNet-300-100 / Fashion-MNIST (issue 12)",
           "\n".join(rows), notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
