"""State shared by every search algorithm: the reference accuracy, the accuracy constraint, the
history with simulated speedups, and the final compression run."""
from __future__ import annotations

from typing import Mapping

from codesign.executor import KINDS, EvalRequest, Evaluation, Executor
from codesign.search.costs import (CostModel, conv_layers, effective_alphas, network_speedup)
from codesign.search.records import (IterationHook, IterationRecord, SearchConfig, SearchError,
                                     SearchResult)

DROP_EPS = 1e-9     # float slack when comparing a drop with the constraint


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
        # Distinct requests of this search and their oracle seconds: per search even when
        # several searches share one executor (and its cache), and the same on a resumed run.
        self.issued: dict[str, dict[str, float]] = {}
        self.history: list[IterationRecord] = []
        ref = self.run("reference", {})[0]
        self.reference = ref.accuracy
        # Probes barely retrain, so they are measured against the untouched dense model when
        # the oracle reports it, not against a fine-tuned control (that would bias them).
        self.probe_reference = float(ref.outcome.extra.get("pretrained_accuracy", ref.accuracy))

    # -- evaluations ----------------------------------------------------------------------
    def run(self, kind: str, *alpha_sets: Mapping[str, float]) -> list[Evaluation]:
        evals = self.executor.run([EvalRequest.make(kind, a) for a in alpha_sets])
        for ev in evals:
            self.issued.setdefault(kind, {})[ev.request.key] = ev.outcome.seconds
        return evals

    def counts(self) -> dict[str, int]:
        return {k: len(self.issued.get(k, {})) for k in KINDS}

    def oracle_seconds(self) -> dict[str, float]:
        """Oracle time of this search's distinct evaluations, replayed ones included."""
        return {k: sum(self.issued.get(k, {}).values()) for k in KINDS}

    def drop(self, accuracy: float) -> float:
        return (self.reference - accuracy) * 100.0

    def feasible(self, accuracy: float) -> bool:
        return self.drop(accuracy) <= self.config.max_drop + DROP_EPS

    # -- history --------------------------------------------------------------------------
    def record(self, phase: str, alphas: Mapping[str, float], accuracy: float | None,
               accepted: bool, note: str = "") -> IterationRecord:
        eff = effective_alphas(self.cost, alphas)
        rec = IterationRecord(
            iteration=len(self.history), phase=phase, alphas=dict(alphas), accuracy=accuracy,
            drop=None if accuracy is None else self.drop(accuracy),
            speedup=network_speedup(self.cost, eff),
            conv_speedup=network_speedup(self.cost, eff, self.conv) if self.conv else 1.0,
            accepted=accepted, note=note)
        self.history.append(rec)
        if self.on_iteration:
            self.on_iteration(rec)
        return rec

    # -- the end of every search ----------------------------------------------------------
    def finish(self, algorithm: str, alphas: Mapping[str, float],
               restored: list[str]) -> SearchResult:
        """Full compression run at the found α (dense where r < r*), and the final check."""
        deployed = effective_alphas(self.cost, alphas)
        final = self.run("final", deployed)[0]
        ok = self.feasible(final.accuracy)
        rec = self.record("final", deployed, final.accuracy, ok,
                          "final compression" + ("" if ok else ": drop exceeds the constraint"))
        counts = self.counts()
        result = SearchResult(algorithm=algorithm, alphas=deployed, reference_accuracy=self.reference,
                            accuracy=final.accuracy, speedup=rec.speedup,
                            conv_speedup=rec.conv_speedup, history=list(self.history),
                            counts=counts, restored=sorted(restored), constraint_met=ok)
        result.extras["oracle_seconds"] = self.oracle_seconds()
        result.extras["final_extra"] = dict(final.outcome.extra)
        return result
