"""`codesign search MODEL --data DATA --hw PRESET --max-drop 0.5 ...`: hardware-aware search of
each layer's pattern and keep fraction, the compressed ONNX model (checked in onnxruntime and
costed with its own masks), the verdict (summary.json) and the report."""
from __future__ import annotations

import sys
from pathlib import Path

from codesign.cli.common import MODEL_HELP, add_hw_args, format_table, one_line, progress
from codesign.errors import CodesignError


def register(sub) -> None:
    from pruning.data import BUILTIN_DATASETS
    from pruning.methods import METHODS, add_method_options
    from pruning.ranges import TRAINING
    epochs = TRAINING["epochs"].interval
    p = sub.add_parser(
        "search", help="hardware-aware search of per-layer patterns and α; compressed model, verdict, report",
        description="Find each layer's keep fraction α (and, with --patterns, its sparsity "
                    "pattern) that makes MODEL fastest on the simulated hardware while the "
                    "accuracy drop stays within --max-drop points, judged on a paired "
                    "comparison with the reference model (the better of MODEL and a dense copy "
                    "trained like every candidate; the upper end of the drop's interval "
                    "at --confidence must be within the limit). Then train the found plan's "
                    "candidate further (--final-epochs; the candidate itself is kept if that "
                    "loses the constraint), export the compressed ONNX model (verified in "
                    "onnxruntime, costed with its own masks) and write summary.json (the verdict), plan.json, "
                    "search-history.json and the report to --out. An interrupted run resumes "
                    "when started again with the same --out and settings (files count by their "
                    "contents); one run holds --out at a time.")
    p.add_argument("model", metavar="MODEL", help=MODEL_HELP)
    p.add_argument("--data", default="fashion-mnist",
                   help=f"dataset: {', '.join(BUILTIN_DATASETS)}, an IDX directory or an .npz file "
                        "(default fashion-mnist)")
    add_hw_args(p)
    p.add_argument("--max-drop", type=float, default=0.5,
                   help="allowed accuracy drop in percentage points (default 0.5)")
    p.add_argument("--confidence", type=float, default=0.95,
                   help="confidence of the drop's interval (default 0.95)")
    p.add_argument("--method", default="admm", choices=sorted(METHODS),
                   help="compression method of the training runs (default admm)")
    p.add_argument("--allocator", default="dp",
                   help="dp (probe curves + exact DP over (pattern, α), confirmed by training), "
                        "fig5 (paper 001 Fig. 5, unstructured), or a comma list to run several "
                        "and keep the fastest that meets the constraint (default dp)")
    p.add_argument("--patterns", default="unstructured",
                   help="patterns the dp allocator may give each layer, e.g. unstructured,2:4,channel "
                        "(N:M, KxL blocks; default unstructured)")
    p.add_argument("--batch", type=int, default=1,
                   help="candidates trained per round of the confirmation, refinement and Fig. 5 "
                        "steps (default 1); set it to the number of workers to keep them all busy. "
                        "Results depend on --batch, not on the executor")
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="run evaluations in this process (local) or as Ray tasks (ray; pip install "
                        "'.[ray]'); both give the same plan (default local)")
    p.add_argument("--address", help="with --executor ray: an existing cluster (default: start a local one, "
                                     "its workers at nice 0; start a cluster of your own with "
                                     "RAY_worker_niceness=0 for the same, Ray's default is 15)")
    p.add_argument("--workers", type=int, default=2, help="with --executor ray: CPUs of the local cluster (default 2)")
    p.add_argument("--out", help="run directory (default runs/<model>-search)")
    p.add_argument("--bits", help="quantize in the final compression: conv=3,fc=2 | 4 (all "
                                  "layers) | <weight name>=5 (default: float weights)")
    p.add_argument("--export", choices=("float", "qdq"), default="float",
                   help="float: compressed.onnx; qdq: also compressed-qdq.onnx with int8 weights and "
                        "DequantizeLinear (needs --bits, at most 8)")
    p.add_argument("--storage-budget", type=float, metavar="KIB",
                   help="dp allocator: weights + indices of the whole model must fit in KIB "
                        "(on-chip storage budget)")
    p.add_argument("--initial", metavar="SPARSITY.json",
                   help="Fig. 5 start: a sparsity file {\"alphas\": {layer: α}} (default: sensitivity scan)")
    g = p.add_argument_group("training budget")
    g.add_argument("--train-limit", type=int,
                   help="training samples to use (stratified subset; default: all)")
    g.add_argument("--test-limit", type=int, help="test samples to use (default: all)")
    g.add_argument("--validation", type=int,
                   help="validation samples carved out of the training data (default: sized so that "
                        "a drop's interval is narrower than --max-drop, at most a quarter of the data)")
    g.add_argument("--pretrain-epochs", type=float,
                   help=f"dense pretraining of a built-in model, done once and cached (range "
                        f"{TRAINING['pretrain_epochs'].interval}; default 10; 0 for an ONNX file, whose "
                        "weights are used as given)")
    g.add_argument("--train-epochs", type=float, default=1.0,
                   help=f"epochs of one candidate's compression run (range {epochs}; default 1)")
    g.add_argument("--final-epochs", type=float, default=2.0,
                   help="epochs the final run trains the chosen plan's candidate further (masked "
                        f"fine-tuning; with --bits, the method again with quantization; range {epochs}; "
                        "default 2). "
                        "If that loses the constraint, the candidate itself is exported")
    g.add_argument("--probe-epochs", type=float, default=0.1,
                   help=f"masked retraining in each sensitivity probe (range {epochs}; default 0.1; 0: one-shot "
                        "magnitude pruning, which overstates the drop of large layers)")
    g.add_argument("--alpha-min", type=float, default=0.02,
                   help="smallest keep fraction the search may give a layer (default 0.02)")
    g.add_argument("--lr", type=float, default=5e-4,
                   help=f"learning rate of the compression runs (range {TRAINING['lr'].interval}; "
                        "default 5e-4: a fresh Adam at "
                        "1e-3 perturbs a trained model more than a short run repairs)")
    g.add_argument("--seed", type=int, default=0, help="seed of every random choice (default 0)")
    g.add_argument("--threads", type=int, default=1,
                   help=f"torch threads (range {TRAINING['threads'].interval}; default 1: reproducible "
                        "results, and faster than 2 "
                        "when the machine is shared)")
    p.add_argument("--quiet", action="store_true", help="print the summary only")
    add_method_options(p)
    p.set_defaults(func=run)


