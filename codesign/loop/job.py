"""One `codesign search` run end to end, in a run directory that makes it resumable.

settings checked -> data, validation split sized for the constraint -> dense model (a built-in
pretrained once and cached, or an ONNX file's own weights) -> cost model of the hardware on its
layers -> the search(es), every accuracy through one executor (local or Ray) whose log is
OUT/evaluations.jsonl -> final compression -> compressed ONNX verified in onnxruntime, costed
with its own masks -> summary.json (the verdict), plan.json, search-history.json and the report.

Re-running with the same OUT resumes: finished evaluations are replayed from the log, the final
run checkpoints its epochs. One run holds OUT at a time (codesign.runlock).
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping

from codesign.errors import CodesignError
from codesign.executor import EvalRequest
from codesign.loop import ALGORITHMS, SearchConfig, SearchResult
from codesign.loop.records import IterationHook, SearchError
from codesign.loop.verdict import ASSUMED_DISCORDANCE, DEFAULT_CONFIDENCE, expected_width, validation_size
from codesign.report.renderer import REPORT_NAMES
from codesign.runlock import LOCK_NAME
from hwmodels.arch import KB_BITS
from pruning.ranges import TRAINING, Range, check
from pruning.safe_files import MIB, check_out_folder, make_dir, open_file, read_file, write_file

EVALUATIONS = "evaluations.jsonl"
# Version of what an evaluation of a run folder means; a folder of another version is not
# resumed (2: a final run continues from the plan's candidate instead of starting from dense).
LOOP_VERSION = 2
EXECUTORS = ("local", "ray")
MAX_JOB_BYTES = 1 * MIB              # job.json: the settings of a run
MAX_INPUT_BYTES = 2048 * MIB         # model.onnx saved by the API: protobuf's own limit
# What a search writes in its run folder (a folder's name ends in "/"), checked before any work.
RUN_NAMES = ("job.json", "summary.json", "search-history.json", "compressed.onnx", "compressed-qdq.onnx",
             EVALUATIONS, "final/", "model.onnx", "data.npz", LOCK_NAME) + REPORT_NAMES


@dataclass(frozen=True)
class SearchJob:
    model: str                                  # lenet5 | lenet300 | vgg7 | path to an ONNX file
    data: str                                   # fashion-mnist | mnist5k | digits | synthetic | path
    out: str
    hw: str = "smic40-admmnn"
    hw_overrides: tuple[str, ...] = ()          # KEY=VALUE, as --set
    max_drop: float = 0.5
    confidence: float = DEFAULT_CONFIDENCE
    method: str = "admm"
    method_options: Mapping[str, Any] = field(default_factory=dict)
    allocators: tuple[str, ...] = ("dp",)
    patterns: tuple[str, ...] = ("unstructured",)   # dp: per-layer choice among these
    batch: int = 1                              # candidates trained per round
    train_limit: int | None = None              # training samples (seeded, class-stratified)
    test_limit: int | None = None
    validation: int | None = None               # None: sized for the constraint
    pretrain_epochs: float | None = None        # None: 10 for a built-in, 0 for a file
    train_epochs: float = 1.0
    final_epochs: float = 2.0                   # further epochs from the chosen candidate
    probe_epochs: float = 0.1
    initial: str | None = None                  # Fig. 5 start: a sparsity file
    bits: str | None = None                     # final quantization: "conv=3,fc=2", "4", ...
    export: str = "float"                       # float, or qdq: also int8 weights + DequantizeLinear
    alpha_min: float = 0.02
    lr: float = 5e-4                            # fine-tuning lr of the compression runs
    storage_budget_kib: float | None = None     # dp: weights + indices must fit (KiB)
    seed: int = 0
    executor: str = "local"                     # where evaluations run (not in the fingerprint)
    address: str | None = None
    workers: int = 2

    def fingerprint(self) -> dict:
        """Settings that change results: a run directory only resumes a run with the same ones
        (the executor is not one of them: every executor gives the same results). Files (model,
        data, hardware, initial sparsity) count by their contents."""
        from pruning.identity import data_identity, file_identity
        d = {k: v for k, v in asdict(self).items() if v is not None}   # unset options: absent
        for k in ("out", "allocators", "executor", "address", "workers"):
            d.pop(k, None)
        for k in ("model", "hw", "initial"):       # files by their contents (a path wins over a name)
            if k in d:
                d[k] = file_identity(d[k])
        d["data"] = data_identity(self.data)
        d["loop_version"] = LOOP_VERSION
        return json.loads(json.dumps(d, sort_keys=True, default=str))


@dataclass
class JobResult:
    """What `codesign search` / `codesign.search(...)` returns: every allocator's result, the
    chosen one, the verdict (`summary`, as OUT/summary.json), the exported model's plan and
    the files written."""
    results: dict[str, SearchResult]
    chosen: str
    wall_seconds: dict[str, float]
    files: dict[str, Path]
    summary: dict
    warnings: list[str]
    plan: Any = None                            # codesign.plans.Plan of the exported model

    @property
    def best(self) -> SearchResult:
        return self.results[self.chosen]

    def to_dict(self) -> dict:
        return dict(self.summary)


StatusHook = Callable[[str], None]


# The search's own numbers, by SearchJob field; its training settings are checked against
# pruning.ranges.TRAINING (the same ranges as `codesign prune`).
SEARCH_NUMBERS = {
    "max_drop": Range(0, 100),                        # percentage points of accuracy
    "confidence": Range(0.5, 0.9999),                 # of the drop's interval
    "alpha_min": Range(1e-6, 0.999),                  # a keep fraction below 1
    "storage_budget_kib": Range(1e-6, 1e12),          # KiB: 1e12 is a petabyte of weights
    "validation": Range(10, 10 ** 9, whole=True),     # a verdict on fewer samples says nothing
    "train_limit": Range(10, 10 ** 9, whole=True),
    "workers": Range(1, 1024, whole=True),            # CPUs of a local Ray cluster
    "batch": Range(1, 1024, whole=True),              # candidates per round: one per worker
}
TRAINING_SETTINGS = {"train_epochs": "epochs", "final_epochs": "epochs", "probe_epochs": "epochs",
                     "pretrain_epochs": "pretrain_epochs", "lr": "lr", "seed": "seed",
                     "test_limit": "test_limit"}
FLAGS = {"storage_budget_kib": "--storage-budget"}     # where a flag is not the field's name


def _check_numbers(job: SearchJob) -> None:
    ranges = {**SEARCH_NUMBERS, **{k: TRAINING[v] for k, v in TRAINING_SETTINGS.items()}}
    for name, allowed in ranges.items():
        check(FLAGS.get(name, f"--{name.replace('_', '-')}"), getattr(job, name), allowed, SearchError)


def validate(job: SearchJob):
    """Everything that can be checked before any work: names, numbers, files. Returns
    (hardware spec, patterns, initial sparsity or None)."""
    from codesign.specs import hardware
    from codesign.plans import read_sparsity
    from pruning.methods import make_options
    from pruning.patterns import parse_pattern
    from pruning.pipeline import check_trainable
    _check_numbers(job)
    unknown = [a for a in job.allocators if a not in ALGORITHMS]
    if unknown or not job.allocators:
        raise SearchError(f"unknown allocator(s) {unknown}; choose from {sorted(ALGORITHMS)}")
    if job.export not in ("float", "qdq"):
        raise SearchError(f"export {job.export!r} is not float or qdq")
    if job.export == "qdq" and not job.bits:
        raise SearchError("--export qdq stores quantized weights as int8: give --bits (e.g. --bits 8)")
    if job.executor not in EXECUTORS:
        raise SearchError(f"executor {job.executor!r} is not one of {', '.join(EXECUTORS)}")
    make_options(job.method, job.method_options)
    patterns = tuple(parse_pattern(p) for p in job.patterns)
    if not patterns:
        raise SearchError("give at least one pattern, e.g. --patterns unstructured,2:4")
    spec = hardware(job.hw, list(job.hw_overrides))
    initial = read_sparsity(job.initial) if job.initial else None
    check_trainable(job.model)             # a missing model file: refused before any work
    check_out_folder(job.out, "--out", RUN_NAMES)
    return spec, patterns, initial


def run_job(job: SearchJob, on_iteration: Callable[[str, Any], None] | None = None,
            on_status: StatusHook | None = None, on_progress=None,
            on_result: Callable[[Any], None] | None = None) -> JobResult:
    from codesign.runlock import run_lock
    spec, patterns, initial = validate(job)
    _check_same_job(Path(job.out), job)          # before any work: a mismatch is known now
    status = on_status or (lambda _m: None)
    status(f"loading data {job.data!r}")
    prepared = _prepare(job, status, on_progress)
    with run_lock(job.out, "codesign search"):
        return _run(job, spec, patterns, initial, prepared, status, on_iteration, on_progress, on_result)


@dataclass
class _Prepared:
    search_data: Any
    test_data: Any
    module: Any
    network: Any
    bits: dict
    validation: int
    warnings: list[str]


def _prepare(job: SearchJob, status: StatusHook, on_progress) -> _Prepared:
    """Data, validation split, the dense model (pretrained once if built in) and its layers."""
    import torch

    from codesign.graph import load_network
    from codesign.loop.torch_oracle import search_split
    from pruning.models import builtin_name, pretrain_epochs
    from pruning.pipeline import prepare, resolve_bits
    from pruning.protocol import prunable_weights
    # the model and the data fitted to it (tokens, signals, images; synthetic data of its kind)
    module, data = prepare(job.model, job.data, limit=job.train_limit, test_limit=job.test_limit, seed=job.seed)
    warnings: list[str] = []
    if job.validation is None:
        n_val, width = validation_size(job.max_drop, len(data.train_y), job.confidence)
    else:
        n_val = min(job.validation, len(data.train_y) // 2)
        width = expected_width(n_val, job.confidence)
    if width > job.max_drop:
        warnings.append(f"validation split of {n_val} samples: a drop's {100 * job.confidence:g}% interval "
                        f"is about {width:.2f} points wide if the models disagree on "
                        f"{100 * ASSUMED_DISCORDANCE:g}% of the samples (narrower if less), wider than "
                        f"--max-drop {job.max_drop:g}; the "
                        "constraint is then met only by plans clearly better than the limit (use more "
                        "data or a larger --max-drop)")
        status(warnings[-1])
    search_data, test_data = search_split(data, n_val, job.seed)
    builtin = builtin_name(job.model)
    epochs = pretrain_epochs(job.model, job.pretrain_epochs)
    if epochs > 0:
        from pruning.pretrain import pretrained
        torch.manual_seed(job.seed)
        pretrained(module, builtin or Path(job.model).stem, search_data, epochs,
                   seed=job.seed, on_status=status, on_progress=on_progress)
    elif not builtin:
        status(f"using the weights of {job.model} as given (no pretraining)")
    bits = resolve_bits(job.bits, prunable_weights(module))
    network = load_network(module.to_onnx(), (1,) + tuple(data.input_shape))
    return _Prepared(search_data, test_data, module, network, bits, n_val, warnings)


def _cost_and_oracle(job: SearchJob, spec, prep: _Prepared, on_progress=None):
    """The hardware's cost view of the prunable layers and the accuracy oracle of the job."""
    from codesign.loop.hwcost import HwCostModel, MaskCost
    from codesign.loop.torch_oracle import OracleSettings, TorchOracle
    network, module = prep.network, prep.module
    # the layers the search may prune: weights the bridge trains (a weight folded from others,
    # e.g. a dynamo LSTM's sliced gates, is costed but cannot be pruned)
    layouts = module.onnx_weight_layouts()
    prunable = [l.name for l in network.layers if l.shape.prunable and l.name in layouts]
    cost = HwCostModel(network.shapes, spec, prunable, weight_bits=prep.bits)
    mask_cost = MaskCost(network.shapes, spec, prep.bits, layouts)
    settings = OracleSettings(method=job.method, method_options=dict(job.method_options),
                              train_epochs=job.train_epochs, final_epochs=job.final_epochs,
                              probe_epochs=job.probe_epochs, bits=prep.bits, lr=job.lr, seed=job.seed)
    fingerprint = json.dumps(job.fingerprint(), sort_keys=True)
    oracle = TorchOracle(module, prep.search_data, prep.test_data, settings, job.out, on_progress,
                         mask_cost, fingerprint=hashlib.sha256(fingerprint.encode()).hexdigest()[:16])
    return cost, oracle


