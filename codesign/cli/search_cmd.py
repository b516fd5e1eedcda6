"""`codesign search MODEL --data DATA --hw PRESET --max-drop 0.5 ...`: hardware-aware search of
per-layer keep fractions, the compressed ONNX model (checked in onnxruntime) and the report."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from codesign.cli.common import add_model_args, format_table, progress_bar
from codesign.errors import CodesignError


def register(sub) -> None:
    p = sub.add_parser(
        "search", help="hardware-aware search of per-layer α, compressed model and report",
        description="Find per-layer keep fractions α that make MODEL fastest on the simulated "
                    "hardware while the accuracy drop stays within --max-drop points; then "
                    "compress at the found α, export the compressed ONNX model (verified in "
                    "onnxruntime) and write plan.json, search-history.json and the report to "
                    "--out. Interrupted runs resume when started again with the same --out.")
    add_model_args(p)
    p.add_argument("--data", default="fashion-mnist",
                   help="fashion-mnist, mnist5k, digits, synthetic, or an IDX dir / .npz file "
                        "(default: fashion-mnist)")
    p.add_argument("--hw", default="smic40-admmnn",
                   help="hardware preset or TOML file (default smic40-admmnn)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one hardware key (repeatable)")
    p.add_argument("--max-drop", type=float, default=0.5,
                   help="allowed accuracy drop in percentage points (default 0.5)")
    from pruning.methods import load_backends
    p.add_argument("--method", default="admm", choices=sorted(load_backends()),
                   help="compression method (default admm)")
    p.add_argument("--allocator", default="dp",
                   help="fig5 (paper 001 Fig. 5), dp (probe curves + DP), or a comma list to run "
                        "several and keep the fastest that meets the constraint (default dp)")
    p.add_argument("--out", help="run directory (default reports/<model>-search)")
    p.add_argument("--bits", help="quantize in the final compression: conv=3,fc=2 | 4 (all "
                                  "layers) | <weight name>=5 (default: float weights)")
    p.add_argument("--storage-budget", type=float, metavar="KIB",
                   help="dp allocator: weights + indices of the whole model must fit in KIB "
                        "(on-chip storage budget)")
    p.add_argument("--initial", metavar="FILE",
                   help="Fig. 5 start: JSON {\"alphas\": {layer: α}} (default: sensitivity scan)")
    g = p.add_argument_group("training budget")
    g.add_argument("--train-limit", type=int,
                   help="training samples to use (stratified subset; default: all)")
    g.add_argument("--test-limit", type=int, help="test samples to use (default: all)")
    g.add_argument("--validation", type=int, default=2000,
                   help="search split carved out of the training data (default 2000)")
    g.add_argument("--pretrain-epochs", type=float, default=8.0,
                   help="epochs of dense pretraining of a built-in model (default 8)")
    g.add_argument("--train-epochs", type=float, default=1.0,
                   help="epochs of one candidate's compression run (default 1)")
    g.add_argument("--final-epochs", type=float, default=3.0,
                   help="epochs of the final compression at the chosen alphas (default 3)")
    g.add_argument("--probe-epochs", type=float, default=0.1,
                   help="masked retraining in each sensitivity probe (default 0.1; 0: one-shot "
                        "magnitude pruning, which overstates the drop of large layers)")
    g.add_argument("--alpha-min", type=float, default=0.02,
                   help="smallest keep fraction the search may give a layer (default 0.02)")
    g.add_argument("--lr", type=float, default=5e-4,
                   help="learning rate of the compression runs (pretraining uses 1e-3; a fresh "
                        "Adam at 1e-3 perturbs a trained model more than a short run repairs)")
    g.add_argument("--seed", type=int, default=0, help="seed of every random choice (default 0)")
    g.add_argument("--threads", type=int, default=1,
                   help="torch threads (default 1: reproducible results, and faster than 2 "
                        "when the machine is shared)")
    p.add_argument("--quiet", action="store_true", help="print the summary only")
    from pruning.methods import add_backend_options
    add_backend_options(p)
    p.set_defaults(func=run)


def _overrides(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item:
            raise CodesignError(f"--set {item!r}: expected KEY=VALUE, e.g. --set weight_bits=8")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _initial(path: str | None) -> dict[str, float] | None:
    if not path:
        return None
    try:
        data = json.loads(Path(path).read_text())
        return {str(k): float(v) for k, v in data.get("alphas", data).items()}
    except (OSError, ValueError, AttributeError) as exc:
        raise CodesignError(f"--initial {path}: not a JSON file of {{\"alphas\": {{layer: α}}}} "
                            f"({exc})") from exc


def _methods() -> set[str]:
    from pruning.methods import load_backends
    return set(load_backends())


def run(args) -> int:
    import torch

    from codesign.search.job import SearchJob, run_job
    from pruning.methods import options_from_args

    if args.threads < 1:
        raise CodesignError("--threads must be at least 1")
    torch.set_num_threads(args.threads)
    allocators = tuple(a.strip() for a in args.allocator.split(",") if a.strip())
    out = args.out or str(Path("reports") / f"{Path(args.model).stem}-search")
    job = SearchJob(model=args.model, data=args.data, out=out, hw=args.hw,
                    hw_overrides=_overrides(args.set), max_drop=args.max_drop, method=args.method,
                    method_options=options_from_args(args.method, args)
                    if args.method in _methods() else {},
                    allocators=allocators, train_limit=args.train_limit,
                    test_limit=args.test_limit, validation=args.validation,
                    pretrain_epochs=args.pretrain_epochs, train_epochs=args.train_epochs,
                    final_epochs=args.final_epochs, probe_epochs=args.probe_epochs,
                    initial_alphas=_initial(args.initial), alpha_min=args.alpha_min, lr=args.lr,
                    storage_budget_kib=args.storage_budget, bits=args.bits,
                    seed=args.seed)
    best: dict[str, float] = {}

    def on_iteration(alg, rec) -> None:
        if rec.accepted and rec.phase != "restore":
            best[alg] = max(best.get(alg, 1.0), rec.speedup)
        if args.quiet:
            return
        acc = "acc    –   " if rec.accuracy is None else \
            f"acc {100 * rec.accuracy:6.2f}% (drop {rec.drop:+.2f})"
        mark = "ok" if rec.accepted else "--"
        print(f"[{alg}] #{rec.iteration:<3d} {rec.phase:<8s} {acc}  speedup {rec.speedup:6.2f}x"
              f"  best {best.get(alg, 1.0):6.2f}x  {mark}  {rec.note}", flush=True)

    def on_status(message: str) -> None:
        if not args.quiet:
            print(f"codesign search: {message}", file=sys.stderr, flush=True)

    with progress_bar("training", enabled=not args.quiet) as update:
        def on_progress(p) -> None:
            update(p.step, p.total, f"{p.phase} {p.message}".strip())

        result = run_job(job, on_iteration=on_iteration, on_status=on_status,
                         on_progress=on_progress)
    rows = []
    for name, r in result.results.items():
        rows.append([name + (" *" if name == result.chosen else ""), f"{r.speedup:.2f}x",
                     f"{r.conv_speedup:.2f}x", f"{100 * r.accuracy:.2f}%", f"{r.drop:+.2f}",
                     "yes" if r.constraint_met else "NO", str(r.training_runs),
                     str(r.counts.get("probe", 0)), f"{result.wall_seconds[name]:.0f} s"])
    print(format_table(["allocator", "speedup", "conv speedup", "accuracy", "drop", "met",
                        "training runs", "probes", "wall"], rows, right={1, 2, 3, 4, 6, 7, 8}))
    v = result.verification
    print(f"compressed model: {result.files['compressed.onnx']} (onnxruntime test accuracy "
          f"{100 * v['onnxruntime_test_accuracy']:.2f}%, max |ORT - torch| {v['max_abs_diff']:.1e}; "
          f"simulated speedup with its real masks {v['exported_speedup']:.2f}x)")
    print(f"report: {result.files['report.html']}")
    return 0
