"""The prose of a search's report: the verdict lines, the run's settings and the notes that
say how the constraint was judged, around the exported model's plan."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

from codesign.report.build import search_report, search_trace
from codesign.report.fmt import metric
from codesign.report.model import Curve
from codesign.report.renderer import render
from pruning.prune_job import TASK_METRICS


def reference_phrase(given: float | None, trained: float | None, train_epochs: float,
                     metric_name: str = "accuracy") -> str:
    """Which dense models the bar every candidate is judged against is the better of ("" when
    no trained copy was made); values in the task's metric."""
    if given is None or trained is None:
        return ""
    return (f"the better of the dense model as given ({metric(metric_name, given)}) and a dense copy trained "
            f"{train_epochs:g} epoch(s) like every candidate ({metric(metric_name, trained)})")


def write_search_report(job, results: Mapping, wall: Mapping[str, float], summary, plan,
                        curves: Sequence[Curve], out: Path, recomputed: bool = False) -> dict[str, Path]:
    """The search report in `out`: `job` (codesign.loop.job_spec.SearchJob), every allocator's
    SearchResult, the summary (codesign.loop.summary.SearchSummary), the exported model's plan
    and its curves."""
    c = summary.constraint

    def interval(v: dict | None) -> str:
        if not v:
            return "–"
        return (f"{v['drop']:+.2f} [{v['ci_low']:+.2f}, {v['ci_high']:+.2f}] {TASK_METRICS[summary.task][1]} "
                f"(n = {v['n']:,})")
    which_reference = reference_phrase(summary.given_accuracy, summary.trained_reference_accuracy,
                                       job.train_epochs, TASK_METRICS[summary.task][0])
    workers = summary.executor.workers
    lines = {"constraint met (validation)": "yes" if c.met else "NO",
             "exported model": ("the final run" if summary.shipped != "candidate"
                                else "the plan's candidate (the final run missed the constraint)"),
             f"drop on validation, {100 * job.confidence:g}% interval": interval(c.validation),
             f"drop on test, {100 * job.confidence:g}% interval": interval(c.test),
             "whole-network speedup, exported model (its own masks)": f"{summary.speedup.exported:.2f}x",
             "whole-network speedup, search estimate (mask statistics)":
                 f"{summary.speedup.search_estimate:.2f}x",
             "onnxruntime test accuracy": f"{100 * summary.onnxruntime_test_accuracy:.2f}%",
             "reference accuracy (validation)": f"{100 * summary.reference_accuracy:.2f}%"
                                                 + (f": {which_reference}" if which_reference else ""),
             "training runs (chosen search)": summary.training_runs,
             "executor": f"{summary.executor.name} ({workers} worker{'s' if workers > 1 else ''})"}
    traces = [search_trace(r, wall.get(k), job.max_drop) for k, r in results.items()]
    meta = {"model": job.model, "data": job.data, "hardware": job.hw, "method": job.method,
            "max drop": f"{job.max_drop} points at {100 * job.confidence:g}% confidence",
            "patterns": ", ".join(job.patterns), "allocators": ", ".join(results),
            **({"final quantization": job.bits} if job.bits else {})}
    notes = [f"The constraint is judged on a paired comparison with the reference model on "
             f"{summary.validation_samples:,} validation samples carved out of the training data "
             "(Agresti-Min interval of the drop; met when its upper end is within max drop); the "
             "test split is reported beside it, never used to decide.",
             f"Each training run: {job.train_epochs:g} epoch(s) of {job.method}; the final run "
             f"trains the chosen plan's candidate {job.final_epochs:g} epoch(s) further "
             f"({'the method again with quantization' if job.bits else 'masked fine-tuning'}); "
             f"probes: one layer pruned by magnitude, {job.probe_epochs:g} epoch(s) of retraining, "
             "only where the layer can run sparse.",
             "Speedups are simulated by hwmodels on the hardware preset, not measured on silicon; "
             "the table below is the exported model's own plan."]
    notes += summary.warnings
    if recomputed:
        notes.append("The final model was recomputed in this session (its checkpoint was missing).")
    if summary.shipped == "candidate":
        run = summary.final_run["validation"]
        notes.append(f"The final run missed the constraint (validation drop {run['drop']:+.2f} "
                     f"[{run['ci_low']:+.2f}, {run['ci_high']:+.2f}]); the exported model is the "
                     "plan's candidate it started from, which meets it.")
    rep = search_report(plan, traces, curves=curves, title=f"Search: {job.model} on {job.hw}",
                        meta=meta, summary=lines, notes=notes)
    return dict(render(rep, out))