def oracle_for(job: SearchJob, on_status: StatusHook | None = None):
    """The accuracy oracle a run of `job` evaluates with (data, validation split, the dense
    model pretrained or loaded from the cache): to recompute a run folder's evaluations."""
    spec, _, _ = validate(job)
    prep = _prepare(job, on_status or (lambda _m: None), None)
    return _cost_and_oracle(job, spec, prep)[1]


def _executor(job: SearchJob, oracle, on_result, on_start):
    from codesign.executor import InProcessExecutor
    log = Path(job.out) / EVALUATIONS
    if job.executor == "ray":
        from codesign.ray_engine import RayExecutor
        return RayExecutor(oracle, log, on_result, on_start, address=job.address, workers=job.workers)
    return InProcessExecutor(oracle, log, on_result, on_start)


def _run(job: SearchJob, spec, patterns, initial, prep: _Prepared, status, on_iteration,
         on_progress, on_result) -> JobResult:
    from contextlib import nullcontext

    out = Path(job.out)
    _check_same_job(out, job)                    # again under the lock, and record the job
    write_file(out / "job.json", json.dumps(job.fingerprint(), indent=1, sort_keys=True), within=out)
    network = prep.network
    cost, oracle = _cost_and_oracle(job, spec, prep, on_progress)
    config = SearchConfig(max_drop=job.max_drop, confidence=job.confidence, alpha_min=job.alpha_min,
                          patterns=patterns, batch=job.batch,
                          storage_budget_bits=None if job.storage_budget_kib is None
                          else job.storage_budget_kib * KB_BITS)
    executor = _executor(job, oracle, on_result, lambda request: _starting(request, job, status))
    if executor.log.outcomes:
        status(f"resuming {out}: {len(executor.log.outcomes)} evaluation(s) recorded in {EVALUATIONS} "
               "are replayed, not recomputed")
    results: dict[str, SearchResult] = {}
    wall: dict[str, float] = {}
    with executor if hasattr(executor, "__enter__") else nullcontext(executor):
        for name in job.allocators:
            status(f"search with the {name} allocator ({executor.name} executor, "
                   f"{executor.workers} worker{'s' if executor.workers > 1 else ''})")
            t0 = time.perf_counter()
            hook: IterationHook | None = (lambda rec, n=name: on_iteration(n, rec)) if on_iteration else None
            kwargs = {"initial": dict(initial.alphas)} if name == "fig5" and initial is not None else {}
            results[name] = ALGORITHMS[name](executor, cost, config, on_iteration=hook, **kwargs)
            wall[name] = time.perf_counter() - t0
    chosen = _best(results)
    best = results[chosen]
    status(f"exporting the compressed model of the {chosen} search and checking it in onnxruntime")
    final_req = EvalRequest.make("final", best.alphas, best.patterns)
    candidate = best.extras.get("shipped") == "candidate"
    if candidate:
        status("the final run missed the constraint; shipping the plan's candidate, which meets it")
    final = oracle.load_final(final_req, start=candidate)
    recomputed = final is None
    if recomputed:                    # outcome replayed from the log, model file lost
        status("the final model's checkpoint is missing: recomputing the final run")
        oracle.evaluate(final_req)
        final = oracle.load_final(final_req, start=candidate)
    files, exported = _export(final, prep, out, best, spec, job)
    summary = _summary(job, best, exported, results, executor, prep)
    files["summary.json"] = write_file(out / "summary.json", json.dumps(summary, indent=1, allow_nan=True) + "\n",
                                       within=out)
    files["search-history.json"] = write_file(out / "search-history.json", json.dumps(
        {"job": job.fingerprint(), "allocators": list(job.allocators), "chosen": chosen,
         "wall_seconds": wall, "results": {k: r.to_dict() for k, r in results.items()}},
        indent=1, default=str), within=out)
    files.update(write_search_report(job, network, spec, results, chosen, wall, summary, exported,
                                     out, recomputed))
    return JobResult(results, chosen, wall, files, summary, list(prep.warnings), exported["plan"])


