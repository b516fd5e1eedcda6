"""What a search needs to know about the hardware, and the arithmetic it does with it.

`CostModel` is the search's only view of the hardware: per-layer computation, break-even
pruning ratio r*, the dense latency and the sparse latency as a function of the keep fraction
α. The adapter onto hwmodels lives in `codesign.search.hwcost`; tests use the synthetic model in
`codesign.search.synthetic`. Latencies of layers add up: the accelerator runs layers one after
the other, each in its own dense or sparse mode (paper 001 §5.1; Sticker, its ref. [60]).
"""
from __future__ import annotations

from typing import Iterable, Mapping, Protocol

import numpy as np


class CostModel(Protocol):
    def layer_names(self) -> list[str]:
        """Prunable layers (weight tensor names) in network order."""
        ...

    def macs(self, name: str) -> int:
        """Computation C_i of the uncompressed layer."""
        ...

    def op(self, name: str) -> str:
        """LayerShape.op: conv, conv_transpose, gemm or matmul."""
        ...

    def breakeven(self, name: str) -> float:
        """r*: the smallest pruning ratio 1/α at which sparse is no slower than dense
        (inf: sparse never wins; 1.0: sparse wins even unpruned)."""
        ...

    def dense_latency(self, name: str) -> float:
        """Seconds for the layer on the dense implementation."""
        ...

    def sparse_latency(self, name: str, alphas: np.ndarray) -> np.ndarray:
        """Seconds for the layer on the sparse implementation at each keep fraction (vectorized)."""
        ...

    # Optional, for a storage budget: weight + index bits at each α (α = 1: dense weights).
    # def storage_bits(self, name: str, alphas: np.ndarray) -> np.ndarray: ...


def runs_sparse(cost: CostModel, name: str, alpha: float) -> bool:
    """Paper 001 §5.1: a layer whose pruning ratio 1/α is below r* runs dense (weights restored)."""
    return alpha < 1.0 and 1.0 / alpha >= cost.breakeven(name)


def layer_latency(cost: CostModel, name: str, alpha: float) -> float:
    if runs_sparse(cost, name, alpha):
        return float(cost.sparse_latency(name, np.array([alpha]))[0])
    return fallback_latency(cost, name)


def fallback_latency(cost: CostModel, name: str) -> float:
    """Latency of a layer planned dense. Optional `fallback_latency` on the cost model: on a
    fixed chip that can also run sparse, the dense mode is slower than the pure dense chip."""
    fallback = getattr(cost, "fallback_latency", None)
    return float(fallback(name) if fallback else cost.dense_latency(name))


def network_latency(cost: CostModel, alphas: Mapping[str, float],
                    layers: Iterable[str] | None = None) -> float:
    names = list(layers) if layers is not None else cost.layer_names()
    return sum(layer_latency(cost, n, alphas.get(n, 1.0)) for n in names)


def network_speedup(cost: CostModel, alphas: Mapping[str, float],
                    layers: Iterable[str] | None = None) -> float:
    """Dense latency over planned latency, for all layers or a subset (e.g. the conv layers)."""
    names = list(layers) if layers is not None else cost.layer_names()
    dense = sum(cost.dense_latency(n) for n in names)
    return dense / network_latency(cost, alphas, names) if names else 1.0


def conv_layers(cost: CostModel) -> list[str]:
    return [n for n in cost.layer_names() if cost.op(n) in ("conv", "conv_transpose")]


def effective_alphas(cost: CostModel, alphas: Mapping[str, float]) -> dict[str, float]:
    """The α actually deployed: layers that run dense get their weights back (α = 1)."""
    return {n: (a if runs_sparse(cost, n, a) else 1.0)
            for n, a in ((n, alphas.get(n, 1.0)) for n in cost.layer_names())}
