"""Hardware-aware search of per-layer keep fractions α.

Two algorithms over the same interfaces (an `Executor` for accuracy, a `CostModel` for the
hardware): `fig5_search` (paper 001 Fig. 5, faithfully) and `dp_search` (probe curves + the
simulator's latency curves, exact DP over the drop budget, confirmed by real training runs).
"""
from codesign.search.allocator import dp_search
from codesign.search.costs import (CostModel, conv_layers, effective_alphas, layer_latency,
                                   network_latency, network_speedup, runs_sparse)
from codesign.search.fig5 import fig5_search
from codesign.search.records import IterationRecord, SearchConfig, SearchError, SearchResult

ALGORITHMS = {"fig5": fig5_search, "dp": dp_search}

__all__ = ["ALGORITHMS", "CostModel", "IterationRecord", "SearchConfig", "SearchError",
           "SearchResult", "conv_layers", "dp_search", "effective_alphas", "fig5_search", "layer_latency",
           "network_latency", "network_speedup", "runs_sparse"]