def _starting(request: EvalRequest, job: SearchJob, status: StatusHook) -> None:
    """A line before the longest evaluation, so a log does not go quiet for minutes."""
    if request.kind == "final":
        status(f"final run at the chosen plan: its candidate's training run again ({job.train_epochs:g} "
               f"epoch(s)), then {job.final_epochs:g} more ({'with quantization' if job.bits else 'masked fine-tuning'})")


def _check_same_job(out: Path, job: SearchJob) -> None:
    p = out / "job.json"
    fp = job.fingerprint()
    if os.path.lexists(p):                       # a link or FIFO there is refused, not followed
        try:
            old = json.loads(read_file(p, MAX_JOB_BYTES, within=out).decode("utf-8"))
            if not isinstance(old, dict):
                raise ValueError("not an object")
        except (ValueError, OSError, RecursionError):
            raise SearchError(f"{p} is not a codesign job file; use another --out") from None
        old = {k: v for k, v in old.items() if v is not None}
        if old != fp:
            diff = sorted(k for k in set(old) | set(fp) if old.get(k) != fp.get(k))
            raise SearchError(f"{out} holds a run with other settings ({', '.join(diff)[:120]}); "
                              f"use another --out, or the same settings to resume it")


def _best(results: Mapping[str, SearchResult]) -> str:
    """The fastest result that meets the constraint (else the one with the smallest drop)."""
    ok = {k: r for k, r in results.items() if r.constraint_met}
    if ok:
        return max(ok, key=lambda k: ok[k].speedup)
    return min(results, key=lambda k: results[k].drop)


