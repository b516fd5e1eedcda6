"""How many elements a tensor computed from constants holds, known from shapes before anything
is computed. onnx's data propagation and onnxruntime's constant folding both evaluate such
tensors in memory, and a small file can ask either for billions of elements (an Expand, a Range
or a ConstantOfShape to a huge size); each is sized here first."""
from __future__ import annotations

from math import prod

import onnx

from codesign.graph.index import GraphIndex
from codesign.graph.limits import VALUE_ELEMENTS
from codesign.graph.protos import all_graphs, op_key, subgraphs

# Ops whose output has at most the product of (each input's elements + 1) elements, whatever
# the values: the arithmetic exporters do on shapes. An op outside it whose output shape is
# unknown (Expand, Tile, Range, ConstantOfShape, Pad, Resize, ... to a computed size) may be
# of any size.
SIZE_BOUNDED_OPS = frozenset({
    "Identity", "Cast", "Shape", "Size", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose",
    "Slice", "Gather", "GatherElements", "Concat", "Split", "Add", "Sub", "Mul", "Div", "Mod", "Pow",
    "Neg", "Abs", "Floor", "Ceil", "Sqrt", "Max", "Min", "Equal", "Less", "LessOrEqual", "Greater",
    "GreaterOrEqual", "Not", "And", "Or", "Where", "ReduceProd", "ReduceSum", "ReduceMax", "ReduceMin",
    "ReduceMean", "Sign", "Clip", "ArgMax", "ArgMin", "CumSum"})


def constant_sizes(model: onnx.ModelProto, index: GraphIndex) -> dict[str, int | None]:
    """Elements of every node output computed from constants (and input shapes): its inferred
    shape's, else a bound from its inputs for SIZE_BOUNDED_OPS, else None (any size)."""
    sizes: dict[str, int | None] = {}
    for graph in all_graphs(model.graph):         # a body after the graph around it
        for node in graph.node:                   # in order: inputs are sized first
            outs = [o for o in node.output if o]
            if not outs or subgraphs(node) or not all(index.constant_only(o) for o in outs):
                continue
            for out in outs:
                sizes[out] = _size(out, node, index, sizes)
    return sizes


def _size(tensor: str, node: onnx.NodeProto, index: GraphIndex, sizes: dict) -> int | None:
    shape = index.shape(tensor)
    if shape is not None:
        return prod(shape)
    if op_key(node) not in SIZE_BOUNDED_OPS:
        return None
    inputs = [sizes[i] if i in sizes else prod(index.shape(i)) if index.shape(i) is not None else None
              for i in node.input if i]
    return None if None in inputs else prod(b + 1 for b in inputs)


def propagation_is_bounded(model: onnx.ModelProto, index: GraphIndex) -> bool:
    """Whether onnx's data propagation may run: it holds the values of the integer tensors of
    rank <= 1 it computes with (shapes) as protobuf dims, about 150 bytes a value, so each such
    constant must be small (no real shape has VALUE_ELEMENTS dimensions)."""
    stored = ((name, prod(c.shape)) for name, c in index.constants.items())
    for name, size in [*stored, *constant_sizes(model, index).items()]:
        shape = index.shape(name)
        if _integer(index.types.get(name)) and (shape is None or len(shape) <= 1) \
                and (size is None or size > VALUE_ELEMENTS):
            return False
    return True


def _integer(elem_type: int | None) -> bool:
    try:
        return elem_type is not None and "INT" in onnx.TensorProto.DataType.Name(elem_type)
    except ValueError:
        return False
