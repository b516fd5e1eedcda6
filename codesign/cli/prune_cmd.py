"""`codesign prune`: compress one model with one method on real data and write the pruned
(and quantized) ONNX model, verified in onnxruntime, with its per-layer table.

Method options come from pruning.methods.options (no torch at start-up), one argument group
per method (shown with --method M --help), so this module never special-cases a method; the
other flags' defaults are PruneJob's."""
from __future__ import annotations

import sys
from pathlib import Path

from codesign.cli.common import (MODEL_HELP, add_method_option_groups, add_model_args, add_quiet_arg,
                                 add_run_folder_arg, add_sparsity_arg, add_training_args, check_outputs,
                                 format_table, metric_text, progress)


def register(subparsers) -> None:
    from pruning.data import BUILTIN_DATASETS
    from pruning.methods import METHODS, add_field_flag
    from pruning.models import MODELS
    from pruning.prune_job import ALLOCATIONS, EXPORTS, OPTIMIZERS, TASKS, PruneJob
    from pruning.ranges import TRAINING
    p = subparsers.add_parser(
        "prune", help="prune (and quantize) a model with one method on real data",
        usage="codesign prune MODEL (--alpha A | --sparsity PLAN.json | --pattern N:M | --bits B) "
              "--out DIR [options]",
        description="Compress MODEL with a pruning method on DATA and write the pruned ONNX model "
                    "(verified in onnxruntime; with --export qdq also an int8 QDQ model), a "
                    "per-layer table and the achieved sparsity plan. MODEL must be trainable: an "
                    f"ONNX file with real weights, or a built-in net ({', '.join(MODELS)}, "
                    "pretrained once on DATA and cached); the bundled ImageNet graphs hold "
                    "placeholder weights and cannot be pruned. Reruns with the same --out resume.")
    p.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    add_model_args(p, positional=False)
    add_field_flag(p, PruneJob, "data", f"dataset: {', '.join(BUILTIN_DATASETS)}, an IDX directory, an "
                   ".npz file (x_train, y_train, x_test, y_test: samples (N, ...) of any shape, labels "
                   "0..K-1 optional; or one array per graph input named as the input, plus optional "
                   "`labels`), a folder of such .npy files, or a .txt file (bytes as tokens); fitted to "
                   "the model's inputs (channel "
                   "axis, token ids, masks; synthetic data of every input's kind)", metavar="DATA")
    add_field_flag(p, PruneJob, "task", "what to train and judge: classify (labels; accuracy), lm "
                   "(next token on token ids; perplexity, drop in %% of it), distill (match the dense "
                   "model; top-1 agreement or cosine, no labels needed); auto: classify with labels, "
                   "else distill", choices=TASKS, metavar=None)
    add_field_flag(p, PruneJob, "method", "compression method", choices=sorted(METHODS), metavar=None)
    what = p.add_argument_group("what to compress")
    target = what.add_mutually_exclusive_group()
    add_field_flag(target, PruneJob, "alpha", "keep fraction of every prunable layer", metavar="A")
    add_sparsity_arg(target, 'per-layer plan {"alphas": {...}, "patterns": {...}, "bits": {...}} '
                             "(a `codesign plan --json` or search output works too)", aliases=("--alphas",))
    add_field_flag(what, PruneJob, "allocation", "with --alpha: uniform gives every layer alpha; global "
                   "keeps one magnitude threshold across all layers, so layers end up with different "
                   "alphas", choices=ALLOCATIONS, metavar=None)
    add_field_flag(what, PruneJob, "pattern", "sparsity pattern of every pruned layer: unstructured, N:M "
                   "(e.g. 2:4), KxL blocks (e.g. 4x1), channel")
    add_field_flag(what, PruneJob, "bits", "quantize: conv=3,fc=2 | 4 (all layers) | <weight name>=5", type=str)
    add_field_flag(what, PruneJob, "export", "float: one float ONNX; qdq: also model-qdq.onnx with int8 "
                   "weights and DequantizeLinear (needs --bits, at most 8)", choices=EXPORTS, metavar=None)
    budget = p.add_argument_group("training budget")
    add_field_flag(budget, PruneJob, "epochs", "training budget of the method, all phases together",
                   allowed=TRAINING["epochs"])
    add_field_flag(budget, PruneJob, "batch_size", "training batch size", allowed=TRAINING["batch_size"])
    add_field_flag(budget, PruneJob, "lr", "learning rate", allowed=TRAINING["lr"])
    add_field_flag(budget, PruneJob, "optimizer", "optimizer of the training runs", choices=OPTIMIZERS,
                   metavar=None)
    add_training_args(budget, PruneJob, "limit", aliases=("--limit",))
    add_run_folder_arg(p, "output directory (also the checkpoints)", required=True)
    add_quiet_arg(p)
    add_method_option_groups(p, "prune")
    p.set_defaults(func=run)