def _export(final, prep: _Prepared, out: Path, result: SearchResult, spec, job: SearchJob):
    """compressed.onnx (and, with --export qdq, compressed-qdq.onnx: int8 weights and
    DequantizeLinear), checked in onnxruntime, and the plan of the exported file with its own
    masks (plan.json)."""
    from codesign.api import plan as plan_of
    from codesign.graph import load_network
    from pruning.onnx.bridge import onnxruntime_accuracy, verify_onnx
    model, masks, intervals = final
    meta = {"alphas": result.alphas, "patterns": result.patterns, "algorithm": result.algorithm,
            "hardware": spec.name}
    proto = model.to_onnx(metadata=meta)          # the source's input shapes, batch included
    sample = prep.test_data.test_x[:64]
    masks = {n: m for n, m in masks.items() if not bool(m.all())}
    diff = verify_onnx(model, proto, sample, masks)
    files = {"compressed.onnx": write_file(out / "compressed.onnx", proto.SerializeToString(), within=out)}
    info = {"max_abs_diff": diff, "onnxruntime_test_accuracy": onnxruntime_accuracy(proto, prep.test_data)}
    if job.export == "qdq":
        from pruning.onnx.qdq import to_qdq
        qdq = to_qdq(proto, intervals, prep.bits)
        info["qdq_max_abs_diff"] = verify_onnx(model, qdq, sample, masks)
        info["qdq_test_accuracy"] = onnxruntime_accuracy(qdq, prep.test_data)
        files["compressed-qdq.onnx"] = write_file(out / "compressed-qdq.onnx", qdq.SerializeToString(), within=out)
    exported_net = load_network(proto, (1,) + tuple(prep.test_data.input_shape))
    plan = plan_of(prep.network, spec, pruned=exported_net)
    files["plan.json"] = plan.save(out / "plan.json", within=out)
    info.update(speedup=float(plan.totals["speedup"]), plan=plan)
    return files, info


