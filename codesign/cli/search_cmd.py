"""`codesign search MODEL --data DATA --hw PRESET --max-drop 0.5 ...`: hardware-aware search of
each layer's pattern and keep fraction, the compressed ONNX model (checked in onnxruntime and
costed with its own masks), the verdict (summary.json) and the report."""
from __future__ import annotations

import sys

from codesign.cli.common import (MODEL_HELP, add_alias, add_hw_args, add_method_option_groups, add_quiet_arg,
                                 add_run_folder_arg, add_sparsity_arg, add_training_args, format_table,
                                 metric_text, one_line, progress)


def register(sub) -> None:
    from codesign.loop.job_spec import EXECUTORS, SearchJob, default_out
    from pruning.data import BUILTIN_DATASETS
    from pruning.methods import METHODS, add_field_flag, field_default
    from pruning.prune_job import EXPORTS, TASKS, PruneJob
    from pruning.ranges import TRAINING
    epochs = TRAINING["epochs"]
    p = sub.add_parser(
        "search", help="hardware-aware search of per-layer patterns and α; compressed model, verdict, report",
        usage="codesign search MODEL [--data DATA] [--hw PRESET] [--max-drop POINTS] [--out DIR] [options]",
        description="Find each layer's keep fraction α (and, with --patterns, its sparsity "
                    "pattern) that makes MODEL fastest on the simulated hardware while the "
                    "drop (in --task's metric) stays within --max-drop, judged on a paired "
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
    add_field_flag(p, SearchJob, "data", f"dataset: {', '.join(BUILTIN_DATASETS)}, an IDX directory, an "
                   ".npz file or a .txt file (as for prune)", default=field_default(PruneJob, "data"), metavar="DATA")
    add_hw_args(p)
    add_field_flag(p, SearchJob, "max_drop", "allowed drop: accuracy or agreement points; lm: %% perplexity",
                   metavar="POINTS")
    add_field_flag(p, SearchJob, "task", "what runs train and judge, as for prune", choices=TASKS, metavar=None)
    add_field_flag(p, SearchJob, "confidence", "confidence of the drop's interval")
    add_field_flag(p, SearchJob, "method", "compression method of the training runs", choices=sorted(METHODS),
                   metavar=None)
    add_run_folder_arg(p, f"run directory (default {default_out('MODEL')})")
    add_quiet_arg(p, "print the summary only")
    how = p.add_argument_group("the search")
    how.add_argument("--allocator", default=",".join(field_default(SearchJob, "allocators")),
                     help="dp (probe curves + exact DP over (pattern, α), confirmed by training), "
                          "fig5 (paper 001 Fig. 5, unstructured), or a comma list to run several and "
                          "keep the fastest that meets the constraint (default %(default)s)")
    how.add_argument("--patterns", default=",".join(field_default(SearchJob, "patterns")),
                     help="patterns the dp allocator may give each layer, e.g. unstructured,2:4,channel "
                          "(N:M, KxL blocks; default %(default)s)")
    add_field_flag(how, SearchJob, "storage_budget_kib", "dp allocator: weights + indices of the whole model "
                   "must fit in KIB (on-chip storage budget)", flag="--storage-budget", metavar="KIB")
    add_sparsity_arg(how, "fig5 allocator's start: a sparsity file {\"alphas\": {layer: α}} (default: "
                          "sensitivity scan)", aliases=("--initial",))
    add_field_flag(how, SearchJob, "alpha_min", "smallest keep fraction the search may give a layer")
    batch = add_field_flag(how, SearchJob, "batch", "candidates trained per round of the confirmation, "
                           "refinement and Fig. 5 steps; set it to the number of workers to keep them all "
                           "busy (results depend on it, not on the executor)", flag="--candidates-per-round",
                           metavar="N")
    add_alias(how, "--batch", batch)
    add_field_flag(how, SearchJob, "executor", "local: run evaluations in this process; ray: as Ray tasks "
                   "(pip install '.[ray]'); both give the same plan", choices=EXECUTORS, metavar=None)
    add_field_flag(how, SearchJob, "address", "with --executor ray: an existing cluster (default: start a "
                   "local one, its workers at nice 0)")
    add_field_flag(how, SearchJob, "workers", "with --executor ray: CPUs of the local cluster")
    out = p.add_argument_group("the exported model")
    add_field_flag(out, SearchJob, "bits", "quantize in the final compression: conv=3,fc=2 | 4 (all layers) | "
                   "<weight name>=5 (default: float weights)")
    add_field_flag(out, SearchJob, "export", "float: compressed.onnx; qdq: also compressed-qdq.onnx with int8 "
                   "weights and DequantizeLinear (needs --bits, at most 8)", choices=EXPORTS, metavar=None)
    g = p.add_argument_group("training budget")
    add_training_args(g, SearchJob, "train_limit")
    add_field_flag(g, SearchJob, "validation", "validation samples carved out of the training data (default: "
                   "sized so that a drop's interval is narrower than --max-drop, at most a quarter of the "
                   "data)", metavar="N")
    add_field_flag(g, SearchJob, "train_epochs", "epochs of one candidate's compression run", allowed=epochs)
    add_field_flag(g, SearchJob, "final_epochs", "epochs the final run trains the chosen plan's candidate "
                   "further (masked fine-tuning; with --bits, the method again with quantization); if that "
                   "loses the constraint, the candidate itself is exported", allowed=epochs)
    add_field_flag(g, SearchJob, "probe_epochs", "masked retraining in each sensitivity probe (0: one-shot "
                   "magnitude pruning, which overstates the drop of large layers)", allowed=epochs)
    add_field_flag(g, SearchJob, "lr", "learning rate of the compression runs (a fresh Adam at 1e-3 perturbs "
                   "a trained model more than a short run repairs)", allowed=TRAINING["lr"])
    add_method_option_groups(p, "search")
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
    from pruning.prune_job import TASK_METRICS
    phrase = reference_phrase(ev.outcome.extra.get("pretrained_accuracy"),
                              ev.outcome.extra.get("control_accuracy"), job.train_epochs,
                              TASK_METRICS[job.task][0] if job.task in TASK_METRICS else "accuracy")
    return f" ({phrase})" if phrase else ""


def run(args) -> int:
    from pruning.prune_job import TASK_METRICS
    from pruning.bits import parse_bits
    from pruning.ranges import check_training_numbers
    check_training_numbers(threads=args.threads)
    parse_bits(args.bits)                   # its syntax first: before the search's modules load
    from codesign.loop.job import SearchJob, run_job
    from codesign.loop.job_spec import default_out
    from pruning.methods import options_from_args
    allocators = tuple(a.strip() for a in args.allocator.split(",") if a.strip())
    patterns = tuple(p.strip() for p in args.patterns.split(",") if p.strip())
    out = args.out or default_out(args.model)
    job = SearchJob(model=args.model, data=args.data, out=out, hw=args.hw,
                    hw_overrides=tuple(args.overrides), max_drop=args.max_drop, task=args.task,
                    confidence=args.confidence, method=args.method,
                    method_options=options_from_args(args.method, args), allocators=allocators,
                    patterns=patterns, batch=args.batch, train_limit=args.train_limit,
                    test_limit=args.test_limit, validation=args.validation,
                    pretrain_epochs=args.pretrain_epochs, train_epochs=args.train_epochs,
                    final_epochs=args.final_epochs, probe_epochs=args.probe_epochs,
                    initial=args.sparsity, alpha_min=args.alpha_min, lr=args.lr,
                    storage_budget_kib=args.storage_budget_kib, bits=args.bits, export=args.export, seed=args.seed,
                    executor=args.executor, address=args.address, workers=args.workers, device=args.device)
    import torch
    torch.set_num_threads(args.threads)
    say = (lambda m: None) if args.quiet else (lambda m: print(f"codesign search: {one_line(m, 400)}",
                                                              file=sys.stderr, flush=True))
    counter = {"n": 0}
    shown_metric = TASK_METRICS[args.task][0] if args.task in TASK_METRICS else "accuracy"   # auto: a fraction

    def on_result(ev) -> None:
        counter["n"] += 1
        if ev.request.kind in ("probe", "reference") and not ev.cached:
            what = ", ".join(f"{n} {a:g}" + (f" ({ev.request.pattern_dict()[n]})" if n in ev.request.pattern_dict() else "")
                             for n, a in ev.request.alphas) or "dense"
            say(f"evaluation {counter['n']}: {ev.request.kind} {what}: {shown_metric} "
                f"{metric_text(shown_metric, ev.accuracy)}{_reference_note(ev, job)} ({ev.outcome.seconds:.1f} s)")

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
    metric, unit = TASK_METRICS[result.summary.get("task", "classify")]
    rows = []
    for name, r in result.results.items():
        rows.append([name + (" *" if name == result.chosen else ""), f"{r.speedup:.2f}x",
                     f"{r.speedup_estimate:.2f}x" if r.speedup_estimate else "-",
                     metric_text(metric, r.accuracy), _interval(r.verdict.to_dict() if r.verdict else None),
                     "yes" if r.constraint_met else "NO", str(r.training_runs),
                     str(r.counts.get("probe", 0)), f"{result.wall_seconds[name]:.0f} s"])
    print(format_table(["allocator", "speedup (own masks)", "estimate", metric,
                        f"drop [{100 * job.confidence:g}% CI]", "met", "training runs", "probes", "wall"],
                       rows, right={1, 2, 3, 4, 6, 7, 8}))
    s = result.summary
    c = s["constraint"]
    print(f"constraint: max drop {job.max_drop:g} {unit} at {100 * job.confidence:g}% confidence: "
          f"{'met' if c['met'] else 'NOT met'} on validation {_interval(c['validation'])} "
          f"(n = {c['validation']['n']:,}); test {_interval(c['test'])}"
          f"{'' if c['test'] is None else ' (n = %s)' % format(c['test']['n'], ',')}")
    if s.get("shipped") == "candidate":
        print(f"the final run missed the constraint ({_interval(s['final_run']['validation'])} on "
              "validation): the exported model is the plan's candidate it started from")
    print(f"exported model: {result.files['compressed.onnx']}: whole-network speedup "
          f"{s['speedup']['exported']:.2f}x with its own masks (search estimate "
          f"{s['speedup']['search_estimate']:.2f}x); onnxruntime test {metric} "
          f"{metric_text(metric, s['onnxruntime_test_accuracy'])}, max |ORT - torch| {s['onnxruntime_max_abs_diff']:.1e}")
    if s.get("compressed_mac_share") is not None:
        kinds = sorted({d["kind"] for d in s["left_dense"]})
        print(f"compressed layers carry {100 * s['compressed_mac_share']:.1f}% of the MACs; "
              f"{len(s['left_dense'])} layer(s) left dense{' (' + ', '.join(kinds) + ')' if kinds else ''}: "
              "summary.json `left_dense`")
    if s.get("qdq_test_accuracy") is not None:
        print(f"int8 QDQ model: {result.files['compressed-qdq.onnx']}: onnxruntime test {metric} "
              f"{metric_text(metric, s['qdq_test_accuracy'])}, max |ORT - torch| {s['qdq_max_abs_diff']:.1e}")
    for w in result.warnings:
        print(f"warning: {w}")
    print(f"summary: {result.files['summary.json']}; report: {result.files['report.html']}")
    return 0
