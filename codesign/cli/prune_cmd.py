"""`codesign prune`: compress one model with one method on real data and write the pruned
(and quantized) ONNX model, verified in onnxruntime, with its per-layer table.

Method options come from pruning.methods.options (no torch at start-up), one argument group
per method, so this module never special-cases a method."""
from __future__ import annotations

import sys
from pathlib import Path

from codesign.cli.common import MODEL_HELP, add_model_args, check_outputs, format_table, progress


def register(subparsers) -> None:
    from pruning.data import BUILTIN_DATASETS
    from pruning.methods import METHODS, add_method_options
    from pruning.ranges import TRAINING
    p = subparsers.add_parser(
        "prune", help="prune (and quantize) a model with one method on real data",
        description="Compress MODEL with a pruning method on DATA and write the pruned ONNX model "
                    "(verified in onnxruntime; with --export qdq also an int8 QDQ model), a "
                    "per-layer table and the achieved sparsity plan. MODEL must be trainable: an "
                    "ONNX file with real weights, or a built-in net (lenet5, lenet300, vgg7, "
                    "pretrained once on DATA and cached); the bundled ImageNet graphs hold "
                    "placeholder weights and cannot be pruned. Reruns with the same --out resume.")
    p.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    add_model_args(p, positional=False)
    p.add_argument("--data", default="fashion-mnist",
                   help=f"dataset: {', '.join(BUILTIN_DATASETS)}, an IDX directory or an .npz file "
                        "(x_train, y_train, x_test, y_test: samples (N, ...) of any shape, labels 0..K-1). "
                        "Samples follow an ONNX model's input: (N, H, W) images or (N, L) signals gain "
                        "the channel axis the model wants, integer token ids stay integers; synthetic "
                        "data is made in the model's input shape and type with its number of classes "
                        "(default fashion-mnist)")
    p.add_argument("--method", default="admm", choices=sorted(METHODS),
                   help="compression method (default admm)")
    target = p.add_mutually_exclusive_group()
    target.add_argument("--alpha", type=float, help="keep fraction of every prunable layer")
    target.add_argument("--alphas", metavar="PLAN.json",
                        help='per-layer plan {"alphas": {...}, "patterns": {...}, "bits": {...}} '
                             "(a `codesign plan --json` or search output works too)")
    p.add_argument("--allocation", choices=("uniform", "global"), default="uniform",
                   help="with --alpha: uniform gives every layer alpha; global keeps one magnitude "
                        "threshold across all layers (torch.nn.utils.prune.global_unstructured), so "
                        "layers end up with different alphas (default uniform)")
    p.add_argument("--pattern", help="sparsity pattern of every pruned layer: unstructured, N:M "
                                     "(e.g. 2:4), KxL blocks (e.g. 4x1), channel")
    p.add_argument("--bits", help="quantize: conv=3,fc=2 | 4 (all layers) | <weight name>=5")
    p.add_argument("--export", choices=("float", "qdq"), default="float",
                   help="float: one float ONNX; qdq: also model-qdq.onnx with int8 weights and "
                        "DequantizeLinear (needs --bits, at most 8)")
    p.add_argument("--epochs", type=float, default=1.0,
                   help=f"training budget of the method, all phases together (range "
                        f"{TRAINING['epochs'].interval}; default 1)")
    p.add_argument("--pretrain-epochs", type=float, default=None,
                   help="dense training of a built-in model before compression, done once and "
                        f"cached (range {TRAINING['pretrain_epochs'].interval}; default 10 for "
                        "built-ins, 0 for files)")
    p.add_argument("--batch-size", type=int, default=128,
                   help=f"training batch size (range {TRAINING['batch_size'].interval}; default 128)")
    p.add_argument("--lr", type=float, default=1e-3,
                   help=f"learning rate (range {TRAINING['lr'].interval}; default 1e-3)")
    p.add_argument("--optimizer", choices=("adam", "sgd"), default="adam",
                   help="optimizer of the training runs (default adam)")
    p.add_argument("--seed", type=int, default=0, help="seed of every random choice (default 0)")
    p.add_argument("--limit", type=int,
                   help="use a class-balanced subset of this many training samples (default: all)")
    p.add_argument("--test-limit", type=int, help="... and of this many test samples (default: all)")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory (also the checkpoints)")
    p.add_argument("--threads", type=int, default=1,
                   help=f"torch CPU threads (range {TRAINING['threads'].interval}; default 1: two threads "
                        "collapse when anything else runs)")
    p.add_argument("--no-progress", action="store_true", help="no progress lines")
    add_method_options(p)
    p.set_defaults(func=run)


