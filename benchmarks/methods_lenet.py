"""Every pruning method on LeNet-5 / Fashion-MNIST at the same epoch budget (issue 5).

One dense LeNet-5 is trained once; each method then gets a copy, the same per-layer targets
(a global keep fraction 1/r resolved to per-layer alphas by one magnitude ranking of the dense
weights) and the same number of training epochs. Recorded per run: overall pruning ratio over
the prunable weights, MAC-weighted sparsity, test accuracy, wall time. Extra runs check the
papers' claims: AGP's large-sparse vs a small-dense LeNet-5 with the same weight count, LTP's
lambda sweep (free sparsity), ASL's counted sparsity against its budget (and with a MAC term).
`torch.nn.utils.prune.global_unstructured` (one-shot global L1 prune + masked fine-tune) is the
external reference.

The machine is a shared 2-core box: a Fashion-MNIST subset and few epochs keep it to ~20
minutes; finished runs are cached (benchmarks/.cache/methods_lenet.json) so a rerun resumes.

    .venv/bin/python benchmarks/methods_lenet.py            # the recorded run
    .venv/bin/python benchmarks/methods_lenet.py --quick    # digits, seconds, nothing recorded
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _record import record  # noqa: E402
from pruning.backend import CompressionResult, Targets, prunable_weights  # noqa: E402
from pruning.data import Dataset, load_dataset  # noqa: E402
from pruning.method_support import layer_macs  # noqa: E402
from pruning.methods import get_backend  # noqa: E402
from pruning.models import build_model  # noqa: E402
from pruning.train import TrainContext, evaluate, train_epochs  # noqa: E402

HERE = Path(__file__).resolve().parent
# method -> options passed to get_backend (all defaults: the comparison is of the methods as shipped)
METHODS = {"magnitude": {}, "agp": {}, "admm": {}, "progressive": {}, "ltp": {}, "asl": {}}


# Per-layer keep fractions of the ADMM predecessor's LeNet-5 result at 71x (digest A.5 [ext]):
# the shape of the targets; `profile_alphas` scales it to any overall ratio.
PROFILE = {"conv1.weight": 0.20, "conv2.weight": 0.08, "fc1.weight": 0.009, "fc2.weight": 0.07}


def profile_alphas(weights: dict[str, int], ratio: float) -> dict[str, float]:
    """alpha_i = min(1, c * PROFILE_i) with c chosen (bisection) so total/kept = ratio."""
    want = sum(weights.values()) / ratio

    def kept(c: float) -> float:
        return sum(min(1.0, c * PROFILE[n]) * w for n, w in weights.items())
    lo, hi = 0.0, 1.0 / min(PROFILE.values())
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if kept(mid) < want else (lo, mid)
    return {n: min(1.0, hi * PROFILE[n]) for n in weights}


def small_lenet5(scale: float, data: Dataset) -> nn.Sequential:
    """LeNet-5 with every width scaled by `scale` (ASL paper eq. 12: sqrt of the kept share)."""
    c1, c2, h = (max(1, round(20 * scale)), max(1, round(50 * scale)), max(1, round(500 * scale)))
    pad = 0 if data.input_shape[1] >= 28 else 2          # as pruning.models.lenet5
    side = ((data.input_shape[1] + 2 * pad - 4) // 2 + 2 * pad - 4) // 2
    return nn.Sequential(nn.Conv2d(data.input_shape[0], c1, 5, padding=pad), nn.MaxPool2d(2),
                         nn.Conv2d(c1, c2, 5, padding=pad),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(c2 * side * side, h), nn.ReLU(),
                         nn.Linear(h, data.num_classes))


def torch_global_reference(model: nn.Module, alpha: float, ctx: TrainContext) -> dict:
    """torch.nn.utils.prune: one-shot global L1 prune to keep alpha, then fine-tune the same
    epochs with its forward pre-hook masks, then make the pruning permanent."""
    t0 = time.perf_counter()
    net = copy.deepcopy(model)
    params = [(m, "weight") for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    torch_prune.global_unstructured(params, pruning_method=torch_prune.L1Unstructured,
                                    amount=1.0 - alpha)
    train_epochs(net, ctx, ctx.epochs, phase="torch-prune")
    for m, name in params:
        torch_prune.remove(m, name)
    masks = {n: w.detach() != 0 for n, w in prunable_weights(net).items()}
    return {"accuracy": evaluate(net, ctx.data), "masks": masks, "seconds": time.perf_counter() - t0}


def summarize(masks: dict, weights: dict, macs: dict) -> tuple[float, float]:
    """(overall ratio over prunable weights, MAC-weighted sparsity 1 - sum a_i MACs_i / MACs)."""
    kept = {n: int(masks[n].sum()) if n in masks else weights[n] for n in weights}
    ratio = sum(weights.values()) / max(sum(kept.values()), 1)
    mac_kept = sum(kept[n] / weights[n] * macs[n] for n in weights) / sum(macs.values())
    return ratio, 1.0 - mac_kept


def result_row(name: str, variant: str, target_ratio: float, result: CompressionResult,
               weights: dict, macs: dict) -> dict:
    ratio, mac_sparsity = summarize(result.masks, weights, macs)
    row = {"method": name, "variant": variant, "target_ratio": target_ratio, "ratio": ratio,
           "mac_sparsity": mac_sparsity, "accuracy": result.accuracy, "seconds": result.seconds,
           "epochs": result.epochs_used,
           "per_layer": {l.name: [l.kept, l.weights, l.alpha_target] for l in result.layers}}
    for h in result.history:
        if h.get("phase") == "asl-budget":
            row["asl"] = {k: h[k] for k in ("param_budget", "param_share_counted",
                                           "param_share_modelled", "mac_budget",
                                           "mac_share_counted", "cut_to_budget")}
        if h.get("phase") == "ltp-select":
            row["ltp"] = {k: h[k] for k in ("kept_learned", "budget", "cut_to_budget", "trail_index")}
    return row


class Cache:
    """Finished runs by key, written after every run so an interrupted benchmark resumes."""

    def __init__(self, path: Path, settings: dict) -> None:
        self.path, self.settings = path, settings
        saved = json.loads(path.read_text()) if path.exists() else {}
        self.rows = saved.get("rows", {}) if saved.get("settings") == settings else {}

    def get(self, key: str, run) -> dict:
        if key not in self.rows:
            self.rows[key] = run()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps({"settings": self.settings, "rows": self.rows}))
            r = self.rows[key]
            print(f"  {key}: ratio {r['ratio']:.1f}x acc {100 * r['accuracy']:.2f}% "
                  f"({r['seconds']:.0f} s)", flush=True)
        return self.rows[key]


def pretrained(data: Dataset, epochs: float, seed: int, path: Path) -> nn.Module:
    torch.manual_seed(seed)
    model = build_model("lenet5", data.input_shape, data.num_classes)
    if path.exists():
        model.load_state_dict(torch.load(path))
        return model
    train_epochs(model, TrainContext(data, batch_size=128, seed=seed, eval_limit=500), epochs,
                 phase="pretrain")
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return model


def figure(rows: list[dict], dense_acc: float, path: Path, data_name: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for method in list(METHODS) + ["torch-global"]:
        pts = sorted((r["ratio"], 100 * r["accuracy"]) for r in rows
                     if r["method"] == method and r["variant"] == "main")
        if pts:
            ax.plot(*zip(*pts), marker="o", label=method)
    small = [(r["ratio"], 100 * r["accuracy"]) for r in rows if r["method"] == "small-dense"]
    if small:
        ax.scatter(*zip(*small), marker="s", color="k", label="small dense (same #weights)")
    ax.axhline(100 * dense_acc, color="gray", ls="--", label="dense LeNet-5")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%gx"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xticks(sorted({r["target_ratio"] for r in rows if r["target_ratio"] == r["target_ratio"]}))
    ax.set_xlabel("overall pruning ratio (prunable weights / kept)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"LeNet-5 on {data_name}, same epoch budget per method")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def claims(rows: list[dict], ratios: list[float]) -> list[str]:
    """The papers' claims checked on this run's numbers."""
    def acc(method, r, variant="main"):
        return next((x["accuracy"] for x in rows if x["method"] == method and x["variant"] == variant
                     and x["target_ratio"] == r), None)
    out = []
    hi = max(ratios)
    a_mag = acc("magnitude", hi)
    for m in ("admm", "progressive"):
        a = acc(m, hi)
        if a is not None and a_mag is not None:
            out.append(f"- {m} vs magnitude at {hi:g}x: {100 * a:.2f}% vs {100 * a_mag:.2f}% -> "
                       f"{'holds' if a > a_mag else 'does not hold'} here.")
    for r in rows:
        if r["method"] == "small-dense":
            a = acc("agp", r["target_ratio"])
            out.append(f"- AGP large-sparse ({r['target_ratio']:g}x) vs small-dense with "
                       f"{r['kept']:,} weights ({r['ratio']:.1f}x fewer): {100 * a:.2f}% vs "
                       f"{100 * r['accuracy']:.2f}% -> {'holds' if a > r['accuracy'] else 'does not hold'}.")
    for r in rows:
        if r["method"] == "asl" and "asl" in r:
            s = r["asl"]
            out.append(f"- ASL budget at {r['target_ratio']:g}x ({r['variant']}): kept weight share "
                       f"{s['param_share_counted']:.4f} counted before any cut ("
                       f"{s['param_share_modelled']:.4f} by the erf model) vs budget "
                       f"{s['param_budget']:.4f}; kept MAC share {s['mac_share_counted']:.4f} vs "
                       f"MAC budget {s['mac_budget']:.4f}; "
                       f"{'hit within 10%' if abs(s['param_share_counted'] / s['param_budget'] - 1) <= 0.1 else 'missed'}"
                       f"{' (then cut to the budget)' if s['cut_to_budget'] else ''}.")
    sweep = sorted((r["lam_n"], r["ratio"], r["accuracy"]) for r in rows if r["variant"] == "lambda")
    if sweep:
        mono = all(b[1] >= a[1] for a, b in zip(sweep, sweep[1:]))
        out.append("- LTP lambda sweep (free sparsity), lambda*N -> ratio, accuracy: "
                   + ", ".join(f"{l:g} -> {q:.1f}x, {100 * a:.2f}%" for l, q, a in sweep)
                   + f" -> {'monotone: lambda controls sparsity' if mono else 'not monotone'}.")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--train", type=int, default=12000, help="Fashion-MNIST training subset")
    p.add_argument("--test", type=int, default=2000, help="Fashion-MNIST test subset")
    p.add_argument("--pretrain-epochs", type=float, default=6.0)
    p.add_argument("--epochs", type=float, default=3.0, help="budget of every method")
    p.add_argument("--ratios", default="5,10,20,60")
    p.add_argument("--small-dense", default="5,20",
                   help="ratios at which a small dense LeNet-5 is trained for the AGP claim")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="digits, tiny budget, nothing recorded")
    p.add_argument("--no-record", action="store_true",
                   help="print the table (and redraw the figure from the cache) without "
                        "appending to RESULTS.md")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    started = time.perf_counter()
    load_at_start = os.getloadavg()[0]
    ratios = [float(r) for r in args.ratios.split(",")]
    if args.quick:
        data = load_dataset("digits", seed=args.seed)
        args.pretrain_epochs, args.epochs = 4.0, 1.0
    else:
        data = load_dataset("fashion-mnist", limit=args.train, test_limit=args.test, seed=args.seed)
    settings = {k: v for k, v in vars(args).items() if k != "no_record"}
    tag = "quick" if args.quick else "full"
    cache = Cache(HERE / ".cache" / f"methods_lenet_{tag}.json", settings)
    dense = pretrained(data, args.pretrain_epochs, args.seed,
                       HERE / ".cache" / f"lenet5_{tag}_{args.seed}_{args.train}_{args.pretrain_epochs}.pt")
    dense_acc = evaluate(dense, data)
    weights = {n: w.numel() for n, w in prunable_weights(dense).items()}
    macs = layer_macs(dense, torch.from_numpy(data.train_x[:1]))
    ctx = TrainContext(data, epochs=args.epochs, batch_size=128, seed=args.seed, eval_limit=500)
    print(f"{data}; dense accuracy {100 * dense_acc:.2f}%", flush=True)

    rows: list[dict] = []
    for r in ratios:
        targets = Targets(alphas=profile_alphas(weights, r))
        for method, options in METHODS.items():
            rows.append(cache.get(f"{method}@{r:g}", lambda: result_row(
                method, "main", r, get_backend(method, **options).compress(
                    copy.deepcopy(dense), targets, ctx), weights, macs)))

        def reference() -> dict:
            ref = torch_global_reference(dense, 1.0 / r, ctx)
            ratio, mac_sparsity = summarize(ref["masks"], weights, macs)
            return {"method": "torch-global", "variant": "main", "target_ratio": r, "ratio": ratio,
                    "mac_sparsity": mac_sparsity, "accuracy": ref["accuracy"],
                    "seconds": ref["seconds"], "epochs": args.epochs}
        rows.append(cache.get(f"torch-global@{r:g}", reference))

    # AGP claim: large-sparse beats small-dense at the same weight count
    for r in [float(x) for x in args.small_dense.split(",") if x]:
        def small() -> dict:
            t0 = time.perf_counter()
            torch.manual_seed(args.seed)
            net = small_lenet5(math.sqrt(1.0 / r), data)
            train_epochs(net, TrainContext(data, batch_size=128, seed=args.seed, eval_limit=500),
                         args.pretrain_epochs + args.epochs, phase="small-dense")
            kept = sum(w.numel() for w in prunable_weights(net).values())
            return {"method": "small-dense", "variant": "width", "target_ratio": r,
                    "ratio": sum(weights.values()) / kept, "kept": kept, "mac_sparsity": float("nan"),
                    "accuracy": evaluate(net, data), "seconds": time.perf_counter() - t0,
                    "epochs": args.pretrain_epochs + args.epochs}
        rows.append(cache.get(f"small-dense@{r:g}", small))

    # LTP: lambda sets the sparsity (free mode: the targets only pick the layers)
    for lam_n in (0.3, 3.0, 30.0):
        def ltp_free() -> dict:
            res = get_backend("ltp", lam_n=lam_n, budget="free").compress(
                copy.deepcopy(dense), Targets(global_alpha=0.5), ctx)
            return {**result_row("ltp", "lambda", float("nan"), res, weights, macs), "lam_n": lam_n}
        rows.append(cache.get(f"ltp-free@{lam_n:g}", ltp_free))

    # ASL with the MAC term of eq. 10 switched on, at the middle ratio
    r_mid = 20.0 if 20.0 in ratios else ratios[len(ratios) // 2]
    rows.append(cache.get(f"asl-mac@{r_mid:g}", lambda: result_row(
        "asl", "mac term", r_mid, get_backend("asl", lam_f=10.0).compress(
            copy.deepcopy(dense), Targets(alphas=profile_alphas(weights, r_mid)), ctx),
        weights, macs)))

    table = ["| method | variant | target ratio | achieved ratio | MAC-weighted sparsity | "
             "test accuracy | vs dense | wall s |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        target = "-" if r["target_ratio"] != r["target_ratio"] else f"{r['target_ratio']:g}x"
        variant = f"lambda*N={r['lam_n']:g}" if r["variant"] == "lambda" else r["variant"]
        mac = "-" if r["mac_sparsity"] != r["mac_sparsity"] else f"{100 * r['mac_sparsity']:.1f}%"
        table.append(f"| {r['method']} | {variant} | {target} | {r['ratio']:.1f}x | {mac} | "
                     f"{100 * r['accuracy']:.2f}% | {100 * (r['accuracy'] - dense_acc):+.2f} | "
                     f"{r['seconds']:.0f} |")
    png = HERE / ("methods_lenet_quick.png" if args.quick else "methods_lenet.png")
    figure(rows, dense_acc, png, data.name)
    found = claims(rows, ratios)
    alphas = profile_alphas(weights, ratios[-1])
    notes = (f"Data: {data.name} subset, {len(data.train_y)} train / {len(data.test_y)} test images "
             f"(class-stratified, seed {args.seed}); dense LeNet-5 (430,500 prunable weights) "
             f"pretrained {args.pretrain_epochs:g} epochs with Adam 1e-3, test accuracy "
             f"{100 * dense_acc:.2f}%. Every method: {args.epochs:g} epochs on the same data, Adam "
             f"1e-3, batch 128, default options of every method (ADMM and progressive ADMM: SGD W-step); targets = "
             f"per-layer alphas shaped like the ADMM predecessor's LeNet-5 split (conv1 20%, "
             f"conv2 8%, fc1 0.9%, fc2 7% at 71x) scaled to total/kept = r (at {ratios[-1]:g}x: "
             + ", ".join(f"{n} {a:.4f}" for n, a in alphas.items())
             + "); torch-global ranks all layers together instead. Progressive and LTP hold out 10% of the training images for selection. "
             f"Small-dense: LeNet-5 with widths scaled by sqrt(1/r), trained from scratch "
             f"{args.pretrain_epochs + args.epochs:g} epochs (= pretrain + method budget). "
             f"These budgets are tiny next to the papers' (hundreds of epochs); the numbers "
             f"compare methods at a small equal budget, not the papers' settings. Load average "
             f"{load_at_start:.1f} at start; total wall time "
             f"{time.perf_counter() - started:.0f} s (cached runs count 0). Figure: "
             f"`benchmarks/{png.name}`.\n\nClaims checked on these numbers:\n" + "\n".join(found))
    if args.quick or args.no_record:
        print("\n".join(table) + "\n\n" + notes)
    else:
        record("methods_lenet.py", "Pruning methods on LeNet-5 / Fashion-MNIST (issue 5)",
               "\n".join(table), notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
