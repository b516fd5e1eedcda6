"""`codesign prune`: compress one model with one method on real data and write the pruned
(and quantized) ONNX model, the per-layer table and the achieved alphas.

Method options come from each method's Options dataclass (pruning.methods), one argument
group per method, so this module never special-cases a method."""
from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from codesign.cli.common import add_model_args, progress_bar
from codesign.errors import CodesignError
from pruning.data import BUILTIN_DATASETS


def register(subparsers) -> None:
    from pruning.methods import add_backend_options, load_backends
    p = subparsers.add_parser(
        "prune", help="prune (and quantize) a model with one method on real data",
        description="Compress MODEL (an ONNX file, or lenet5 / lenet300) with a pruning method, "
                    "write the pruned ONNX model (verified with onnxruntime), a per-layer table "
                    "and the achieved alphas. Reruns with the same --out resume from checkpoints.")
    add_model_args(p)
    p.add_argument("--data", default="fashion-mnist",
                   help=f"dataset: {', '.join(BUILTIN_DATASETS)} or a path to IDX files / an .npz "
                        "(x_train, y_train, x_test, y_test) (default: fashion-mnist)")
    p.add_argument("--method", default="admm", choices=sorted(load_backends()),
                   help="compression method (default: admm)")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--alpha", type=float, help="keep fraction for every prunable layer")
    target.add_argument("--alphas", metavar="PLAN.json",
                        help='per-layer keep fractions: {"alphas": {"<weight name>": 0.38, ...}}')
    p.add_argument("--global", dest="global_alpha", action="store_true",
                   help="with --alpha: rank all layers' weights together (one global threshold)")
    p.add_argument("--bits", help="quantize: conv=3,fc=2 | 4 (all layers) | <weight name>=5")
    p.add_argument("--epochs", type=float, default=10.0,
                   help="training budget of the method, all phases together (default: 10)")
    p.add_argument("--pretrain-epochs", type=float, default=None,
                   help="dense training before compression (default: 10 for lenet5/lenet300, 0 for files)")
    p.add_argument("--batch-size", type=int, default=128, help="training batch size (default 128)")
    p.add_argument("--lr", type=float, default=1e-3, help="learning rate (default 1e-3)")
    p.add_argument("--optimizer", choices=("adam", "sgd"), default="adam",
                   help="optimizer of the training runs (default adam)")
    p.add_argument("--seed", type=int, default=0, help="seed of every random choice (default 0)")
    p.add_argument("--limit", type=int,
                   help="use a class-balanced subset of this many training samples (default: all)")
    p.add_argument("--test-limit", type=int, help="... and of this many test samples (default: all)")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory (also the checkpoint directory)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default 1: two threads collapse when anything else runs)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_backend_options(p)
    p.set_defaults(func=run)


def _job(args):
    from pruning.methods import options_from_args
    from pruning.models import MODELS
    from pruning.pipeline import PruneJob, load_alphas_file
    pretrain = args.pretrain_epochs
    if pretrain is None:
        pretrain = 10.0 if args.model in MODELS and not Path(args.model).exists() else 0.0
    return PruneJob(
        model=args.model, data=args.data, method=args.method,
        method_options=options_from_args(args.method, args),
        alphas=load_alphas_file(args.alphas) if args.alphas else {},
        alpha=args.alpha, global_alpha=args.global_alpha, bits=args.bits, epochs=args.epochs,
        pretrain_epochs=pretrain, batch_size=args.batch_size, lr=args.lr, optimizer=args.optimizer,
        seed=args.seed, limit=args.limit, test_limit=args.test_limit)


def format_table(summary: dict) -> str:
    rows = summary["layers"]
    head = f"{'layer':<28} {'weights':>10} {'kept':>9} {'alpha':>8} {'ratio':>8} {'bits':>5}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['name']:<28} {r['weights']:>10,} {r['kept']:>9,} {r['alpha']:>8.4f} "
                     f"{r['ratio']:>7.1f}x {r['bits'] or '-':>5}")
    total = sum(r["weights"] for r in rows)
    kept = sum(r["kept"] for r in rows)
    lines.append("-" * len(head))
    lines.append(f"{'total':<28} {total:>10,} {kept:>9,} {kept / max(total, 1):>8.4f} "
                 f"{total / max(kept, 1):>7.1f}x")
    lines.append(f"accuracy before {100 * summary['accuracy_before']:.2f}%, after "
                 f"{100 * summary['accuracy_after']:.2f}% ({summary['method']}, {summary['data']}, "
                 f"{summary['epochs']:g} epochs); onnxruntime max |diff| {summary['onnxruntime_max_diff']:.2g}")
    return "\n".join(lines)


def write_outputs(out: Path, res) -> dict[str, Path]:
    import onnx
    from pruning.masks import save_masks
    from pruning.pipeline import achieved_alphas
    out.mkdir(parents=True, exist_ok=True)
    summary = res.summary()
    paths = {"model": out / "model.onnx", "table": out / "layers.txt", "json": out / "layers.json",
             "csv": out / "layers.csv", "alphas": out / "alphas.json", "masks": out / "masks.npz"}
    onnx.save(res.onnx_model, str(paths["model"]))
    paths["table"].write_text(format_table(summary) + "\n")
    paths["json"].write_text(json.dumps(summary, indent=2) + "\n")
    with paths["csv"].open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(summary["layers"][0]))
        writer.writeheader()
        writer.writerows(summary["layers"])
    paths["alphas"].write_text(json.dumps({"alphas": achieved_alphas(res.result)}, indent=2) + "\n")
    save_masks(res.result.masks, paths["masks"])
    return paths


def run(args: argparse.Namespace) -> int:
    import torch
    from pruning.pipeline import run_job
    torch.set_num_threads(max(1, args.threads))
    if args.alpha is None and not args.alphas and not args.bits:
        raise CodesignError("nothing to do: give --alpha A or --alphas PLAN.json (what to prune), "
                            "or --bits to quantize only")
    job = _job(args)
    out = Path(args.out)
    if (out / "checkpoints").exists():
        print(f"resuming from checkpoints in {out / 'checkpoints'}", file=sys.stderr)
    with progress_bar("prune", enabled=not args.no_progress) as update:
        def on_progress(p):
            update(p.step, p.total, f"{p.phase}: {p.message}" if p.message else p.phase)
        res = run_job(job, out, on_progress=on_progress)
    paths = write_outputs(out, res)
    print(format_table(res.summary()))
    print(f"wrote {paths['model']} (feeds `codesign plan --from-pruned`), {paths['table']}, "
          f"{paths['json'].name}, {paths['csv'].name}, {paths['alphas'].name}, {paths['masks'].name}")
    return 0