def _summary(job: SearchJob, best: SearchResult, exported: dict, results, executor, prep) -> dict:
    val, test = best.verdict, best.test_verdict
    reference = dict(getattr(executor.log.get(EvalRequest.make("reference")), "extra", {}) or {})
    return {
        "constraint": {"max_drop": job.max_drop, "confidence": job.confidence,
                       "met": bool(best.constraint_met),
                       "validation": val.to_dict() if val else None,
                       "test": test.to_dict() if test else None,
                       "test_met": None if test is None else bool(test.met(job.max_drop))},
        "speedup": {"search_estimate": best.speedup_estimate, "exported": exported["speedup"]},
        "training_runs": best.training_runs,
        "probes": best.counts.get("probe", 0),
        "shipped": best.extras.get("shipped", "final run"),
        "final_run": best.extras.get("final_run"),
        "executor": {"name": executor.name, "workers": executor.workers},
        "chosen": best.algorithm,
        "alphas": {n: a for n, a in best.alphas.items() if a < 1},
        "patterns": dict(best.patterns),
        "reference_accuracy": best.reference_accuracy,     # the bar: the better of the two below
        "given_accuracy": reference.get("pretrained_accuracy"),      # the dense model as given
        "trained_reference_accuracy": reference.get("control_accuracy"),   # a copy trained like a candidate
        "final_accuracy": best.accuracy,
        "final_test_accuracy": best.extras.get("final_extra", {}).get("test_accuracy"),
        "onnxruntime_test_accuracy": exported["onnxruntime_test_accuracy"],
        "onnxruntime_max_abs_diff": exported["max_abs_diff"],
        "qdq_test_accuracy": exported.get("qdq_test_accuracy"),
        "qdq_max_abs_diff": exported.get("qdq_max_abs_diff"),
        "validation_samples": prep.validation,
        "warnings": list(prep.warnings),
        "allocators": {k: {"speedup": r.speedup, "met": r.constraint_met, "training_runs": r.training_runs,
                           "drop": r.drop} for k, r in results.items()},
    }


