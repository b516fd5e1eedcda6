"""What the importer knows about every tensor of a shape-inferred model (all bodies included):
static shapes, element types, constant values, producers; and the one way a compute node's
operand is traced back to the weight that is stored."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from math import prod
from typing import Callable

import numpy as np
import onnx
from onnx import numpy_helper

from codesign.errors import ModelImportError
from codesign.graph.limits import MAX_ELEMENTS, VALUE_ELEMENTS, shown
from codesign.graph.protos import all_graphs, op_key
from pruning.onnx.conventions import WEIGHT_PATH_OPS, dtype_bits

# A weight keeps its identity (and element count) through these on its way to a compute node;
# QuantizeLinear of a float weight is a QDQ graph's stored integer weight.
SEE_THROUGH = WEIGHT_PATH_OPS | {"QuantizeLinear"}
# Ops whose output is known once input shapes are fixed, even if their input is an activation.
SHAPE_OPS = {"Shape", "Size"}


@dataclass
class Constant:
    source: str                                 # initializer | constant | constant_of_shape | folded
    shape: tuple[int, ...]
    elem_type: int
    read: Callable[[], np.ndarray]              # converted only when the values are asked for
    name: str = ""

    @cached_property
    def array(self) -> np.ndarray:
        try:
            return self.read()
        except Exception as exc:                 # data that does not match its type or shape
            raise ModelImportError(f"tensor {shown(self.name)}: its data cannot be read "
                                   f"({type(exc).__name__}: {str(exc)[:120]})") from exc

    def values(self) -> np.ndarray:
        return self.array


@dataclass(frozen=True)
class Weight:
    """A compute operand traced to a stored tensor."""
    name: str                                   # the stored tensor: the layer's identity
    source: str
    shape: tuple[int, ...]                      # as stored
    bits: int                                   # narrowest element type on the way (int8 of QDQ)
    values: Callable[[], np.ndarray | None]
    stored_bits: int | None = None              # what the file holds, where not shape x bits (block scales)


class GraphIndex:
    def __init__(self, model: onnx.ModelProto):
        self.fold_error: str | None = None
        self.constants: dict[str, Constant] = {}
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.types: dict[str, int] = {}
        self.producers: dict[str, onnx.NodeProto] = {}
        self.graph_inputs: set[str] = set()
        self._constant_only: dict[str, bool] = {}
        self._folded_names: dict[str, str] = {}     # name -> the folded tensor that took it
        self._traced: dict[str, tuple[str | None, int | None]] = {}     # see _trace
        for graph in all_graphs(model.graph):
            self._add_graph(graph)

    # ------------------------------------------------------------------ building
    def _add_graph(self, graph: onnx.GraphProto) -> None:
        for vi in list(graph.value_info) + list(graph.input) + list(graph.output):
            self._add_value_info(vi)
        self.graph_inputs |= {vi.name for vi in graph.input}
        for init in graph.initializer:
            self._add_constant(init.name, "initializer", init)
        for node in graph.node:
            for out in node.output:
                if out:
                    self.producers.setdefault(out, node)
            if node.op_type == "Constant" and node.output:
                self._add_constant_node(node)
        for node in graph.node:          # after every Constant: its shape input may be one
            if node.op_type == "ConstantOfShape" and node.input and node.output:
                self._add_constant_of_shape(node)

    def _add_value_info(self, vi: onnx.ValueInfoProto) -> None:
        t = vi.type.tensor_type
        if t.elem_type:
            self.types.setdefault(vi.name, t.elem_type)
        if not t.HasField("shape"):
            return
        dims = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
        if all(isinstance(d, int) and d >= 0 for d in dims):
            self.shapes.setdefault(vi.name, tuple(dims))

    def _add_constant(self, name: str, source: str, tensor: onnx.TensorProto) -> None:
        self.constants[name] = Constant(source, tuple(tensor.dims), tensor.data_type,
                                        lambda t=tensor: numpy_helper.to_array(t), name)
        self.shapes[name] = tuple(tensor.dims)
        self.types[name] = tensor.data_type

    def _add_constant_node(self, node: onnx.NodeProto) -> None:
        name = node.output[0]
        for attr in node.attribute:
            if attr.name == "value":
                self._add_constant(name, "constant", attr.t)
            elif attr.name in ("value_float", "value_int", "value_floats", "value_ints"):
                array = np.array(onnx.helper.get_attribute_value(attr))
                if attr.name == "value_float" or attr.name == "value_floats":
                    array = array.astype(np.float32)
                self._add_constant(name, "constant", numpy_helper.from_array(array, name))
            # sparse_value / strings: not a weight

    def _add_constant_of_shape(self, node: onnx.NodeProto) -> None:
        shape_const = self.constants.get(node.input[0])
        if shape_const is None:
            return
        if len(shape_const.shape) > 1 or prod(shape_const.shape) > VALUE_ELEMENTS:     # sized before it is read
            raise ModelImportError(f"node {shown(node.name or node.op_type)} (ConstantOfShape) takes a shape "
                                   f"of shape {list(shape_const.shape)[:8]}: a shape is a short list of "
                                   "dimensions; the file is corrupted or hostile")
        shape = tuple(int(d) for d in shape_const.values().reshape(-1))
        if any(d < 0 for d in shape) or prod(shape) > MAX_ELEMENTS:
            raise ModelImportError(f"node {shown(node.name or node.op_type)} (ConstantOfShape) makes a tensor "
                                   f"of shape {list(shape)[:8]}: the file is corrupted or hostile")
        value = next((a.t for a in node.attribute if a.name == "value"), None)
        fill = numpy_helper.to_array(value) if value is not None else np.zeros(1, np.float32)
        elem = value.data_type if value is not None else onnx.TensorProto.FLOAT
        name = node.output[0]
        self.constants[name] = Constant("constant_of_shape", shape, elem,
                                        lambda: np.full(shape, fill.reshape(-1)[0], dtype=fill.dtype), name)
        self.shapes.setdefault(name, shape)

    def add_folded(self, folded: onnx.ModelProto, probes: set[str]) -> None:
        """Shapes of the constant-folded copy where this model's are unknown, and the values it
        computed for the probed tensors (weights made from constants, If conditions, ...)."""
        self._traced.clear()                      # a traced activation may now be a folded constant
        for graph in all_graphs(folded.graph):
            for vi in list(graph.value_info) + list(graph.input) + list(graph.output):
                self._add_value_info(vi)
            for init in graph.initializer:
                self.shapes.setdefault(init.name, tuple(init.dims))
                self.types.setdefault(init.name, init.data_type)
                if init.name in probes and init.name not in self.constants:
                    self._add_constant(init.name, "folded", init)

    # ------------------------------------------------------------------ queries
    def shape(self, tensor: str) -> tuple[int, ...] | None:
        return self.shapes.get(tensor)

    def scalar(self, tensor: str):
        """A constant's single value (an If condition, a Loop's trip count, a total sequence
        length), sized before it is read; None when the tensor is no such constant."""
        const = self.constants.get(tensor) if tensor else None
        if const is None or prod(const.shape) != 1:
            return None
        return np.asarray(const.values()).reshape(-1)[0]

    def bits(self, tensor: str) -> int | None:
        return dtype_bits(self.types[tensor]) if tensor in self.types else None

    def weight(self, tensor: str) -> Weight | None:
        """The stored tensor a compute operand is, or None for an activation. The walk goes
        back through value-preserving ops to a constant; an operand computed from constants
        by other ops is known only after folding (named by the stored tensors it is made of)."""
        root, width = self._trace(tensor)
        if root is None:
            return None
        const = self.constants[root]
        name = self._folded_name(root) if const.source == "folded" else root
        bits = min(b for b in (width, dtype_bits(const.elem_type) or 32) if b)
        return Weight(name, const.source, const.shape, bits, const.values)

    def _trace(self, tensor: str) -> tuple[str | None, int | None]:
        """(the constant the tensor is through SEE_THROUGH ops, or None for an activation; the
        narrowest element width on the way). Memoized along the whole path, so that tracing
        every operand of a graph is linear in its nodes, however long its Identity chains."""
        path, on_path, t = [], set(), tensor
        while t not in self.constants and t not in self._traced:
            path.append(t)
            on_path.add(t)
            node = self.producers.get(t)
            if node is None or op_key(node) not in SEE_THROUGH or not node.input or not node.input[0] \
                    or node.input[0] in on_path:
                root, width = None, None          # an activation (or a cycle in a corrupted file)
                break
            t = node.input[0]
        else:
            root, width = self._traced.get(t, (t, None))
        for p in reversed(path):
            width = min((b for b in (width, self.bits(p)) if b), default=None) if root else None
            self._traced[p] = (root, width)
        return self._traced.get(tensor, (root, width))

    def constant_only(self, tensor: str) -> bool:
        """True when the tensor is computed from constants and input shapes alone, so that
        folding can know it before run time."""
        memo, busy = self._constant_only, set()
        stack = [(tensor, False)]
        while stack:                              # post-order, iterative: deep graphs must not recurse
            t, expanded = stack.pop()
            if t in memo:
                continue
            deps = self.value_inputs(t)
            if not expanded:
                busy.add(t)
                stack.append((t, True))
                stack += [(d, False) for d in deps if d not in memo and d not in busy]
                continue
            busy.discard(t)
            node = self.producers.get(t)
            if t in self.constants:
                memo[t] = True
            elif node is None or not node.input:     # a sparse Constant; else a graph input or a random op
                memo[t] = node is not None and node.op_type == "Constant"
            elif op_key(node) in SHAPE_OPS:
                memo[t] = node.input[0] in self.shapes
            else:
                memo[t] = all(memo.get(d, False) for d in deps)
        return memo[tensor]

    def value_inputs(self, tensor: str) -> list[str]:
        """The tensors whose values the tensor's value depends on."""
        node = self.producers.get(tensor)
        if tensor in self.constants or node is None or op_key(node) in SHAPE_OPS:
            return []
        return [i for i in node.input if i]

    def _folded_name(self, tensor: str) -> str:
        """A folded weight is named by the stored tensor it was made from: the one float tensor
        upstream with as many elements (a scaled weight), or all of them when they hold exactly
        its elements together (an LSTM gate matrix re-ordered by Slice/Concat); else by itself."""
        stored, stack, seen = [], [tensor], set()
        while stack:
            t = stack.pop()
            if t in seen:
                continue
            seen.add(t)
            const = self.constants.get(t)
            if t != tensor and const is not None and const.source != "folded" and _is_float(const.elem_type):
                stored.append(t)
                continue
            node = self.producers.get(t)
            if node is not None:
                stack += [i for i in reversed(node.input) if i]
        size = prod(self.constants[tensor].shape)
        sizes = {s: prod(self.constants[s].shape) for s in stored}
        same = [s for s in stored if sizes[s] == size]
        name = same[0] if len(same) == 1 else "+".join(stored) if stored and sum(sizes.values()) == size \
            else tensor
        owner = self._folded_names.setdefault(name, tensor)
        return name if owner == tensor else tensor    # two weights made from one stored tensor: apart

    def unknown_shape(self, tensor: str, what: str) -> str:
        """Why an operand's shape is unknown, naming the real cause (every input shape is static
        by now: --input-shape is no remedy)."""
        return f"the shape of its {what} {shown(tensor)} could not be inferred: {self._shape_cause(tensor)}"

    def _shape_cause(self, tensor: str) -> str:
        if self.fold_error:
            return f"constant folding failed ({self.fold_error})"
        stack, seen = [tensor], set()
        while stack:                              # the first node whose output is unknown from known inputs
            t = stack.pop()
            node = self.producers.get(t)
            if t in seen or node is None:
                continue
            seen.add(t)
            unknown = [i for i in node.input if i and i not in self.shapes]
            if unknown:
                stack += unknown
                continue
            values = [i for i in node.input if i in self.graph_inputs and i not in self.constants
                      and not _is_float(self.types.get(i, onnx.TensorProto.FLOAT))]
            source = f" from the values of input {', '.join(shown(i) for i in values[:3])}" if values else ""
            return (f"node {shown(node.name or node.op_type)} ({node.op_type}) computes it at run "
                    f"time{source}")
        return "shape inference and constant folding could not determine it"

def _is_float(elem_type: int) -> bool:
    try:
        name = onnx.TensorProto.DataType.Name(elem_type)
    except ValueError:
        return False
    return "FLOAT" in name or name == "DOUBLE"
