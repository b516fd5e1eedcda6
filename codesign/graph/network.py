"""What the importer returns: a Network of compute Layers, what it could not model, and notes."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Callable

import numpy as np
import onnx

from codesign.graph.protos import node_names
from hwmodels.workload import LayerShape

if TYPE_CHECKING:
    import networkx as nx


@dataclass(frozen=True)
class Layer:
    """One compute layer as the importer found it."""
    name: str                        # weight tensor name (root constant); the node for dynamic matmuls
    op: str                          # an op of hwmodels.workload.OPS
    node: str                        # ONNX node name (the first one when a weight is shared)
    weight_shape: tuple[int, ...]    # as stored (block-quantized: K x N); () when it has no weight
    weight_source: str               # initializer | constant | constant_of_shape | folded | activation
    bias: str | None
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    shape: LayerShape
    attributes: dict = field(default_factory=dict, compare=False)
    stored: object = field(default=None, compare=False, repr=False)   # index.Weight: bits, values

    @property
    def params(self) -> int:
        return self.shape.weight_count

    @property
    def macs(self) -> int:
        return self.shape.macs

    @property
    def stored_bits(self) -> int:
        """Bits the model holds for the weight: its values at their width, or what a
        block-quantized weight stores (packed values, block scales, zero points)."""
        if self.stored is None:
            return 0
        return self.stored.stored_bits if self.stored.stored_bits is not None else self.params * self.stored.bits

    @property
    def groups(self) -> int:
        return self.shape.groups

    @property
    def uses(self) -> tuple[str, ...]:
        """The nodes this layer's weight serves (one unless the exporter shared it)."""
        return tuple(self.attributes.get("shared_by", (self.node,)))


@dataclass(frozen=True)
class Unmodeled:
    """A node that does arithmetic the importer cannot turn into a layer."""
    op: str
    node: str
    macs: int | None                 # estimated from shapes; None when nothing is known
    reason: str
    multiplies: bool = True          # False: an unknown op whose name does not say it multiplies

    def to_dict(self) -> dict:
        return {"op": self.op, "node": self.node, "macs": self.macs, "reason": self.reason,
                "multiplies": self.multiplies}


@dataclass
class Network:
    name: str
    input_shape: tuple[int, ...]                 # the first input's shape
    layers: list[Layer]
    model: onnx.ModelProto
    inputs: dict[str, tuple[int, ...]] = field(default_factory=dict)
    unmodeled: list[Unmodeled] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)     # choices the importer made (If branches, ...)
    _weights: dict[str, Callable[[], np.ndarray | None]] = field(default_factory=dict, repr=False)
    _bits: dict[str, int] = field(default_factory=dict, repr=False)

    @cached_property
    def graph(self) -> nx.DiGraph:
        """The top-level node graph (edges carry the tensor between two nodes), built when first
        asked for: networkx costs a cost-only command a tenth of a second it never uses."""
        import networkx as nx

        out = nx.DiGraph()
        names = node_names(self.model.graph)
        producer = {}
        for name, node in zip(names, self.model.graph.node):
            out.add_node(name, op_type=node.op_type, inputs=list(node.input), outputs=list(node.output))
            for t in node.output:
                producer[t] = name
        for name, node in zip(names, self.model.graph.node):
            for t in node.input:
                if t in producer:
                    out.add_edge(producer[t], name, tensor=t)
        return out

    @property
    def shapes(self) -> list[LayerShape]:
        return [layer.shape for layer in self.layers]

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"no compute layer with weight {name!r}; layers are: "
                       + ", ".join(l.name for l in self.layers))

    def weight(self, name: str) -> np.ndarray | None:
        """The weight values of a layer, or None when the model holds no values for it (a
        dynamic matmul). ConstantOfShape weights are placeholders (one fill value)."""
        values = self._weights.get(name)
        return None if values is None else values()

    def coverage_dict(self) -> dict:
        """The share of the model's MACs that the layers model; `unmodeled` lists the nodes that
        do arithmetic outside them, with MACs estimated from shapes (None: unknown). `complete`
        is True only when no node that multiplies is left out; `share` is None when one of them
        has MACs of unknown number (the share is then below 1, by how much is unknown)."""
        modeled = self.total_macs
        total = modeled + sum(u.macs or 0 for u in self.unmodeled)
        gaps = [u for u in self.unmodeled if u.multiplies]
        share = None if any(u.macs is None for u in gaps) else modeled / total if total else 1.0
        return {"macs_modeled": modeled, "macs_total": total, "share": share, "complete": not gaps,
                "unmodeled": [u.to_dict() for u in self.unmodeled], "notes": list(self.notes)}

    def weight_bits(self) -> dict[str, int]:
        """Bits per stored weight of each layer as the model holds it: 32 for float32, 16 for
        float16, 8 for int8 (QLinear*, *Integer and DequantizeLinear-fed weights), ..."""
        return {l.name: self._bits.get(l.name, 32) for l in self.layers}

    def input_shapes_text(self) -> list[str]:
        """Shapes as `load_network` takes them back. A single input is given by position: a
        pruned re-export of the model may name it differently."""
        if len(self.inputs) <= 1:
            return [_dims_text(self.input_shape)]
        return [f"{name}={_dims_text(shape)}" for name, shape in self.inputs.items()]

    @property
    def total_params(self) -> int:
        return sum(l.params for l in self.layers)

    @property
    def total_macs(self) -> int:
        return sum(l.macs for l in self.layers)


def _dims_text(shape: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in shape) if shape else "scalar"
