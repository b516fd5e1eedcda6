"""What a compression run left dense, why, and the share of the MACs each such layer carries
(issue 19): the importer (codesign.graph: every op that multiplies is a layer, attention's
activation products among them) reads the exported model beside the run's per-layer table.
Torch-free, so that `prune` and a search's export say it the same way.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Collection, Mapping, Sequence

from codesign.results import Record

if TYPE_CHECKING:
    import onnx

# Why a layer is dense (DenseLayer.kind), in the order a reader meets them in a graph.
KINDS = ("embedding", "activation product", "unreachable", "policy", "method", "not in plan")

# Where the importer found a weight that the bridge does not train (Layer.weight_source).
_SOURCES = {"initializer": "a stored tensor the bridge does not reach as a weight",
            "constant": "a Constant node's value", "constant_of_shape": "a ConstantOfShape fill",
            "folded": "computed from constants in the graph"}


@dataclass(frozen=True)
class DenseLayer(Record):
    """A layer a compression run left dense (a row of layers.json's `left_dense`)."""
    name: str           # the importer's layer name: its weight, the node of an activation product, a table
    op: str             # the importer's op (matmul, conv, dynamic_matmul, ...); gather for an embedding
    kind: str           # one of KINDS
    why: str            # one line
    macs: int           # per sample, as `inspect` counts them (an embedding's lookup: 0)
    mac_share: float    # of the model's modeled MACs


def embedding_tables(model: onnx.ModelProto) -> list[str]:
    """The stored tables the graph looks rows up in (pruning.onnx.layouts.embedding_table), in
    graph order, each once."""
    from pruning.onnx.layouts import embedding_table
    graph = model.graph
    producers = {o: n for n in graph.node for o in n.output}
    ranks = {t.name: len(t.dims) for t in graph.initializer}
    tables = (embedding_table(n, producers, ranks) for n in graph.node)
    return list(dict.fromkeys(t for t in tables if t is not None))


def is_compressed(row: Mapping) -> bool:
    """A row of the run's table (PrunedLayer) lost weights or was quantized."""
    return row["kept"] < row["weights"] or bool(row["bits"])


def left_dense(model: onnx.ModelProto, rows: Sequence[Mapping], *, policy: Mapping[str, str] = {},
               targeted: Collection[str] = (), method_rule: str = "", input_shape=None
               ) -> tuple[tuple[DenseLayer, ...], float | None]:
    """The layers of `model` (the exported ONNX) that `rows` (the run's PrunedLayer table) did
    not compress, and the share of the MACs the compressed ones carry (None when a compressed
    weight is not one of the importer's layers: its MACs are unknown). `policy`: weight -> why
    a rule of the plan kept it dense (pruning.support.resolve's `skipped`, the classifier);
    `targeted`: the weights the plan asked to prune, so one left dense was the method's choice,
    told by `method_rule`; `input_shape`: the samples' shapes (codesign.graph.inputs.sample_shapes)
    for a graph with free dimensions. Raises the importer's errors (CodesignError) for a model it cannot
    read."""
    from codesign.graph import load_network
    network = load_network(model, input_shape)
    total = network.total_macs
    share = (lambda macs: macs / total) if total else (lambda macs: 0.0)
    by_name = {r["name"]: r for r in rows}
    compressed = {n for n, r in by_name.items() if is_compressed(r)}
    dense = [DenseLayer(t, "gather", "embedding", "a table looked up by row (Gather): no multiply to prune",
                        0, 0.0) for t in embedding_tables(model) if t not in by_name]
    for layer in network.layers:
        if layer.name in compressed:
            continue
        kind, why = _why(layer, by_name, policy, targeted, method_rule)
        dense.append(DenseLayer(layer.name, layer.op, kind, why, layer.macs, share(layer.macs)))
    layers = {l.name: l.macs for l in network.layers}
    known = compressed <= set(layers)
    return tuple(dense), (share(sum(layers[n] for n in compressed)) if known else None)


def _why(layer, rows: Mapping[str, Mapping], policy: Mapping[str, str], targeted: Collection[str],
         method_rule: str) -> tuple[str, str]:
    if layer.weight_source == "activation":
        return "activation product", "two activations multiplied (attention's QK^T, AV): no weight to prune"
    if layer.name not in rows:
        return "unreachable", (f"its weight is {_SOURCES.get(layer.weight_source, layer.weight_source)}, "
                               "not an initializer the bridge trains and masks")
    if layer.name in policy:
        return "policy", policy[layer.name]
    if layer.name in targeted:
        return "method", method_rule or "the method kept it dense"
    return "not in plan", "the plan keeps all its weights (keep fraction 1)"