def _interval(v: dict | None) -> str:
    if not v:
        return "-"
    return f"{v['drop']:+.2f} [{v['ci_low']:+.2f}, {v['ci_high']:+.2f}]"


def _reference_note(ev, job) -> str:
    """On the reference's line: which dense model is the bar."""
    from codesign.report.search import reference_phrase
    if ev.request.kind != "reference":
        return ""
    phrase = reference_phrase(ev.outcome.extra.get("pretrained_accuracy"),
                              ev.outcome.extra.get("control_accuracy"), job.train_epochs)
    return f" ({phrase})" if phrase else ""


def run(args) -> int:
    from codesign.loop.job import SearchJob, run_job
    from pruning.methods import options_from_args
    from pruning.bits import parse_bits
    from pruning.ranges import check_training_numbers
    check_training_numbers(threads=args.threads)
    parse_bits(args.bits)                   # its syntax before any data is read
    allocators = tuple(a.strip() for a in args.allocator.split(",") if a.strip())
    patterns = tuple(p.strip() for p in args.patterns.split(",") if p.strip())
    out = args.out or str(Path("runs") / f"{Path(args.model).stem[:60]}-search")
    job = SearchJob(model=args.model, data=args.data, out=out, hw=args.hw,
                    hw_overrides=tuple(args.overrides), max_drop=args.max_drop,
                    confidence=args.confidence, method=args.method,
                    method_options=options_from_args(args.method, args), allocators=allocators,
                    patterns=patterns, batch=args.batch, train_limit=args.train_limit,
                    test_limit=args.test_limit, validation=args.validation,
                    pretrain_epochs=args.pretrain_epochs, train_epochs=args.train_epochs,
                    final_epochs=args.final_epochs, probe_epochs=args.probe_epochs,
                    initial=args.initial, alpha_min=args.alpha_min, lr=args.lr,
                    storage_budget_kib=args.storage_budget, bits=args.bits, export=args.export, seed=args.seed,
                    executor=args.executor, address=args.address, workers=args.workers)
    import torch
    torch.set_num_threads(args.threads)
    say = (lambda m: None) if args.quiet else (lambda m: print(f"codesign search: {one_line(m, 400)}",
                                                              file=sys.stderr, flush=True))
    counter = {"n": 0}

    def on_result(ev) -> None:
        counter["n"] += 1
        if ev.request.kind in ("probe", "reference") and not ev.cached:
            what = ", ".join(f"{n} {a:g}" + (f" ({ev.request.pattern_dict()[n]})" if n in ev.request.pattern_dict() else "")
                             for n, a in ev.request.alphas) or "dense"
            say(f"evaluation {counter['n']}: {ev.request.kind} {what}: accuracy "
                f"{100 * ev.accuracy:.2f}%{_reference_note(ev, job)} ({ev.outcome.seconds:.1f} s)")

    def on_iteration(alg, rec) -> None:
        if args.quiet or rec.phase == "restore" and rec.accuracy is None and not rec.note:
            return
        drop = "" if rec.drop is None else f"drop {rec.drop:+.2f} [{rec.ci_low:+.2f}, {rec.ci_high:+.2f}]  "
        own = "" if rec.measured_speedup is None else f" (own masks {rec.measured_speedup:.2f}x)"
        mark = "pass" if rec.accepted else "fail"
        say(f"[{alg}] #{rec.iteration} {rec.phase}: speedup {rec.speedup:.2f}x{own}  {drop}{mark}  {rec.note}")

    # A bar on a terminal; in a log, progress lines for the long dense pretraining only (the
    # searches' runs get one line each from on_result / on_iteration).
    tty = sys.stderr.isatty()
    with progress("training", enabled=not args.quiet and tty) as bar, \
            progress("pretrain", enabled=not args.quiet and not tty) as log:
        def on_progress(p) -> None:
            (bar if tty else log if p.phase == "pretrain" else (lambda *a: None))(
                p.step, p.total, f"{p.phase} {p.message}".strip())
        result = run_job(job, on_iteration=on_iteration, on_status=say, on_progress=on_progress,
                         on_result=on_result)
    rows = []
    for name, r in result.results.items():
        rows.append([name + (" *" if name == result.chosen else ""), f"{r.speedup:.2f}x",
                     f"{r.speedup_estimate:.2f}x" if r.speedup_estimate else "-",
                     f"{100 * r.accuracy:.2f}%", _interval(r.verdict.to_dict() if r.verdict else None),
                     "yes" if r.constraint_met else "NO", str(r.training_runs),
                     str(r.counts.get("probe", 0)), f"{result.wall_seconds[name]:.0f} s"])
    print(format_table(["allocator", "speedup (own masks)", "estimate", "accuracy",
                        f"drop [{100 * job.confidence:g}% CI]", "met", "training runs", "probes", "wall"],
                       rows, right={1, 2, 3, 4, 6, 7, 8}))
    s = result.summary
    c = s["constraint"]
    print(f"constraint: max drop {job.max_drop:g} points at {100 * job.confidence:g}% confidence: "
          f"{'met' if c['met'] else 'NOT met'} on validation {_interval(c['validation'])} "
          f"(n = {c['validation']['n']:,}); test {_interval(c['test'])}"
          f"{'' if c['test'] is None else ' (n = %s)' % format(c['test']['n'], ',')}")
    if s.get("shipped") == "candidate":
        print(f"the final run missed the constraint ({_interval(s['final_run']['validation'])} on "
              "validation): the exported model is the plan's candidate it started from")
    print(f"exported model: {result.files['compressed.onnx']}: whole-network speedup "
          f"{s['speedup']['exported']:.2f}x with its own masks (search estimate "
          f"{s['speedup']['search_estimate']:.2f}x); onnxruntime test accuracy "
          f"{100 * s['onnxruntime_test_accuracy']:.2f}%, max |ORT - torch| {s['onnxruntime_max_abs_diff']:.1e}")
    if s.get("qdq_test_accuracy") is not None:
        print(f"int8 QDQ model: {result.files['compressed-qdq.onnx']}: onnxruntime test accuracy "
              f"{100 * s['qdq_test_accuracy']:.2f}%, max |ORT - torch| {s['qdq_max_abs_diff']:.1e}")
    for w in result.warnings:
        print(f"warning: {w}")
    print(f"summary: {result.files['summary.json']}; report: {result.files['report.html']}")
    return 0