def reference_phrase(given: float | None, trained: float | None, train_epochs: float) -> str:
    """Which dense models the bar every candidate is judged against is the better of ("" when
    no trained copy was made)."""
    if given is None or trained is None:
        return ""
    return (f"the better of the dense model as given ({100 * given:.2f}%) and a dense copy trained "
            f"{train_epochs:g} epoch(s) like every candidate ({100 * trained:.2f}%)")


def write_search_report(job: SearchJob, network, hw, results: Mapping[str, SearchResult], chosen: str,
                        wall: Mapping[str, float], summary: dict, exported: dict, out: Path,
                        recomputed: bool = False) -> dict[str, Path]:
    from codesign.report import render
    from codesign.report.build import search_report, search_trace
    c = summary["constraint"]

    def interval(v: dict | None) -> str:
        if not v:
            return "–"
        return f"{v['drop']:+.2f} [{v['ci_low']:+.2f}, {v['ci_high']:+.2f}] points (n = {v['n']:,})"
    which_reference = reference_phrase(summary.get("given_accuracy"), summary.get("trained_reference_accuracy"),
                           job.train_epochs)
    lines = {"constraint met (validation)": "yes" if c["met"] else "NO",
             "exported model": ("the final run" if summary.get("shipped") != "candidate"
                                else "the plan's candidate (the final run missed the constraint)"),
             f"drop on validation, {100 * job.confidence:g}% interval": interval(c["validation"]),
             f"drop on test, {100 * job.confidence:g}% interval": interval(c["test"]),
             "whole-network speedup, exported model (its own masks)": f"{summary['speedup']['exported']:.2f}x",
             "whole-network speedup, search estimate (mask statistics)":
                 f"{summary['speedup']['search_estimate']:.2f}x",
             "onnxruntime test accuracy": f"{100 * summary['onnxruntime_test_accuracy']:.2f}%",
             "reference accuracy (validation)": f"{100 * summary['reference_accuracy']:.2f}%"
                                                 + (f": {which_reference}" if which_reference else ""),
             "training runs (chosen search)": summary["training_runs"],
             "executor": f"{summary['executor']['name']} ({summary['executor']['workers']} worker{'s' if summary['executor']['workers'] > 1 else ''})"}
    traces = [search_trace(r, wall.get(k), job.max_drop) for k, r in results.items()]
    meta = {"model": job.model, "data": job.data, "hardware": job.hw, "method": job.method,
            "max drop": f"{job.max_drop} points at {100 * job.confidence:g}% confidence",
            "patterns": ", ".join(job.patterns), "allocators": ", ".join(results),
            **({"final quantization": job.bits} if job.bits else {})}
    notes = [f"The constraint is judged on a paired comparison with the reference model on "
             f"{summary['validation_samples']:,} validation samples carved out of the training data "
             "(Agresti-Min interval of the drop; met when its upper end is within max drop); the "
             "test split is reported beside it, never used to decide.",
             f"Each training run: {job.train_epochs:g} epoch(s) of {job.method}; the final run "
             f"trains the chosen plan's candidate {job.final_epochs:g} epoch(s) further "
             f"({'the method again with quantization' if job.bits else 'masked fine-tuning'}); "
             f"probes: one layer pruned by magnitude, {job.probe_epochs:g} epoch(s) of retraining, "
             "only where the layer can run sparse.",
             "Speedups are simulated by hwmodels on the hardware preset, not measured on silicon; "
             "the table below is the exported model's own plan."]
    notes += summary.get("warnings", [])
    if recomputed:
        notes.append("The final model was recomputed in this session (its checkpoint was missing).")
    if summary.get("shipped") == "candidate":
        run = summary["final_run"]["validation"]
        notes.append(f"The final run missed the constraint (validation drop {run['drop']:+.2f} "
                     f"[{run['ci_low']:+.2f}, {run['ci_high']:+.2f}]); the exported model is the "
                     "plan's candidate it started from, which meets it.")
    rep = search_report(exported["plan"], traces, title=f"Search: {job.model} on {job.hw}",
                        meta=meta, summary=lines, notes=notes)
    return dict(render(rep, out))