def summary_table(summary: dict) -> str:
    rows = [[r["name"], r["pattern"], f"{r['weights']:,}", f"{r['kept']:,}", f"{r['alpha']:.4f}",
             f"{r['ratio']:.1f}x", r["bits"] or "-"] for r in summary["layers"]]
    total = sum(r["weights"] for r in summary["layers"])
    kept = sum(r["kept"] for r in summary["layers"])
    rows.append(["total", "", f"{total:,}", f"{kept:,}", f"{kept / max(total, 1):.4f}",
                 f"{total / max(kept, 1):.1f}x", ""])
    n = summary["test_samples"]
    lines = [format_table(["layer", "pattern", "weights", "kept", "alpha", "ratio", "bits"], rows),
             f"test accuracy ({n:,} samples, 95% Wilson intervals): before "
             f"{_accuracy(summary['accuracy_before'], n)}, after {_accuracy(summary['accuracy_after'], n)} "
             f"({summary['method']}, {summary['data']}, {summary['epochs']:g} epoch(s)); onnxruntime "
             f"{_accuracy(summary['onnxruntime_accuracy'], n)}, max |diff| {summary['onnxruntime_max_diff']:.2g}"]
    if summary.get("qdq_accuracy") is not None:
        lines.append(f"int8 QDQ model: onnxruntime {_accuracy(summary['qdq_accuracy'], n)}, max |diff| "
                     f"{summary['qdq_max_diff']:.2g} against the torch model")
    return "\n".join(lines)


def _accuracy(value: float, n: int) -> str:
    from codesign.loop.verdict import wilson_interval
    lo, hi = wilson_interval(value, n)
    return f"{100 * value:.2f}% [{100 * lo:.1f}, {100 * hi:.1f}]"


def run(args) -> int:
    from codesign.api import prune
    from codesign.compress import RUN_NAMES
    from codesign.errors import CodesignError
    from pruning.methods import options_from_args
    if args.alpha is None and not args.alphas and not args.bits and not args.pattern:
        raise CodesignError("nothing to do: give --alpha A or --alphas PLAN.json (what to prune), "
                            "an N:M --pattern, or --bits to quantize only")
    if args.threads < 1:
        raise CodesignError("--threads must be at least 1")
    check_outputs(args, folders={"out": RUN_NAMES})
    out = Path(args.out)
    if (out / "checkpoints").exists():
        print(f"resuming from checkpoints in {out / 'checkpoints'}", file=sys.stderr)
    say = (lambda m: None) if args.no_progress else (lambda m: print(f"codesign prune: {m}", file=sys.stderr, flush=True))
    with progress("prune", enabled=not args.no_progress) as update:
        result = prune(args.model, args.data, method=args.method, alpha=args.alpha,
                       alphas=args.alphas, allocation=args.allocation, pattern=args.pattern,
                       bits=args.bits, export=args.export, epochs=args.epochs,
                       pretrain_epochs=args.pretrain_epochs, batch_size=args.batch_size, lr=args.lr,
                       optimizer=args.optimizer, seed=args.seed, limit=args.limit,
                       test_limit=args.test_limit,
                       method_options=options_from_args(args.method, args), out=out,
                       threads=args.threads, on_status=say,
                       progress=update)
    print(summary_table({**result.totals, "layers": result.layers}))
    written = ", ".join(p.name for p in [out / "model.onnx", out / "model-qdq.onnx"] if p.exists())
    print(f"wrote {out}: {written} (feeds `codesign plan --from-pruned`), layers.json, layers.csv, "
          "sparsity.json, masks.npz")
    return 0
