"""Synthetic stand-ins with known answers, for tests and for trying the search without training.

`SyntheticOracle`: accuracy = reference − Σ_i drop_i(α_i) / 100 with
drop_i(α) = s_i · max(0, ln(τ_i / α))², i.e. layer i is free to prune down to α = τ_i and then
costs s_i points per squared e-fold; a structured pattern p multiplies s_i by
pattern_penalty[p]. Additive, so the allocator's surrogate is exact and the optimum on a grid can
be found by brute force. "probe" requests see the same function. With `samples`, outcomes carry
per-sample correctness (the first round(accuracy * samples) samples right), so the paired
verdicts have intervals. `interaction` adds a drop for every pair of pruned layers, which
one-layer probes cannot see. A "final" outcome carries the candidate it started from
(`Outcome.start`, the plan's training-run accuracy) and loses `final_loss` points against it.

`ProportionalCostModel`: sparse latency = dense latency · α · r*_i, so the sparse speedup is
1 / (α r*_i) and crosses 1 exactly at the given r*_i; a layer runs sparse from there on. A
pattern named in `pattern_r_star` uses that r* instead (e.g. 1.0 for channel pruning: a smaller
dense layer).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from codesign.executor import EvalRequest, Outcome
from codesign.loop.verdict import pack


@dataclass
class SyntheticOracle:
    sensitivity: Mapping[str, float]         # s_i, points per squared e-fold
    free_alpha: Mapping[str, float]          # τ_i
    reference: float = 0.90
    calls: list[EvalRequest] = field(default_factory=list)
    fail_after: int | None = None            # raise KeyboardInterrupt on this call (resume tests)
    pattern_penalty: Mapping[str, float] = field(default_factory=dict)   # pattern name -> factor
    samples: int = 0                         # > 0: per-sample correctness in every outcome
    probe_scale: float = 1.0                 # probes see drops this many times the true ones
    interaction: float = 0.0                 # points per pair of pruned layers: kappa ln(1/a_i) ln(1/a_j)
    final_loss: float = 0.0                  # points a final run loses against the candidate it starts from

    def drop(self, alphas: Mapping[str, float], patterns: Mapping[str, str] | None = None) -> float:
        total = 0.0
        for name, a in alphas.items():
            excess = math.log(self.free_alpha[name] / a)
            factor = self.pattern_penalty.get((patterns or {}).get(name, "unstructured"), 1.0)
            total += factor * self.sensitivity[name] * max(0.0, excess) ** 2
        logs = [math.log(1.0 / a) for a in alphas.values()]
        # pairs only: a one-layer probe never sees it (layers pruned together compound)
        total += self.interaction * (sum(logs) ** 2 - sum(x * x for x in logs)) / 2
        return total

    def _correct(self, accuracy: float) -> str:
        if not self.samples:
            return ""
        right = np.arange(self.samples) < round(accuracy * self.samples)
        return pack(right)

    def evaluate(self, request: EvalRequest) -> Outcome:
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise KeyboardInterrupt("synthetic interruption")
        self.calls.append(request)
        alphas = request.alpha_dict()
        scale = self.probe_scale if request.kind == "probe" else 1.0
        accuracy = self.reference - scale * self.drop(alphas, request.pattern_dict()) / 100.0
        outcome = Outcome(accuracy=accuracy, achieved=alphas, correct=self._correct(accuracy),
                          test_correct=self._correct(accuracy))
        if request.kind != "final":
            return outcome
        # a final run continues from the plan's candidate (the outcome above) and may lose
        final = accuracy - self.final_loss / 100.0
        return Outcome(accuracy=final, achieved=alphas, correct=self._correct(final),
                       test_correct=self._correct(final), start=outcome)


@dataclass(frozen=True)
class ProportionalCostModel:
    names: tuple[str, ...]
    macs_: Mapping[str, int]
    ops_: Mapping[str, str]
    r_star: Mapping[str, float]
    macs_per_second: float = 1e9
    pattern_r_star: Mapping[str, float] = field(default_factory=dict)   # pattern name -> r*

    def _r(self, name: str, pattern) -> float:
        return float(self.pattern_r_star.get(str(pattern), self.r_star[name])
                     if pattern is not None and str(pattern) != "unstructured" else self.r_star[name])

    def layer_names(self) -> list[str]:
        return list(self.names)

    def macs(self, name: str) -> int:
        return int(self.macs_[name])

    def op(self, name: str) -> str:
        return self.ops_[name]

    def break_even(self, name: str, pattern=None) -> float:
        return self._r(name, pattern)

    def dense_latency(self, name: str) -> float:
        return self.macs_[name] / self.macs_per_second

    def runs_sparse(self, name: str, alphas: np.ndarray, pattern=None) -> np.ndarray:
        a = np.asarray(alphas, float)
        return (a < 1.0) & (a * self._r(name, pattern) <= 1.0 + 1e-12)

    def latency(self, name: str, alphas: np.ndarray, pattern=None) -> np.ndarray:
        a = np.asarray(alphas, float)
        return np.where(self.runs_sparse(name, a, pattern), self.dense_latency(name) * a * self._r(name, pattern),
                        self.dense_latency(name))

    def storage_bits(self, name: str, alphas: np.ndarray, pattern=None) -> np.ndarray:
        """16-bit weights (one per MAC of the layer, a stand-in); sparse: + a 4-bit index each."""
        a = np.asarray(alphas, float)
        return np.where(self.runs_sparse(name, a, pattern), self.macs_[name] * a * 20.0, self.macs_[name] * 16.0)