def search_api(model, data, *, out=None, hw="smic40-admmnn", on_status: StatusHook | None = None,
               on_progress=None, **options) -> JobResult:
    """`codesign.search(...)`: MODEL (a built-in name, an ONNX path or a torch nn.Module, which
    is exported with its weights) on DATA (a dataset name or path, or any form codesign.prune
    accepts, saved as OUT/data.npz so the run can resume). Options are SearchJob's fields
    (max_drop=, patterns=, allocators=, executor="ray", workers=, ...). Returns the JobResult."""
    import numpy as np

    from codesign.arguments import is_torch_module as _is_module
    from pruning.methods import make_options
    out = Path(out) if out is not None else Path("reports") / "search-run"
    for key in ("patterns", "allocators", "hw_overrides"):
        if isinstance(options.get(key), str):
            options[key] = tuple(p.strip() for p in options[key].split(",") if p.strip())
        elif key in options:
            options[key] = tuple(options[key])
    try:       # model and data named for now: the numbers and options are checked before any file
        job = SearchJob(model="model", data="data", out=str(out), hw=str(hw), **options)
    except TypeError as exc:
        raise CodesignError(f"codesign.search: {exc}") from None
    _check_numbers(job)
    make_options(job.method, job.method_options)
    if _is_module(model) or not isinstance(data, (str, Path)):
        make_dir(check_out_folder(out, "out=", RUN_NAMES), within=out)
    if _is_module(model):
        from codesign.compress import as_dataset
        from pruning.onnx.bridge import export_torch
        ds = as_dataset(data) if not isinstance(data, (str, Path)) else None
        shape = ds.input_shape if ds is not None else _input_shape_of(data)
        path = out / "model.onnx"
        exported = export_torch(model, tuple(shape)).SerializeToString()
        _write_input(path, os.path.lexists(path) and read_file(path, MAX_INPUT_BYTES, within=out) == exported,
                     lambda: write_file(path, exported, within=out))
        model = str(path)
    if not isinstance(data, (str, Path)):
        from codesign.compress import as_dataset
        ds = as_dataset(data)
        path = out / "data.npz"
        arrays = {"x_train": ds.train_x, "y_train": ds.train_y, "x_test": ds.test_x, "y_test": ds.test_y}
        _write_input(path, _holds_arrays(path, arrays), lambda: write_file(path, lambda f: np.savez(f, **arrays),
                                                                           within=out))
        data = str(path)
    return run_job(replace(job, model=str(model), data=str(data)), on_status=on_status, on_progress=on_progress)


def _write_input(path: Path, same: bool, write: Callable[[], Any]) -> None:
    """An input the API saves into OUT: kept when a rerun gives the same (so the run resumes;
    np.savez stamps the time), written when new, refused when it would replace the input of
    the run OUT holds."""
    if same:
        return
    if path.exists() and (path.parent / "job.json").exists():
        raise SearchError(f"{path.parent} holds a run of another {path.stem}; use another out=, or the "
                          "same model and data to resume it")
    write()


def _holds_arrays(path: Path, arrays: Mapping[str, Any]) -> bool:
    """Whether the .npz file at `path` holds exactly these arrays (same names, dtypes, values)."""
    import zipfile

    import numpy as np
    if not os.path.lexists(path):
        return False
    try:
        with open_file(path, within=path.parent) as fh, np.load(fh, allow_pickle=False) as old:
            return set(old.files) == set(arrays) and all(
                old[k].dtype == np.asarray(v).dtype and np.array_equal(old[k], v) for k, v in arrays.items())
    except (OSError, ValueError, zipfile.BadZipFile):
        return False


def _input_shape_of(data) -> tuple[int, ...]:
    from pruning.data import load_dataset
    return tuple(load_dataset(str(data), limit=10, test_limit=10).input_shape)
