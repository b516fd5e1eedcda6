"""Verdicts as the search keeps them: per-sample results packed into the run log, and the
validation size that makes the interval of a drop narrower than the allowed drop. The
statistics themselves (paired intervals, Wilson) are pruning.verdict's, shared with `prune`.
"""
from __future__ import annotations

import base64
import math
from statistics import NormalDist

import numpy as np

from pruning.verdict import (DEFAULT_CONFIDENCE, DropEstimate, paired_bootstrap, paired_drop, point_drop,
                             task_drop, wilson_interval)

# Share of samples on which a compressed model and its reference disagree in correctness (the
# b + c cells), assumed before anything is measured to size the validation split. Measured on
# this project's runs (benchmarks/RESULTS.md, search_vgg7.py): 2-6% at drops within 1 point.
ASSUMED_DISCORDANCE = 0.05
MIN_VALIDATION = 500
MAX_VALIDATION_SHARE = 0.25     # of the training set, at most


__all__ = ["DEFAULT_CONFIDENCE", "DropEstimate", "paired_bootstrap", "paired_drop", "point_drop",
           "task_drop", "wilson_interval", "pack", "unpack", "validation_size", "expected_width"]


def pack(scores: np.ndarray) -> str:
    """Per-sample results as plain text for the run log: correctness (bool) as base64 bits,
    "N:<base64>"; a number per sample (pruning.tasks scores) as float64, "fN:<base64>"."""
    scores = np.asarray(scores)
    if scores.dtype == bool:
        bits = np.packbits(scores)
        return f"{len(scores)}:" + base64.b64encode(bits.tobytes()).decode("ascii")
    return f"f{len(scores)}:" + base64.b64encode(scores.astype("<f8").tobytes()).decode("ascii")


def unpack(text: str) -> np.ndarray:
    n, _, body = text.partition(":")
    raw = base64.b64decode(body, validate=True)
    if n.startswith("f"):
        values = np.frombuffer(raw, dtype="<f8")
        if int(n[1:]) != values.size:
            raise ValueError("score vector does not hold its count")
        return values.astype(np.float64)
    count = int(n)
    bits = np.unpackbits(np.frombuffer(raw, dtype=np.uint8))
    if count < 0 or count > bits.size:
        raise ValueError("correctness vector is shorter than its count")
    return bits[:count].astype(bool)


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
