"""The verdict of a search (OUT/summary.json) as a typed, frozen record: the constraint and its
intervals, both speedups, which model was shipped, the accuracies and the onnxruntime checks.
The CLI and the report read these fields; the JSON is `SearchSummary.to_dict()`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from codesign.left_dense import DenseLayer
from codesign.executor import EvalRequest
from codesign.loop.job_spec import SearchJob
from codesign.loop.records import SearchResult
from codesign.results import Record

SUMMARY_VERSION = 1


@dataclass(frozen=True)
class Constraint(Record):
    max_drop: float                     # points
    confidence: float
    met: bool                           # on the validation split (the decision)
    validation: dict | None             # DropEstimate.to_dict(): drop, ci_low, ci_high, n
    test: dict | None                   # the same on the test split (reported, never decides)
    test_met: bool | None


@dataclass(frozen=True)
class Speedups(Record):
    search_estimate: float | None       # the plan costed with mask statistics
    exported: float                     # the exported model costed with its own masks


@dataclass(frozen=True)
class ExecutorUse(Record):
    name: str
    workers: int


@dataclass(frozen=True)
class AllocatorOutcome(Record):
    speedup: float
    met: bool
    training_runs: int
    drop: float


@dataclass(frozen=True)
class SearchSummary(Record):
    constraint: Constraint
    speedup: Speedups
    training_runs: int
    probes: int
    shipped: str                        # "final run" or "candidate"
    final_run: dict | None              # the final run's own verdict when the candidate shipped
    executor: ExecutorUse
    chosen: str                         # the allocator whose result was exported
    alphas: dict[str, float]            # pruned layers' keep fractions
    patterns: dict[str, str]
    reference_accuracy: float           # the bar: the better of the two below
    given_accuracy: float | None        # the dense model as given
    trained_reference_accuracy: float | None   # a dense copy trained like a candidate
    final_accuracy: float
    final_test_accuracy: float | None
    onnxruntime_test_accuracy: float
    onnxruntime_max_abs_diff: float
    qdq_test_accuracy: float | None
    qdq_max_abs_diff: float | None
    validation_samples: int
    warnings: tuple[str, ...]
    allocators: dict[str, AllocatorOutcome]
    task: str = "classify"              # pruning.tasks: what the *_accuracy values hold (TASK_METRICS)
    left_dense: tuple[DenseLayer, ...] = ()      # the exported model's layers left dense, and why
    compressed_mac_share: float | None = None    # the MAC share of the layers it compressed
    schema_version: int = SUMMARY_VERSION


def summarize(job: SearchJob, best: SearchResult, exported: Mapping, results: Mapping[str, SearchResult],
              executor, validation_samples: int, warnings, task: str = "classify") -> SearchSummary:
    """The summary of a finished search: `best` the chosen allocator's result, `exported` what
    codesign.loop.export.export_model measured of the exported model."""
    val, test = best.verdict, best.test_verdict
    reference = dict(getattr(executor.log.get(EvalRequest.make("reference")), "extra", {}) or {})
    return SearchSummary(
        constraint=Constraint(max_drop=job.max_drop, confidence=job.confidence, met=bool(best.constraint_met),
                              validation=val.to_dict() if val else None, test=test.to_dict() if test else None,
                              test_met=None if test is None else bool(test.met(job.max_drop))),
        speedup=Speedups(search_estimate=best.speedup_estimate, exported=exported["speedup"]),
        training_runs=best.training_runs, probes=best.counts.get("probe", 0), shipped=best.shipped,
        final_run=best.final_run, executor=ExecutorUse(executor.name, executor.workers),
        chosen=best.algorithm, alphas={n: a for n, a in best.alphas.items() if a < 1},
        patterns=dict(best.patterns), reference_accuracy=best.reference_accuracy,
        given_accuracy=reference.get("pretrained_accuracy"),
        trained_reference_accuracy=reference.get("control_accuracy"),
        final_accuracy=best.accuracy, final_test_accuracy=best.final_extra.get("test_accuracy"),
        onnxruntime_test_accuracy=exported["onnxruntime_test_accuracy"],
        onnxruntime_max_abs_diff=exported["max_abs_diff"],
        qdq_test_accuracy=exported.get("qdq_test_accuracy"), qdq_max_abs_diff=exported.get("qdq_max_abs_diff"),
        validation_samples=validation_samples, warnings=tuple(warnings),
        allocators={k: AllocatorOutcome(r.speedup, r.constraint_met, r.training_runs, r.drop)
                    for k, r in results.items()}, task=task,
        left_dense=tuple(exported.get("left_dense", ())), compressed_mac_share=exported.get("compressed_mac_share"))
