"""Comparisons of modelled times and sizes that no floating-point tie can flip.

Two values within REL_TOL (relative) of each other are equal. Without a tolerance a decision
could hinge on a tie: a sparse design that is the dense one (a channel-pruned layer at
alpha -> 1) costs the same time up to its last bits, and numpy's SIMD kernels (AVX-512 or not)
round such sums differently per CPU, so r* of AlexNet conv4 came out "always" on one machine
and 1.87 on another. 1e-9 is far above rounding (a few 1e-16 per operation, a few 1e-13 after
long sums) and far below any physical difference the model draws (one cycle in 10^9).
"""
from __future__ import annotations

import numpy as np

REL_TOL = 1e-9


def no_slower(value, reference) -> np.ndarray:
    """value <= reference, ties within REL_TOL included (so rounding cannot flip it)."""
    return np.asarray(value) <= np.asarray(reference) * (1.0 + REL_TOL)


def clearly_less(value, reference) -> np.ndarray:
    """value < reference by more than REL_TOL: the negation of no_slower(reference, value)."""
    return ~no_slower(reference, value)


def first_min(values, axis: int = 0) -> np.ndarray:
    """Index of the first value within REL_TOL of the minimum along `axis` (np.argmin would
    choose among near-equal values by their last bits). Values must be >= 0 or +inf."""
    v = np.asarray(values, dtype=float)
    return np.argmax(no_slower(v, np.min(v, axis=axis, keepdims=True)), axis=axis)


def rank(values) -> np.ndarray:
    """Indices that sort `values` ascending, values within about REL_TOL of each other kept in
    their given order (a stable argsort would order them by their last bits). Values are compared
    by sign and by log|v| in steps of REL_TOL; +-inf and 0 sort where they belong."""
    v = np.asarray(values, dtype=float)
    sign = np.sign(v)
    with np.errstate(divide="ignore", invalid="ignore"):
        steps = np.round(np.log(np.abs(v)) / REL_TOL)
    steps = np.where(v == 0, 0.0, np.where(np.isfinite(steps), steps, np.inf))  # +-inf: outermost
    return np.lexsort((np.arange(v.size), sign * steps, sign))
