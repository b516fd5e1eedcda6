"""Honest verdicts on a compressed model against its reference, measured on the SAME samples,
with a confidence interval: one place for the statistics every task shares (pruning.tasks says
which one its metric takes).

- Correct/incorrect per sample (classification accuracy, top-1 agreement with a teacher): the
  drop is (b - c) / n for b samples the reference gets right and the candidate wrong and c the
  reverse. Its interval is Agresti & Min's adjusted Wald interval for a difference of matched
  proportions (Agresti, A., Min, Y., 2005, "Simple improved confidence intervals for comparing
  matched proportions", Statistics in Medicine 24(5):729-740: add 0.5 to each cell of the 2x2
  table), which keeps its coverage when b or c is small or zero, where the plain (McNemar) Wald
  interval collapses.
- A number per sample (a sequence's log-likelihood, an output's cosine to the teacher's): a
  paired percentile bootstrap over samples (Efron, B., Tibshirani, R., 1993, "An Introduction
  to the Bootstrap", ch. 13), seeded, of the statistic the task names.
The constraint is met when the interval's upper end is at most max-drop: the drop is within
the limit at the stated confidence, not just on this draw of the data.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Callable

import numpy as np

DEFAULT_CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0


@dataclass(frozen=True)
class DropEstimate:
    """Accuracy drop in percentage points (positive: the candidate is worse), its interval
    and the number of paired samples (0: a point value without an interval)."""
    drop: float
    ci_low: float
    ci_high: float
    n: int
    confidence: float = DEFAULT_CONFIDENCE

    def met(self, max_drop: float, eps: float = 1e-9) -> bool:
        return self.ci_high <= max_drop + eps

    @property
    def width(self) -> float:
        return self.ci_high - self.ci_low

    def to_dict(self) -> dict:
        return {"drop": self.drop, "ci_low": self.ci_low, "ci_high": self.ci_high, "n": self.n}


def point_drop(reference: float, value: float, task: str = "classify") -> DropEstimate:
    """A drop known only as two metric values (no per-sample results): no interval. In the
    task's drop unit: points of accuracy or agreement, or percent of perplexity (lm)."""
    d = 100.0 * (value / reference - 1.0) if task == "lm" else 100.0 * (reference - value)
    return DropEstimate(d, d, d, 0)


def task_drop(task: str, reference: np.ndarray, candidate: np.ndarray,
              confidence: float = DEFAULT_CONFIDENCE) -> DropEstimate:
    """The drop of `candidate` against `reference` (per-sample scores of pruning.tasks on the
    same samples) in the task's unit: classify, Agresti-Min on correctness; distill, agreement
    with the dense model lost (Agresti-Min against all-agreeing for top-1, else a bootstrap of
    the mean cosine); lm, the perplexity's increase in percent (a bootstrap of the ratio of
    exp(mean NLL))."""
    reference, candidate = np.asarray(reference), np.asarray(candidate)
    if task == "lm":
        increase = lambda r, c: 100.0 * np.expm1(c.mean(axis=-1) - r.mean(axis=-1))
        return paired_bootstrap(reference, candidate, increase, confidence)
    if task == "distill":                      # the dense model agrees with itself
        reference = np.ones_like(candidate)
    if candidate.dtype == bool:
        return paired_drop(reference, candidate, confidence)
    gap = lambda r, c: 100.0 * (r.mean(axis=-1) - c.mean(axis=-1))
    return paired_bootstrap(reference, candidate, gap, confidence)


def paired_drop(reference: np.ndarray, candidate: np.ndarray,
                confidence: float = DEFAULT_CONFIDENCE) -> DropEstimate:
    """Drop of `candidate` against `reference` (bool correctness on the same samples)."""
    ref, cand = np.asarray(reference, dtype=bool), np.asarray(candidate, dtype=bool)
    if ref.shape != cand.shape or ref.ndim != 1 or ref.size == 0:
        raise ValueError(f"paired correctness vectors must have one equal length, got "
                         f"{ref.shape} and {cand.shape}")
    n = ref.size
    b = int(np.sum(ref & ~cand))
    c = int(np.sum(~ref & cand))
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p10, p01 = (b + 0.5) / (n + 2), (c + 0.5) / (n + 2)
    centre = p10 - p01
    half = z * math.sqrt(max(p10 + p01 - centre ** 2, 0.0) / (n + 2))
    drop = 100.0 * (b - c) / n
    low, high = 100.0 * max(centre - half, -1.0), 100.0 * min(centre + half, 1.0)
    return DropEstimate(drop, min(low, drop), max(high, drop), n, confidence)


def wilson_interval(accuracy: float, n: int, confidence: float = DEFAULT_CONFIDENCE) -> tuple[float, float]:
    """Interval of an accuracy (a fraction) measured on n samples: Wilson's score interval
    (Wilson, E. B., 1927, "Probable inference, the law of succession, and statistical inference",
    JASA 22(158):209-212), which stays inside [0, 1] and keeps its coverage near 0 and 1."""
    if n <= 0:
        return float("nan"), float("nan")
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    centre = (accuracy + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(accuracy * (1 - accuracy) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def paired_bootstrap(reference: np.ndarray, candidate: np.ndarray,
                     statistic: Callable[[np.ndarray, np.ndarray], np.ndarray],
                     confidence: float = DEFAULT_CONFIDENCE) -> DropEstimate:
    """Drop `statistic(ref, cand)` (in the task's points, positive: the candidate is worse) with a
    paired percentile bootstrap over samples; `statistic` takes (resamples, n) arrays and
    returns one value per resample (it must also work on (1, n) for the point value)."""
    ref, cand = np.asarray(reference, dtype=np.float64), np.asarray(candidate, dtype=np.float64)
    if ref.shape != cand.shape or ref.ndim != 1 or ref.size == 0:
        raise ValueError(f"paired score vectors must have one equal length, got {ref.shape} and {cand.shape}")
    point = float(statistic(ref[None], cand[None])[0])
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    idx = rng.integers(0, ref.size, size=(BOOTSTRAP_RESAMPLES, ref.size))
    draws = statistic(ref[idx], cand[idx])
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(draws, [tail, 100 - tail])
    return DropEstimate(point, min(float(low), point), max(float(high), point), int(ref.size), confidence)
