"""Values a search takes and returns: its settings, one record per step, the result."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable, Mapping

from codesign.errors import CodesignError
from codesign.loop.verdict import DEFAULT_CONFIDENCE, DropEstimate
from pruning.patterns import UNSTRUCTURED, Pattern


class SearchError(CodesignError):
    """A search setting or input (initial α file, layer names) is invalid."""


@dataclass(frozen=True)
class SearchConfig:
    max_drop: float = 0.5               # allowed drop, in the task's unit (accuracy points by default)
    task: str = "classify"              # what the verdicts compare (pruning.verdict.task_drop)
    confidence: float = DEFAULT_CONFIDENCE   # of the drop's interval (codesign.loop.verdict)
    alpha_min: float = 0.02             # no layer is pruned below this keep fraction
    layers: tuple[str, ...] = ()        # layers the search may prune; () = all of the cost model's
    # patterns a layer may take (dp; Fig. 5 is the paper's and prunes unstructured)
    patterns: tuple[Pattern, ...] = (UNSTRUCTURED,)
    batch: int = 1                      # candidates trained per round (parallel on Ray workers)
    # Fig. 5: binary-search steps per reduction and a cap on reduction iterations
    bisect_steps: int = 4
    max_iterations: int = 20
    # allocator: the keep fractions a layer may take, and the confirmation budget
    alpha_grid: tuple[float, ...] = (0.8, 0.6, 0.45, 0.35, 0.27, 0.2, 0.15, 0.11, 0.08,
                                     0.06, 0.045, 0.035, 0.025)
    drop_bins: int = 4000               # resolution of the allocator's drop budget
    max_confirm: int = 4                # real training runs the allocator spends confirming
    # then at most this many runs refining the best confirmed plan one layer at a time (plus
    # the confirm runs left unused), and at most max_climb more final runs at faster plans whose
    # training runs failed by less than the final run recovers: the allocator trains at most
    # max_confirm + max_refine times, plus 1 + max_climb final runs
    max_refine: int = 3
    max_climb: int = 2
    storage_budget_bits: float | None = None   # allocator: weights + indices must fit on chip

    def __post_init__(self) -> None:
        if not self.max_drop >= 0 or self.max_drop != self.max_drop or self.max_drop > 100:
            raise SearchError(f"max drop {self.max_drop} must be in [0, 100] (percentage points)")
        if not 0.5 <= self.confidence < 1:
            raise SearchError(f"confidence {self.confidence} must be in [0.5, 1)")
        if not 0 < self.alpha_min < 1:
            raise SearchError(f"alpha_min {self.alpha_min} must be in (0, 1)")
        if min(self.max_confirm, self.max_refine, self.max_climb) < 0:
            raise SearchError(f"max_confirm {self.max_confirm}, max_refine {self.max_refine} and "
                              f"max_climb {self.max_climb} must be >= 0 (training runs)")
        if not 1 <= self.batch <= 256:
            raise SearchError(f"batch {self.batch} must be in 1..256 (candidates per round)")
        if any(not 0 < a < 1 for a in self.alpha_grid):
            raise SearchError("every alpha_grid value must be in (0, 1)")
        if not self.patterns:
            raise SearchError("give at least one pattern, e.g. unstructured")


def pattern_names(patterns: Mapping[str, Pattern] | None) -> dict[str, str]:
    """The structured layers' patterns as text (unstructured layers are left out)."""
    return {n: str(p) for n, p in (patterns or {}).items() if p.kind != "unstructured"}


@dataclass(frozen=True)
class IterationRecord:
    iteration: int
    phase: str                          # init | reduce | restore | probe | confirm | refine | final
    alphas: Mapping[str, float]
    accuracy: float | None              # fraction; None when not evaluated
    drop: float | None                  # percentage points below the reference
    speedup: float                      # simulated whole-network speedup (mask statistics)
    conv_speedup: float                 # simulated speedup over the conv layers
    accepted: bool
    note: str = ""
    patterns: Mapping[str, str] = field(default_factory=dict)   # structured layers
    ci_low: float | None = None         # interval of the drop (points)
    ci_high: float | None = None
    measured_speedup: float | None = None   # with the trained candidate's own masks

    def to_dict(self) -> dict:
        d = asdict(self)
        d["alphas"], d["patterns"] = dict(self.alphas), dict(self.patterns)
        return d


@dataclass(frozen=True)
class SearchResult:
    """One allocator's result, never changed once built (a step that adds to it builds a new
    one with dataclasses.replace)."""
    algorithm: str
    alphas: dict[str, float]            # deployed keep fractions (dense layers = 1.0)
    reference_accuracy: float
    accuracy: float                     # final accuracy (after the final compression run)
    speedup: float                      # of the final model with its real masks (else estimate)
    conv_speedup: float
    history: tuple[IterationRecord, ...]
    counts: dict[str, int]              # distinct evaluations per kind
    restored: tuple[str, ...] = ()      # layers put back to dense by r*
    constraint_met: bool = True
    extras: dict = field(default_factory=dict)          # algorithm-specific (e.g. DP frontier)
    patterns: dict[str, str] = field(default_factory=dict)
    verdict: DropEstimate | None = None        # final model vs reference, validation split
    test_verdict: DropEstimate | None = None   # the same on the test split
    speedup_estimate: float | None = None      # the plan costed with mask statistics
    shipped: str = "final run"                 # or "candidate": the plan's candidate, when the
    final_run: dict | None = None              # final run ({"validation", "met"}) missed the constraint
    final_extra: dict = field(default_factory=dict)      # the shipped model's outcome (test accuracy)
    oracle_seconds: dict[str, float] = field(default_factory=dict)   # evaluation time per kind
    unpayable_layers: tuple[str, ...] = ()     # layers whose sparse form never pays on the hardware

    def __post_init__(self) -> None:
        object.__setattr__(self, "history", tuple(self.history))
        object.__setattr__(self, "restored", tuple(self.restored))
        object.__setattr__(self, "unpayable_layers", tuple(self.unpayable_layers))

    @property
    def drop(self) -> float:
        if self.verdict is not None:
            return self.verdict.drop
        return (self.reference_accuracy - self.accuracy) * 100.0

    @property
    def training_runs(self) -> int:
        return self.counts.get("train", 0) + self.counts.get("final", 0)

    def to_dict(self) -> dict:
        common = {"oracle_seconds": self.oracle_seconds, "final_extra": self.final_extra,
                  "shipped": self.shipped, "final_run": self.final_run,
                  "unpayable_layers": list(self.unpayable_layers)}
        return {"algorithm": self.algorithm, "alphas": self.alphas, "patterns": self.patterns,
                "reference_accuracy": self.reference_accuracy, "accuracy": self.accuracy,
                "drop_points": self.drop, "speedup": self.speedup,
                "speedup_estimate": self.speedup_estimate,
                "conv_speedup": self.conv_speedup, "restored": list(self.restored),
                "constraint_met": self.constraint_met,
                "validation": self.verdict.to_dict() if self.verdict else None,
                "test": self.test_verdict.to_dict() if self.test_verdict else None,
                "counts": self.counts, "training_runs": self.training_runs,
                "extras": {**common, **self.extras},
                "history": [r.to_dict() for r in self.history]}


IterationHook = Callable[[IterationRecord], None]
