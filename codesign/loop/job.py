"""One `codesign search` run end to end, in a run directory that makes it resumable.

settings checked -> data, validation split sized for the constraint -> dense model (a built-in
pretrained once and cached, or an ONNX file's own weights) -> cost model of the hardware on its
layers -> the search(es), every accuracy through one executor (local or Ray) whose log is
OUT/evaluations.jsonl -> final compression -> compressed ONNX verified in onnxruntime, costed
with its own masks -> summary.json (the verdict), plan.json, search-history.json and the report.

Re-running with the same OUT resumes: finished evaluations are replayed from the log, the final
run checkpoints its epochs. One run holds OUT at a time (codesign.runlock).

The steps live in modules of one job each: job_spec (settings, fingerprint), validate,
prepare (data, pretraining), wiring (cost views, oracle, executor), export (ONNX, onnxruntime,
the exported model's plan), codesign.report.search (the report's prose) and inputs (the API's
in-memory model and data saved into OUT).
"""
from __future__ import annotations

import json
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from codesign import arguments
from codesign.executor import EvalRequest
from codesign.loop import ALGORITHMS, SearchConfig, SearchResult
from codesign.loop.export import export_model
from codesign.loop.job_spec import EVALUATIONS, SearchJob, StatusHook
from codesign.loop.prepare import Prepared, prepare
from codesign.loop.records import IterationHook
from codesign.loop.summary import SearchSummary, summarize
from codesign.loop.validate import check_same_job, validate
from codesign.loop.wiring import cost_and_oracle, make_executor
from codesign.plans import LayerPlan, Plan, layer_curves
from codesign.report.renderer import rerender
from codesign.report.search import write_search_report
from codesign.runlock import run_lock
from hwmodels.arch import KB_BITS
from pruning.safe_files import write_file


@dataclass(frozen=True)
class JobResult:
    """What `codesign search` / `codesign.search(...)` returns: every allocator's result, the
    chosen one, the verdict (`summary`, as OUT/summary.json), the exported model's plan and
    the files written. A codesign.results.Result: its layers and CSV are the exported model's
    plan, its totals the verdict, its report the search report."""
    results: dict[str, SearchResult]
    chosen: str
    wall_seconds: dict[str, float]
    files: dict[str, Path]
    summary: SearchSummary
    warnings: tuple[str, ...]
    plan: Plan                                  # of the exported model, with its own masks

    @property
    def best(self) -> SearchResult:
        return self.results[self.chosen]

    @property
    def layers(self) -> tuple[LayerPlan, ...]:
        return self.plan.layers

    @property
    def totals(self) -> SearchSummary:
        return self.summary

    def to_dict(self) -> dict:
        """OUT/summary.json (SearchSummary.from_dict reads it back)."""
        return self.summary.to_dict()

    def to_csv(self, path) -> Path:
        return self.plan.to_csv(path)

    def report(self, out_dir) -> dict[str, Path]:
        """The search report again, from the run folder's report data, into `out_dir`."""
        return rerender(Path(self.files["summary.json"]).parent, arguments.report_dir("out_dir", out_dir))


def run_job(job: SearchJob, on_iteration: Callable[[str, Any], None] | None = None,
            on_status: StatusHook | None = None, on_progress=None,
            on_result: Callable[[Any], None] | None = None) -> JobResult:
    spec, patterns, initial = validate(job)
    check_same_job(Path(job.out), job)          # before any work: a mismatch is known now
    status = on_status or (lambda _m: None)
    status(f"loading data {job.data!r}")
    prepared = prepare(job, status, on_progress)
    with run_lock(job.out, "codesign search"):
        return _run(job, spec, patterns, initial, prepared, status, on_iteration, on_progress, on_result)


def _run(job: SearchJob, spec, patterns, initial, prep: Prepared, status, on_iteration,
         on_progress, on_result) -> JobResult:
    out = Path(job.out)
    check_same_job(out, job)                    # again under the lock, and record the job
    write_file(out / "job.json", json.dumps(job.fingerprint(), indent=1, sort_keys=True), within=out)
    cost, oracle = cost_and_oracle(job, spec, prep, on_progress)
    config = SearchConfig(max_drop=job.max_drop, task=prep.search_data.task.name,
                          confidence=job.confidence, alpha_min=job.alpha_min,
                          patterns=patterns, batch=job.batch,
                          storage_budget_bits=None if job.storage_budget_kib is None
                          else job.storage_budget_kib * KB_BITS)
    executor = make_executor(job, oracle, on_result, lambda request: _starting(request, job, status))
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
    candidate = best.shipped == "candidate"
    if candidate:
        status("the final run missed the constraint; shipping the plan's candidate, which meets it")
    final = oracle.load_final(final_req, start=candidate)
    recomputed = final is None
    if recomputed:                    # outcome replayed from the log, model file lost
        status("the final model's checkpoint is missing: recomputing the final run")
        oracle.evaluate(final_req)
        final = oracle.load_final(final_req, start=candidate)
    files, exported = export_model(final, prep, out, best, spec, job)
    for line in _chance(job, prep, best, config.task):
        status(f"warning: {line}")
        prep.warnings.append(line)
    summary = summarize(job, best, exported, results, executor, prep.validation, prep.warnings,
                        task=config.task)
    files["summary.json"] = write_file(out / "summary.json",
                                       json.dumps(summary.to_dict(), indent=1, allow_nan=True) + "\n", within=out)
    files["search-history.json"] = write_file(out / "search-history.json", json.dumps(
        {"job": job.fingerprint(), "allocators": list(job.allocators), "chosen": chosen,
         "wall_seconds": wall, "results": {k: r.to_dict() for k, r in results.items()}},
        indent=1, default=str), within=out)
    files.update(write_search_report(job, results, wall, summary, exported["plan"],
                                     layer_curves(exported["plan"]), out, recomputed))
    return JobResult(results, chosen, wall, files, summary, tuple(prep.warnings), exported["plan"])


def _starting(request: EvalRequest, job: SearchJob, status: StatusHook) -> None:
    """A line before the longest evaluation, so a log does not go quiet for minutes."""
    if request.kind == "final":
        status(f"final run at the chosen plan: its candidate's training run again ({job.train_epochs:g} "
               f"epoch(s)), then {job.final_epochs:g} more ({'with quantization' if job.bits else 'masked fine-tuning'})")


def _best(results: Mapping[str, SearchResult]) -> str:
    """The fastest result that meets the constraint (else the one with the smallest drop)."""
    ok = {k: r for k, r in results.items() if r.constraint_met}
    if ok:
        return max(ok, key=lambda k: ok[k].speedup)
    return min(results, key=lambda k: results[k].drop)


def _chance(job: SearchJob, prep, best, task: str) -> tuple[str, ...]:
    """codesign.at_chance's warnings for the search's reference and its exported model."""
    from codesign.at_chance import chance_warnings
    from pruning.onnx.bridge import data_spec
    output = data_spec(prep.module.model).output
    classes = output.dims[-1] if output is not None and output.dims else None
    return chance_warnings(task=task, before=best.reference_accuracy, after=best.accuracy,
                           samples=prep.validation, classes=classes,
                           class_like=output is None or output.class_like, epochs=job.train_epochs,
                           pretrain_epochs=prep.pretrain_epochs, lr=job.lr)
