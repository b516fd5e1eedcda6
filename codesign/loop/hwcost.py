"""CostModel over hwmodels: the search's view of one hardware spec.

Latencies and the dense/sparse choice come from hwmodels.cost.evaluate and hwmodels.decide on a
single config, exactly as `codesign plan` computes them (a test checks that they agree on every
layer). Results are memoised per (layer, pattern, alpha): the searches ask for the same points
many times.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Mapping, Sequence

import numpy as np

from codesign.plans import Sparsity, build_plan, structure_of
from codesign.pruned import layer_mask
from hwmodels import decide
from hwmodels.configs import single
from hwmodels.cost import evaluate
from hwmodels.spec import HardwareSpec
from hwmodels.workload import LayerArray, LayerShape
from pruning.patterns import UNSTRUCTURED, Pattern

NS = 1e-9


class HwCostModel:
    def __init__(self, shapes: Sequence[LayerShape], spec: HardwareSpec,
                 prunable: Sequence[str] | None = None,
                 weight_bits: Mapping[str, int] | None = None) -> None:
        """`weight_bits`: bits of layers that will be stored quantized (others: the spec's);
        fewer bits make indices relatively dearer and move r*, so the search must know them."""
        self.shapes = {s.name: s for s in shapes}
        self.spec = spec
        self._config = single(spec)
        self._bits = {n: float((weight_bits or {}).get(n, float("nan"))) for n in self.shapes}
        self._prunable = [n for n in (prunable if prunable is not None else self.shapes)
                          if self.shapes[n].prunable]
        self._eval = lru_cache(maxsize=None)(self._evaluate)
        self._r_star = lru_cache(maxsize=None)(self._break_even)

    def _layer(self, name: str, pattern: Pattern) -> LayerArray:
        return LayerArray.from_shapes([self.shapes[name]], [self._bits[name]], [structure_of(pattern)])

    def _evaluate(self, name: str, pattern: Pattern, alphas: tuple[float, ...]):
        costs = evaluate(self._config, self._layer(name, pattern), np.array(alphas))
        runs = decide.runs_sparse(costs)[0, 0]
        chosen = decide.chosen_time_ns(costs)[0, 0] * NS
        bits = np.where(runs, costs.storage.total_bits[0, 0], costs.dense_storage.total_bits[0, 0, 0])
        return runs, chosen, float(costs.dense.time_ns[0, 0, 0]) * NS, bits

    def _break_even(self, name: str, pattern: Pattern) -> float:
        return float(decide.break_even(self._config, self._layer(name, pattern)).ratio[0, 0])

    def _point(self, name: str, alphas, pattern: Pattern):
        key = tuple(round(float(a), 6) for a in np.atleast_1d(alphas))
        return self._eval(name, pattern, key)

    # -- CostModel --------------------------------------------------------------------------
    def layer_names(self) -> list[str]:
        return list(self._prunable)

    def macs(self, name: str) -> int:
        return int(self.shapes[name].macs)

    def op(self, name: str) -> str:
        return self.shapes[name].op

    def dense_latency(self, name: str) -> float:
        return self._point(name, [1.0], UNSTRUCTURED)[2]

    def runs_sparse(self, name: str, alphas, pattern: Pattern = UNSTRUCTURED) -> np.ndarray:
        return self._point(name, alphas, pattern)[0]

    def latency(self, name: str, alphas, pattern: Pattern = UNSTRUCTURED) -> np.ndarray:
        return self._point(name, alphas, pattern)[1]

    def break_even(self, name: str, pattern: Pattern = UNSTRUCTURED) -> float:
        return self._r_star(name, pattern)

    def storage_bits(self, name: str, alphas, pattern: Pattern = UNSTRUCTURED) -> np.ndarray:
        """Weight + index bits of the chosen implementation at each alpha."""
        return self._point(name, alphas, pattern)[3]


class MaskCost:
    """The hardware's verdict on a trained model's own masks: the whole-network speedup (and
    each layer's implementation) exactly as `codesign plan --from-pruned` computes it for the
    exported file (the same mask reading, codesign.pruned.layer_mask, and the same plan).
    Pure numpy, so it travels to Ray workers with the oracle."""

    def __init__(self, shapes: Sequence[LayerShape], spec: HardwareSpec,
                 weight_bits: Mapping[str, int] | None = None,
                 layouts: Mapping[str, int] | None = None) -> None:
        self.shapes = {s.name: s for s in shapes}
        self.order = list(shapes)
        self.spec = spec
        self.bits = dict(weight_bits or {})
        self.layouts = dict(layouts or {})          # output-channel axis per weight (the bridge's)

    def __call__(self, masks: Mapping[str, np.ndarray]) -> dict:
        alphas, patterns, stats = {}, {}, {}
        for name, mask in masks.items():
            m = np.asarray(mask, dtype=bool)
            if name not in self.shapes or m.all() or not m.any():
                continue
            pattern, stats[name] = layer_mask(m, self.layouts.get(name, 0))
            alphas[name] = float(m.mean())
            if pattern.kind != "unstructured":
                patterns[name] = pattern
        plan = build_plan(self.order, self.spec, Sparsity(alphas, patterns, self.bits), masks=stats,
                          source="pruned")
        return {"speedup": float(plan.totals.speedup),
                "layers": {r.name: {"alpha": r.alpha, "pattern": r.pattern,
                                    "implementation": r.implementation, "speedup": r.speedup}
                           for r in plan.layers if r.alpha < 1}}
