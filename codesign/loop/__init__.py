"""Hardware-aware search of each layer's keep fraction α and sparsity pattern.

Two algorithms over the same interfaces (an `Executor` for accuracy, a `CostModel` for the
hardware): `fig5_search` (paper 001 Fig. 5, faithfully, unstructured) and `dp_search` (probe
curves + the simulator's latency curves over (α, pattern) choices, exact DP over the drop
budget, confirmed by real training runs). Both judge the accuracy constraint on paired
intervals (codesign.loop.verdict).
"""
from codesign.loop.allocator import dp_search
from codesign.loop.costs import (CostModel, conv_layers, effective_alphas, layer_latency,
                                   network_latency, network_speedup, runs_sparse, usable_alphas)
from codesign.loop.fig5 import fig5_search
from codesign.loop.records import IterationRecord, SearchConfig, SearchError, SearchResult

ALGORITHMS = {"fig5": fig5_search, "dp": dp_search}

__all__ = ["ALGORITHMS", "CostModel", "IterationRecord", "SearchConfig", "SearchError",
           "SearchResult", "conv_layers", "dp_search", "effective_alphas", "fig5_search", "layer_latency",
           "network_latency", "network_speedup", "runs_sparse", "usable_alphas"]
