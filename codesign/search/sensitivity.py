"""Per-layer sensitivity curves from short probes: accuracy drop when one layer alone is pruned
to each keep fraction of a grid. Both searches start from them: Fig. 5 takes its initial α from
the scan, the allocator takes the whole curves."""
from __future__ import annotations

import numpy as np

from codesign.search.session import DROP_EPS, SearchSession


def probe_curves(session: SearchSession, grid: tuple[float, ...]) -> dict[str, np.ndarray]:
    """Drop in points per layer at each α of `grid` (sorted descending). Made non-decreasing as
    α falls: a probe is noisy, but removing more weights of one layer cannot help on average."""
    grid = tuple(sorted(grid, reverse=True))
    reqs = [{name: a} for name in session.layers for a in grid]
    evals = session.run("probe", *reqs)
    drops = np.array([max(0.0, 100.0 * (session.probe_reference - e.accuracy))
                      for e in evals]).reshape(
        len(session.layers), len(grid))
    drops = np.maximum.accumulate(drops, axis=1)
    return dict(zip(session.layers, drops))


def scan_initial_alphas(curves: dict[str, np.ndarray], grid: tuple[float, ...],
                        max_drop: float) -> dict[str, float]:
    """Per layer, the smallest grid α whose probe drop stays within the constraint (1.0 if none):
    the 'sensitivity scan' initialisation of paper 001 Fig. 5."""
    grid_desc = np.array(sorted(grid, reverse=True))
    out = {}
    for name, drops in curves.items():
        ok = np.nonzero(drops <= max_drop + DROP_EPS)[0]
        out[name] = float(grid_desc[ok[-1]]) if ok.size else 1.0
    return out