def summary_table(summary: dict) -> str:
    rows = [[r["name"], r["pattern"], f"{r['weights']:,}", f"{r['kept']:,}", f"{r['alpha']:.4f}",
             f"{r['ratio']:.1f}x", r["bits"] or "-"] for r in summary["layers"]]
    total = sum(r["weights"] for r in summary["layers"])
    kept = sum(r["kept"] for r in summary["layers"])
    rows.append(["total", "", f"{total:,}", f"{kept:,}", f"{kept / max(total, 1):.4f}",
                 f"{total / max(kept, 1):.1f}x", ""])
    n = summary["test_samples"]
    metric = summary.get("metric", "accuracy")
    shown = (lambda v: metric_text(metric, v, n))
    lines = [format_table(["layer", "pattern", "weights", "kept", "alpha", "ratio", "bits"], rows),
             f"task {summary.get('task', 'classify')}: test {metric} ({n:,} samples"
             f"{', 95% Wilson intervals' if metric == 'accuracy' else ''}): before "
             f"{shown(summary['accuracy_before'])}, after {shown(summary['accuracy_after'])} "
             f"({summary['method']}, {summary['data']}, {_budget(summary)}); onnxruntime "
             f"{shown(summary['onnxruntime_accuracy'])}, max |diff| {summary['onnxruntime_max_diff']:.2g}"]
    if summary.get("drop") is not None:
        lines.append(f"drop {summary['drop']:.2f} {summary['drop_unit']}, 95% interval "
                     f"[{summary['drop_low']:.2f}, {summary['drop_high']:.2f}] (paired, same {n:,} samples)")
    if summary.get("qdq_accuracy") is not None:
        lines.append(f"int8 QDQ model: onnxruntime {shown(summary['qdq_accuracy'])}, max |diff| "
                     f"{summary['qdq_max_diff']:.2g} against the torch model")
    return "\n".join(lines + dense_table(summary))


def dense_table(summary: dict) -> list[str]:
    """The layers the run left dense, why, and the MAC share they carry (codesign.left_dense)."""
    from codesign.report.fmt import percent, printable
    share = summary.get("compressed_mac_share")
    dense = summary.get("left_dense") or ()
    if share is None and not dense:
        return []
    head = f"compressed layers carry {percent(share)} of the MACs" if share is not None else \
        "the compressed layers' MAC share is unknown (a compressed weight is not an importer layer)"
    if not dense:
        return [head]
    rows = [[printable(d["name"]), d["op"], d["kind"], f"{d['macs']:,}", percent(d["mac_share"]), d["why"]]
            for d in dense]
    return [f"{head}; left dense:",
            format_table(["layer", "op", "kind", "MACs", "share", "why"], rows, right={3, 4})]


def _budget(summary) -> str:
    from pruning.methods import METHODS
    method = METHODS.get(summary["method"])
    return "one-shot" if method is not None and method.one_shot else f"{summary['epochs']:g} epoch(s)"


def run(args) -> int:
    from codesign.api import prune
    from codesign.compress import RUN_NAMES
    from codesign.errors import CodesignError
    from pruning.methods import options_from_args
    if args.alpha is None and not args.sparsity and not args.bits and not args.pattern:
        raise CodesignError("nothing to do: give --alpha A or --sparsity PLAN.json (what to prune), "
                            "an N:M --pattern, or --bits to quantize only")
    check_outputs(args, folders={"out": RUN_NAMES})
    out = Path(args.out)
    if (out / "checkpoints").exists():
        print(f"resuming from checkpoints in {out / 'checkpoints'}", file=sys.stderr)
    say = (lambda m: None) if args.quiet else (lambda m: print(f"codesign prune: {m}", file=sys.stderr, flush=True))
    with progress("prune", enabled=not args.quiet) as update:
        result = prune(args.model, args.data, task=args.task, input_shape=args.input_shapes or None,
                       method=args.method, alpha=args.alpha,
                       alphas=args.sparsity, allocation=args.allocation, pattern=args.pattern,
                       bits=args.bits, export=args.export, epochs=args.epochs,
                       pretrain_epochs=args.pretrain_epochs, batch_size=args.batch_size, lr=args.lr,
                       optimizer=args.optimizer, seed=args.seed, limit=args.limit,
                       test_limit=args.test_limit,
                       method_options=options_from_args(args.method, args), out=out,
                       threads=args.threads, device=args.device, on_status=say,
                       progress=update)
    print(summary_table({**result.totals, "layers": result.layers}))
    written = ", ".join(p.name for p in [out / "model.onnx", out / "model-qdq.onnx"] if p.exists())
    print(f"wrote {out}: {written} (feeds `codesign plan --from-pruned`), layers.json, layers.csv, "
          "sparsity.json, masks.npz")
    for warning in result.totals.warnings:
        print(f"codesign prune: warning: {warning}", file=sys.stderr)
    return 0
