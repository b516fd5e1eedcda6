"""Honest accuracy verdicts: the drop of a compressed model against its reference, measured on
the SAME samples, with a confidence interval, and the validation size that makes the interval
narrower than the allowed drop.

A paired comparison counts the samples the reference gets right and the candidate wrong (b)
and the reverse (c); the drop is (b - c) / n. Its interval is Agresti & Min's adjusted Wald
interval for a difference of matched proportions (Agresti, A., Min, Y., 2005, "Simple improved
confidence intervals for comparing matched proportions", Statistics in Medicine 24(5):729-740:
add 0.5 to each cell of the 2x2 table), which keeps its coverage when b or c is small or zero,
where the plain (McNemar) Wald interval collapses. The constraint is met when the interval's
upper end is at most max-drop: the drop is within the limit at the stated confidence, not
just on this draw of the validation set.
"""
from __future__ import annotations

import base64
import math
from dataclasses import dataclass

from statistics import NormalDist

import numpy as np

DEFAULT_CONFIDENCE = 0.95
# Share of samples on which a compressed model and its reference disagree in correctness (the
# b + c cells), assumed before anything is measured to size the validation split. Measured on
# this project's runs (benchmarks/RESULTS.md, search_vgg7.py): 2-6% at drops within 1 point.
ASSUMED_DISCORDANCE = 0.05
MIN_VALIDATION = 500
MAX_VALIDATION_SHARE = 0.25     # of the training set, at most


def pack(correct: np.ndarray) -> str:
    """Per-sample correctness as base64 bits (compact and plain data in the run log)."""
    bits = np.packbits(np.asarray(correct, dtype=bool))
    return f"{len(correct)}:" + base64.b64encode(bits.tobytes()).decode("ascii")


def unpack(text: str) -> np.ndarray:
    n, _, body = text.partition(":")
    count = int(n)
    bits = np.unpackbits(np.frombuffer(base64.b64decode(body, validate=True), dtype=np.uint8))
    if count < 0 or count > bits.size:
        raise ValueError("correctness vector is shorter than its count")
    return bits[:count].astype(bool)


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


def point_drop(reference_accuracy: float, accuracy: float) -> DropEstimate:
    """A drop known only as two accuracies (no per-sample results): no interval."""
    d = 100.0 * (reference_accuracy - accuracy)
    return DropEstimate(d, d, d, 0)


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


def validation_size(max_drop: float, available: int, confidence: float = DEFAULT_CONFIDENCE,
                    discordance: float = ASSUMED_DISCORDANCE) -> tuple[int, float]:
    """(validation samples, expected interval width in points): the n at which the interval
    of a drop near zero is narrower than max_drop, width = 2 z sqrt(q / n) * 100 for a share q
    of discordant samples, capped at a quarter of the `available` training samples."""
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    cap = max(1, int(available * MAX_VALIDATION_SHARE))
    need = math.inf if max_drop <= 0 else math.ceil((2 * z * 100 * math.sqrt(discordance) / max_drop) ** 2)
    n = int(min(cap, max(MIN_VALIDATION, need)))
    return n, expected_width(n, confidence, discordance)


def expected_width(n: int, confidence: float = DEFAULT_CONFIDENCE,
                   discordance: float = ASSUMED_DISCORDANCE) -> float:
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    return 2 * z * 100 * math.sqrt(discordance / max(n, 1))
