"""What a search needs to know about the hardware, and the arithmetic it does with it.

`CostModel` is the search's only view of the hardware: per-layer computation, the dense
latency, and the latency of the implementation the hardware chooses at a keep fraction alpha
and a pattern, which already applies the one dense/sparse rule of hwmodels.decide (a layer
whose sparse implementation is slower runs dense, with its weights restored). The adapter
onto hwmodels is codesign.loop.hwcost; tests use codesign.loop.synthetic. Latencies of
layers add up: the accelerator runs layers one after the other, each in its own dense or
sparse mode (paper 001 section 5.1; Sticker, its ref. [60]).
"""
from __future__ import annotations

from typing import Iterable, Mapping, Protocol

import numpy as np

from pruning.patterns import UNSTRUCTURED, Pattern


class CostModel(Protocol):
    def layer_names(self) -> list[str]:
        """Prunable layers (weight tensor names) in network order."""
        ...

    def macs(self, name: str) -> int:
        """Computation C_i of the uncompressed layer."""
        ...

    def op(self, name: str) -> str:
        """LayerShape.op: conv, conv_transpose, gemm, matmul, recurrent."""
        ...

    def dense_latency(self, name: str) -> float:
        """Seconds for the layer on the dense baseline."""
        ...

    def runs_sparse(self, name: str, alphas: np.ndarray, pattern: Pattern = UNSTRUCTURED) -> np.ndarray:
        """Whether the hardware runs the layer sparse at each alpha (hwmodels.decide's rule)."""
        ...

    def latency(self, name: str, alphas: np.ndarray, pattern: Pattern = UNSTRUCTURED) -> np.ndarray:
        """Seconds of the implementation the rule chooses at each alpha (vectorized)."""
        ...

    def break_even(self, name: str, pattern: Pattern = UNSTRUCTURED) -> float:
        """r*: the smallest 1/alpha at which the layer runs sparse (inf: never; 1: always)."""
        ...

    # Optional, for a storage budget: weight + index bits at each alpha (dense weights where
    # the layer runs dense).
    # def storage_bits(self, name, alphas, pattern=UNSTRUCTURED) -> np.ndarray: ...


def runs_sparse(cost: CostModel, name: str, alpha: float, pattern: Pattern = UNSTRUCTURED) -> bool:
    return bool(alpha < 1.0 and cost.runs_sparse(name, np.array([alpha]), pattern)[0])


def layer_latency(cost: CostModel, name: str, alpha: float, pattern: Pattern = UNSTRUCTURED) -> float:
    if alpha >= 1.0:
        return float(cost.latency(name, np.array([1.0]))[0])
    return float(cost.latency(name, np.array([alpha]), pattern)[0])


def network_latency(cost: CostModel, alphas: Mapping[str, float], layers: Iterable[str] | None = None,
                    patterns: Mapping[str, Pattern] | None = None) -> float:
    names = list(layers) if layers is not None else cost.layer_names()
    patterns = patterns or {}
    return sum(layer_latency(cost, n, alphas.get(n, 1.0), patterns.get(n, UNSTRUCTURED)) for n in names)


def network_speedup(cost: CostModel, alphas: Mapping[str, float], layers: Iterable[str] | None = None,
                    patterns: Mapping[str, Pattern] | None = None) -> float:
    """Dense latency over planned latency, for all layers or a subset (e.g. the conv layers)."""
    names = list(layers) if layers is not None else cost.layer_names()
    dense = sum(cost.dense_latency(n) for n in names)
    return dense / network_latency(cost, alphas, names, patterns) if names else 1.0


def usable_alphas(cost: CostModel, name: str, pattern: Pattern, grid_desc: np.ndarray,
                  alpha_min: float) -> np.ndarray:
    """The keep fractions a search may give `name` with `pattern`: the grid points >= alpha_min
    (N:M: its own N/M) at which the hardware runs the layer sparse. Descending."""
    fixed = pattern.fixed_alpha
    alphas = np.array([fixed]) if fixed is not None else np.asarray(grid_desc, float)
    alphas = alphas[(alphas >= alpha_min - 1e-12) & (alphas < 1.0)]
    if not alphas.size:
        return alphas
    return alphas[np.asarray(cost.runs_sparse(name, alphas, pattern), dtype=bool)]


def conv_layers(cost: CostModel) -> list[str]:
    return [n for n in cost.layer_names() if cost.op(n) in ("conv", "conv_transpose")]


def effective_alphas(cost: CostModel, alphas: Mapping[str, float],
                     patterns: Mapping[str, Pattern] | None = None) -> dict[str, float]:
    """The alpha actually deployed: layers that run dense get their weights back (alpha = 1)."""
    patterns = patterns or {}
    return {n: (a if runs_sparse(cost, n, a, patterns.get(n, UNSTRUCTURED)) else 1.0)
            for n, a in ((n, alphas.get(n, 1.0)) for n in cost.layer_names())}
