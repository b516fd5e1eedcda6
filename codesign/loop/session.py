"""State shared by every search algorithm: the reference, the paired verdicts on the accuracy
constraint, the history with simulated speedups (mask statistics before training, the
candidate's own masks after), and the final compression run."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from codesign.executor import KINDS, EvalRequest, Evaluation, Executor
from codesign.loop.costs import (CostModel, conv_layers, effective_alphas, network_speedup,
                                   usable_alphas)
from codesign.loop.records import (IterationHook, IterationRecord, SearchConfig, SearchError,
                                     SearchResult, pattern_names)
from codesign.loop.verdict import DropEstimate, point_drop, task_drop, unpack
from pruning.patterns import Pattern

Patterns = Mapping[str, Pattern]


class SearchSession:
    def __init__(self, executor: Executor, cost: CostModel, config: SearchConfig,
                 on_iteration: IterationHook | None = None) -> None:
        self.executor, self.cost, self.config = executor, cost, config
        self.on_iteration = on_iteration
        known = cost.layer_names()
        unknown = [n for n in config.layers if n not in known]
        if unknown:
            raise SearchError(f"layers {unknown} are not prunable layers of the model; "
                              f"choose from {known}")
        self.layers = list(config.layers) or known
        self.conv = conv_layers(cost)
        self.grid = np.array(sorted(config.alpha_grid, reverse=True))
        # Distinct requests of this search and their oracle seconds: per search even when
        # several searches share one executor (and its cache), and the same on a resumed run.
        self.issued: dict[str, dict[str, float]] = {}
        self.history: list[IterationRecord] = []
        self._margin = 0.0                 # last measured (ci_high - drop): the noise allowance
        ref = self.run("reference", [{}])[0]
        self.reference = ref.accuracy
        self._ref_correct = unpack(ref.outcome.correct) if ref.outcome.correct else None
        self._ref_test = unpack(ref.outcome.test_correct) if ref.outcome.test_correct else None
        # A probe retrains a little after pruning, which can also improve the dense model; its
        # fair reference is the same probe with nothing pruned (the dense model trained the same).
        self.probe_reference = self.run("probe", [{}])[0].accuracy

    # -- which layers can pay ---------------------------------------------------------------
    def usable(self, name: str, pattern: Pattern) -> np.ndarray:
        """The keep fractions (grid points >= alpha_min, or N:M's own) at which `name` runs
        sparse with `pattern`: anything else would cost accuracy for nothing."""
        return usable_alphas(self.cost, name, pattern, self.grid, self.config.alpha_min)

    def payable(self, patterns: Sequence[Pattern]) -> list[str]:
        return [n for n in self.layers if any(self.usable(n, p).size for p in patterns)]

    # -- evaluations ----------------------------------------------------------------------
    def run(self, kind: str, alpha_sets: Sequence[Mapping[str, float]],
            pattern_sets: Sequence[Patterns] | None = None) -> list[Evaluation]:
        pattern_sets = pattern_sets or [{}] * len(alpha_sets)
        evals = self.executor.run([EvalRequest.make(kind, a, p) for a, p in zip(alpha_sets, pattern_sets)])
        for ev in evals:
            self.issued.setdefault(kind, {})[ev.request.key] = ev.outcome.seconds
        return evals

    def counts(self) -> dict[str, int]:
        return {k: len(self.issued.get(k, {})) for k in KINDS}

    def oracle_seconds(self) -> dict[str, float]:
        """Oracle time of this search's distinct evaluations, replayed ones included."""
        return {k: sum(self.issued.get(k, {}).values()) for k in KINDS}

    # -- verdicts -------------------------------------------------------------------------
    def verdict(self, ev: Evaluation) -> DropEstimate:
        """Paired drop against the reference on the validation split (a point value when the
        oracle gives no per-sample results, as synthetic ones do)."""
        if self._ref_correct is not None and ev.outcome.correct:
            v = task_drop(self.config.task, self._ref_correct, unpack(ev.outcome.correct), self.config.confidence)
        else:
            v = point_drop(self.reference, ev.accuracy, self.config.task)
        if ev.request.kind in ("train", "final"):
            self._margin = v.ci_high - v.drop
        return v

    def test_verdict(self, ev: Evaluation) -> DropEstimate | None:
        if self._ref_test is None or not ev.outcome.test_correct:
            return None
        return task_drop(self.config.task, self._ref_test, unpack(ev.outcome.test_correct), self.config.confidence)

    def feasible(self, ev: Evaluation) -> bool:
        return self.verdict(ev).met(self.config.max_drop)

    def target_drop(self) -> float:
        """The point drop a candidate may aim for: max drop less the last interval's upper
        half-width (a candidate at exactly max drop would fail half the time)."""
        return self.config.max_drop - self._margin

    def probe_drop(self, ev: Evaluation) -> float:
        return max(0.0, point_drop(self.probe_reference, ev.accuracy, self.config.task).drop)

    # -- history --------------------------------------------------------------------------
    def estimate(self, alphas: Mapping[str, float], patterns: Patterns | None = None) -> tuple[float, float]:
        """(whole-network, conv-layer) speedup of the deployed plan, from mask statistics."""
        eff = effective_alphas(self.cost, alphas, patterns)
        whole = network_speedup(self.cost, eff, patterns=patterns)
        conv = network_speedup(self.cost, eff, self.conv, patterns) if self.conv else 1.0
        return whole, conv

    def record(self, phase: str, alphas: Mapping[str, float], ev: Evaluation | None,
               accepted: bool, note: str = "", patterns: Patterns | None = None) -> IterationRecord:
        whole, conv = self.estimate(alphas, patterns)
        v = self.verdict(ev) if ev is not None else None
        measured = ev.outcome.measured.get("speedup") if ev is not None else None
        rec = IterationRecord(
            iteration=len(self.history), phase=phase, alphas=dict(alphas),
            accuracy=None if ev is None else ev.accuracy, drop=None if v is None else v.drop,
            speedup=whole, conv_speedup=conv, accepted=accepted, note=note,
            patterns=pattern_names(patterns), ci_low=None if v is None else v.ci_low,
            ci_high=None if v is None else v.ci_high,
            measured_speedup=None if measured is None else float(measured))
        self.history.append(rec)
        if self.on_iteration:
            self.on_iteration(rec)
        return rec

    # -- the end of every search ----------------------------------------------------------
    def finish(self, algorithm: str, alphas: Mapping[str, float], restored: list[str],
               patterns: Patterns | None = None) -> SearchResult:
        """The final run at the found plan (dense where the hardware would run a layer dense),
        the final verdicts and the shipped model's own speedup. The final run continues from
        the plan's candidate and judges both (codesign.loop.torch_oracle); if the longer run
        misses the constraint and the candidate meets it, the candidate is shipped: a model
        whose own verdict passed, never a plan's."""
        deployed = effective_alphas(self.cost, alphas, patterns)
        kept = {n: p for n, p in (patterns or {}).items() if deployed.get(n, 1.0) < 1.0}
        final = self.run("final", [deployed], [kept])[0]
        v = self.verdict(final)
        ok = v.met(self.config.max_drop)
        rec = self.record("final", deployed, final, ok,
                          "final run" + ("" if ok else ": drop exceeds the constraint"), kept)
        shipped, final_run = final, {"validation": v.to_dict(), "met": ok}
        start = final.outcome.start
        if not ok and start is not None:
            candidate = Evaluation(final.request, start, final.cached)
            if self.verdict(candidate).met(self.config.max_drop):
                shipped, ok = candidate, True
                rec = self.record("final", deployed, candidate, True,
                                  "shipping the plan's candidate (the model its training run made, "
                                  "which meets the constraint): the final run lost accuracy", kept)
        v = self.verdict(shipped)
        result = SearchResult(
            algorithm=algorithm, alphas=deployed, reference_accuracy=self.reference,
            accuracy=shipped.accuracy,
            speedup=rec.measured_speedup if rec.measured_speedup is not None else rec.speedup,
            conv_speedup=rec.conv_speedup, history=list(self.history), counts=self.counts(),
            restored=sorted(restored), constraint_met=ok, patterns=pattern_names(kept),
            verdict=v, test_verdict=self.test_verdict(shipped), speedup_estimate=rec.speedup,
            shipped="final run" if shipped is final else "candidate", final_run=final_run,
            final_extra=dict(shipped.outcome.extra), oracle_seconds=self.oracle_seconds())
        return result
