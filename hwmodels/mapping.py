"""Cycles of a layer on a systolic array: SCALE-Sim's closed forms (sources: scalesim3).

For an R x C array and a layer of Sr x Sc mapped rows x columns with T streamed per fold:
    OS: Sr = output pixels, Sc = filters,  T = reduction   cycles = (T + R + C - 2) * folds - 1
    WS: Sr = reduction,     Sc = filters,  T = pixels      cycles = (2R + C + T - 2) * folds - 1
    IS: Sr = reduction,     Sc = pixels,   T = filters     cycles = (2R + C + T - 2) * folds - 1
with folds = ceil(Sr/R) * ceil(Sc/C). Fill and drain are charged over the whole array, also
when a fold uses fewer rows or columns (a 4-filter layer on 16 columns pays 16), and the -1 is
once per layer: all 181 SCALE-Sim v3 runs in tests/hwmodels/data/scalesim_v3_cycles.csv match
exactly. A grouped layer runs its groups one after the other (SCALE-Sim has no groups).

A sparse design walks fewer reduction positions: `walk` replaces the reduction in OS (the
streamed T) and in WS (the rows it occupies); IS keeps the reduction spatial in stationary
inputs, so zero weights only gate PEs there (the caller passes the full reduction for IS).
`stall` divides the streamed dimension: cycles a sparse PE loses waiting for operands.
`dense_cols` (iso-area sparse designs, whose column count is an area-equivalent real number):
column folds are the extent over the width, padded as the dense design of `dense_cols` pads
it, so the same-area trade is continuous instead of stepping at every whole column.
"""
from __future__ import annotations

import numpy as np

from hwmodels.spec import DATAFLOWS
from hwmodels.ties import clearly_less

OS, WS, IS, AUTO = (DATAFLOWS.index(d) for d in ("os", "ws", "is", "auto"))


def _folds(extent, width):
    return np.maximum(np.ceil(extent / width), 1.0)


def _col_folds(extent, cols, dense_cols):
    if dense_cols is None:
        return _folds(extent, cols)
    waste = _folds(extent, dense_cols) * dense_cols / np.maximum(extent, 1e-300)
    return np.maximum(extent * np.maximum(waste, 1.0) / cols, 1.0)


def cycles(dataflow, rows, cols, pixels, filters, groups, walk_os, walk_ws, walk_is, stall=1.0,
           dense_cols=None):
    """(cycles, dataflow code used) for arrays of layers/designs; `dataflow` is a code of
    spec.DATAFLOWS (auto: the fastest of the three). `filters` are per group."""
    dataflow = np.asarray(dataflow)
    candidates = []
    if np.any((dataflow == OS) | (dataflow == AUTO)):
        t = walk_os / stall
        candidates.append((OS, (t + rows + cols - 2) * _folds(pixels, rows)
                           * _col_folds(filters, cols, dense_cols)))
    if np.any((dataflow == WS) | (dataflow == AUTO)):
        t = pixels / stall
        candidates.append((WS, (2 * rows + cols + t - 2) * _folds(walk_ws, rows)
                           * _col_folds(filters, cols, dense_cols)))
    if np.any((dataflow == IS) | (dataflow == AUTO)):
        candidates.append((IS, (2 * rows + cols + filters - 2) * _folds(walk_is, rows)
                           * _col_folds(pixels, cols, dense_cols)))
    best, used = None, None
    for code, per_group in candidates:
        allowed = (dataflow == code) | (dataflow == AUTO)
        value = np.where(allowed, per_group, np.inf)
        if best is None:
            best, used = value, np.where(allowed, code, -1)
        else:
            better = clearly_less(value, best)       # a tie keeps the earlier dataflow
            best, used = np.where(better, value, best), np.where(better, code, used)
    return best * groups - 1, used
