"""Per-layer sensitivity curves from short probes: the accuracy drop when one layer alone is
pruned to a keep fraction with a pattern. Only points at which the hardware would run the
layer sparse are probed (anything else would run dense with its weights restored), so a layer
that cannot pay at any allowed α costs no probe at all. Both searches start from the curves:
Fig. 5 takes its initial α from them, the allocator takes the whole curves."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from codesign.loop.session import SearchSession
from pruning.patterns import Pattern


@dataclass(frozen=True)
class DropCurve:
    """One layer's accuracy drop against its keep fraction α, for one pattern (probed)."""
    alphas: np.ndarray          # probed keep fractions, descending
    drops: np.ndarray           # drop (points) at each, non-decreasing as α falls

    def at(self, alpha: float) -> float:
        """The drop at any α: linear in ln α between probes (0 at α = 1), extended linearly
        below the last probe and never below it."""
        x = np.log(np.concatenate([[1.0], self.alphas]))[::-1]      # ascending for np.interp
        y = np.concatenate([[0.0], self.drops])[::-1]
        la = np.log(alpha)
        if la >= x[0]:
            return float(np.interp(la, x, y))
        slope = (y[1] - y[0]) / (x[1] - x[0]) if len(x) > 1 else 0.0
        return float(max(y[0], y[0] + slope * (la - x[0])))


Curves = dict[str, dict[Pattern, DropCurve]]


def probe_curves(session: SearchSession, patterns: Sequence[Pattern],
                 layers: Sequence[str] | None = None) -> Curves:
    """Curves per layer and pattern, all probes in one batch. Made non-decreasing as α falls:
    a probe is noisy, but removing more weights of one layer cannot help on average."""
    names = list(layers) if layers is not None else session.layers
    points = [(n, p, float(a)) for n in names for p in patterns for a in session.usable(n, p)]
    evals = session.run("probe", [{n: a} for n, _, a in points], [{n: p} for n, p, _ in points])
    curves: Curves = {n: {} for n in names}
    for n in names:
        for p in patterns:
            idx = [i for i, (m, q, _) in enumerate(points) if m == n and q == p]
            if not idx:
                continue
            drops = np.maximum.accumulate([session.probe_drop(evals[i]) for i in idx])
            curves[n][p] = DropCurve(np.array([points[i][2] for i in idx]), np.asarray(drops, float))
    return curves


def scan_initial_alphas(curves: Curves, pattern: Pattern, max_drop: float,
                        layers: Sequence[str]) -> dict[str, float]:
    """Per layer, the smallest probed α whose drop stays within the constraint (1.0 if none):
    the 'sensitivity scan' initialisation of paper 001 Fig. 5."""
    out = {}
    for name in layers:
        curve = curves.get(name, {}).get(pattern)
        ok = [] if curve is None else np.nonzero(curve.drops <= max_drop + 1e-9)[0]
        out[name] = float(curve.alphas[ok[-1]]) if len(ok) else 1.0
    return out
