"""CostModel over hwmodels: the search's view of one hardware configuration.

Dense latency, sparse latency at any α and r* per layer come from hwmodels.cost.evaluate and
hwmodels.breakeven.break_even on a single config. Sparse latencies are memoised per (layer, α):
the searches ask for the same points many times.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Mapping, Sequence

import numpy as np

from hwmodels.arch import ConfigArray, HwConfig
from hwmodels.breakeven import break_even
from hwmodels.cost import LayerArray, evaluate
from hwmodels.workload import LayerShape

NS = 1e-9


class HwCostModel:
    def __init__(self, shapes: Sequence[LayerShape], config: HwConfig,
                 prunable: Sequence[str] | None = None,
                 weight_bits: Mapping[str, int] | None = None) -> None:
        """`weight_bits`: bits of layers that will be stored quantized (others: the config's);
        fewer bits make indices relatively dearer and move r*, so the search must know them."""
        self.shapes = {s.name: s for s in shapes}
        self.config = config
        self._order = [s.name for s in shapes]
        self._bits = [int((weight_bits or {}).get(n, config.weight_bits)) for n in self._order]
        self._prunable = list(prunable) if prunable is not None else list(self._order)
        self._configs = ConfigArray.from_configs([config])
        self._layers = LayerArray.from_shapes(list(shapes))
        self._index = {n: i for i, n in enumerate(self._order)}
        dense = evaluate(self._configs, self._layers, np.array([1.0]), weight_bits=self._bits)
        self._dense = dense.dense_time_ns[0, :, 0] * NS
        # A layer planned dense runs in the dense mode of the design that can also run sparse
        # (fixed chip: fewer PEs than the pure dense chip; iso-area: the dense design itself).
        self._fallback = dense.dense_mode_time_ns[0, :, 0] * NS
        self._r_star = break_even(self._configs, self._layers, weight_bits=self._bits).ratio[0]
        self._sparse = lru_cache(maxsize=None)(self._sparse_one)

    # -- CostModel --------------------------------------------------------------------------
    def layer_names(self) -> list[str]:
        return list(self._prunable)

    def macs(self, name: str) -> int:
        return int(self.shapes[name].macs)

    def op(self, name: str) -> str:
        return self.shapes[name].op

    def breakeven(self, name: str) -> float:
        return float(self._r_star[self._index[name]])

    def dense_latency(self, name: str) -> float:
        return float(self._dense[self._index[name]])

    def fallback_latency(self, name: str) -> float:
        return float(self._fallback[self._index[name]])

    def sparse_latency(self, name: str, alphas: np.ndarray) -> np.ndarray:
        return np.array([self._sparse(name, round(float(a), 6)) for a in np.atleast_1d(alphas)])

    # -- helpers ----------------------------------------------------------------------------
    def _evaluate_one(self, name: str, alphas: np.ndarray):
        i = self._index[name]
        return evaluate(self._configs, self._layers.take([i]), alphas, weight_bits=[self._bits[i]])

    def _sparse_one(self, name: str, alpha: float) -> float:
        costs = self._evaluate_one(name, np.array([alpha]))
        return float(costs.sparse_time_ns[0, 0, 0]) * NS

    def storage_bits(self, name: str, alphas: np.ndarray) -> np.ndarray:
        """Weight + index bits at each α (the dense weights at α = 1)."""
        a = np.atleast_1d(np.asarray(alphas, float))
        costs = self._evaluate_one(name, np.where(a < 1.0, a, 0.5))
        sparse = (costs.value_bits + costs.index_bits)[0, 0, :]
        dense = self.shapes[name].weight_count * self._bits[self._index[name]]
        return np.where(a < 1.0, sparse, dense)
