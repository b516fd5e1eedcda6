"""ONNX -> Network: the compute layers of a model in topological order, plus the whole node graph.

A compute layer is a Conv, ConvTranspose, Gemm or MatMul whose weight operand is a constant:
an initializer, a `Constant` node, or a `ConstantOfShape` output (the onnx wheel's light models),
possibly seen through value-preserving ops (Identity, Cast, Transpose, Reshape, ...). The layer is
named by that constant's tensor name, the handle that pruning, plans and reports share.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from math import prod
from pathlib import Path

import networkx as nx
import numpy as np
import onnx
from onnx import numpy_helper, shape_inference

from codesign.errors import InputShapeError, ModelImportError
from codesign.models import describe_sources, resolve_model_source
from hwmodels.workload import LayerShape
from pruning.onnx.conventions import WEIGHT_PATH_OPS, spatial_pads

COMPUTE_OPS = {"Conv": "conv", "ConvTranspose": "conv_transpose", "Gemm": "gemm", "MatMul": "matmul"}


@dataclass(frozen=True)
class Layer:
    """One compute layer as the importer found it."""
    name: str                        # weight tensor name (root constant)
    op: str                          # conv | conv_transpose | gemm | matmul
    node: str                        # ONNX node name
    weight_shape: tuple[int, ...]    # as stored in the root constant
    weight_source: str               # initializer | constant | constant_of_shape
    bias: str | None
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    shape: LayerShape
    attributes: dict = field(default_factory=dict, compare=False)

    @property
    def params(self) -> int:
        return self.shape.weight_count

    @property
    def macs(self) -> int:
        return self.shape.macs

    @property
    def groups(self) -> int:
        return self.shape.groups


@dataclass
class Network:
    name: str
    input_shape: tuple[int, ...]
    layers: list[Layer]
    graph: nx.DiGraph
    model: onnx.ModelProto
    _constants: dict = field(default_factory=dict, repr=False)

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
        """The weight values of a layer, or None when the model holds no values for it.

        ConstantOfShape weights are placeholders (one fill value); they are returned as such."""
        const = self._constants.get(name)
        return None if const is None else const.values()

    def coverage_dict(self) -> dict:
        return {"macs_modeled": self.total_macs, "share": 1.0, "unmodeled": []}

    def weight_bits(self) -> dict[str, int]:
        """Bits per stored weight of each layer as the model holds it (float32: 32)."""
        return {l.name: 32 for l in self.layers}

    def input_shapes_text(self) -> list[str]:
        return ["x".join(str(d) for d in self.input_shape)]

    @property
    def total_params(self) -> int:
        return sum(l.params for l in self.layers)

    @property
    def total_macs(self) -> int:
        return sum(l.macs for l in self.layers)


@dataclass
class _Constant:
    source: str
    shape: tuple[int, ...]
    _array: np.ndarray | None = None
    _fill: np.ndarray | None = None

    def values(self) -> np.ndarray:
        if self._array is not None:
            return self._array
        return np.full(self.shape, self._fill.reshape(-1)[0] if self._fill is not None else 0.0,
                       dtype=self._fill.dtype if self._fill is not None else np.float32)


# ------------------------------------------------------------------------------------ loading

def parse_input_shape(text: str) -> tuple[int, ...]:
    """'1x3x224x224' -> (1, 3, 224, 224). A shape without batch ('3x224x224') is kept as is;
    `load_network` prepends batch 1 when the model's input has one more dimension."""
    parts = text.lower().replace(",", "x").split("x")
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        dims = ()
    if not dims or any(d <= 0 for d in dims):
        raise InputShapeError(f"--input-shape {text!r}: expected positive integers separated by 'x', "
                              "e.g. 1x3x224x224 (batch first) or 3x224x224 (batch 1)")
    return dims


def load_model(source: str | Path | onnx.ModelProto) -> tuple[onnx.ModelProto, str]:
    """Read a ModelProto from a path or a bundled name; errors name the file and the fix."""
    if isinstance(source, onnx.ModelProto):
        return source, source.graph.name or "model"
    path, name = resolve_model_source(source)
    if isinstance(path, onnx.ModelProto):
        return path, name
    if not path.exists():
        raise ModelImportError(f"model '{source}' not found: give a path to an .onnx file or one of "
                               f"the bundled models ({describe_sources()})")
    if path.is_dir():
        raise ModelImportError(f"model '{source}' is a directory: give the path of an .onnx file in it")
    try:
        model = onnx.load(str(path))
    except Exception as exc:  # protobuf DecodeError, truncated files, missing external data
        raise ModelImportError(f"'{path}' is not a readable ONNX model ({type(exc).__name__}: "
                               f"{str(exc).strip() or 'cannot parse the protobuf'}); re-export it, "
                               "or check that the file was copied completely") from exc
    if not model.graph.node:
        raise ModelImportError(f"'{path}' holds no ONNX graph nodes: it is not an ONNX model "
                               "or it is empty; re-export it")
    return model, name


def load_network(source: str | Path | onnx.ModelProto,
                 input_shape: tuple[int, ...] | str | None = None) -> Network:
    model, name = load_model(source)
    if isinstance(input_shape, (list, tuple)) and input_shape and isinstance(input_shape[0], str):
        input_shape = input_shape[-1].split("=")[-1]
    if isinstance(input_shape, str):
        input_shape = parse_input_shape(input_shape)
    model, resolved_input = _fix_input_shape(model, input_shape, name)
    model = _infer_shapes(model, name)
    constants = _collect_constants(model)
    shapes = _tensor_shapes(model)
    producers = {out: node for node in model.graph.node for out in node.output}
    nodes = _named_nodes(model)
    _check_reshapes(nodes, shapes, name)
    layers = []
    for node_name, node in nodes:
        if node.op_type in COMPUTE_OPS:
            layer = _make_layer(node_name, node, constants, shapes, producers)
            if layer is not None:
                layers.append(layer)
    if not layers:
        raise ModelImportError(f"model '{name}' has no Conv, ConvTranspose, Gemm or MatMul with a "
                               "constant weight: there is nothing to simulate or prune")
    seen: dict[str, str] = {}
    for layer in layers:
        if layer.name in seen:
            raise ModelImportError(f"weight '{layer.name}' is shared by nodes '{seen[layer.name]}' and "
                                   f"'{layer.node}'; shared weights are not supported (untie them)")
        seen[layer.name] = layer.node
    return Network(name=name, input_shape=resolved_input, layers=layers,
                   graph=_build_graph(nodes), model=model, _constants=constants)


def _check_reshapes(nodes, shapes: dict, name: str) -> None:
    """Shape inference accepts a fixed-shape Reshape that no longer fits a new input size; catch it
    here, before it silently corrupts every layer downstream."""
    for node_name, node in nodes:
        if node.op_type in ("Reshape", "Flatten") and node.input[0] in shapes and node.output[0] in shapes:
            before, after = prod(shapes[node.input[0]]), prod(shapes[node.output[0]])
            if before != after:
                raise InputShapeError(
                    f"model '{name}': node '{node_name}' ({node.op_type}) reshapes {before} elements "
                    f"into {'x'.join(map(str, shapes[node.output[0]]))} ({after}); the model has a fixed "
                    "reshape, so its input size cannot change this way: use its native input shape")


def _real_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    inits = {i.name for i in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in inits]


def _dims(value_info: onnx.ValueInfoProto) -> list[int | str | None]:
    t = value_info.type.tensor_type
    if not t.HasField("shape"):
        return []
    return [d.dim_value if d.HasField("dim_value") and d.dim_value > 0
            else (d.dim_param or None) for d in t.shape.dim]


def _fix_input_shape(model: onnx.ModelProto, input_shape: tuple[int, ...] | None,
                     name: str) -> tuple[onnx.ModelProto, tuple[int, ...]]:
    inputs = _real_inputs(model)
    if not inputs:
        raise ModelImportError(f"model '{name}' has no graph input")
    first = inputs[0]
    declared = _dims(first)
    if input_shape is None:
        for vi in inputs:
            dims = _dims(vi)
            if len(dims) > 1 and not isinstance(dims[0], int) and all(isinstance(d, int) for d in dims[1:]):
                if vi is first:                      # only the batch is dynamic: batch 1
                    return _fix_input_shape(model, (1,) + tuple(dims[1:]), name)
            if not dims or any(not isinstance(d, int) for d in dims):
                shown = "x".join(str(d) if d is not None else "?" for d in dims) or "unknown rank"
                example = "x".join(str(d) if isinstance(d, int) else "1" if i == 0 else "224"
                                   for i, d in enumerate(dims)) or "1x3x224x224"
                raise InputShapeError(f"input '{vi.name}' of model '{name}' has dynamic dimensions "
                                      f"({shown}); give them with --input-shape, e.g. {example}")
        return model, tuple(int(d) for d in declared)
    if len(inputs) > 1:
        others = [vi.name for vi in inputs[1:] if any(not isinstance(d, int) for d in _dims(vi))]
        if others:
            raise InputShapeError(f"model '{name}' has several inputs with dynamic dimensions "
                                  f"({', '.join([first.name] + others)}); --input-shape sets only "
                                  f"'{first.name}'")
    shape = tuple(input_shape)
    if declared and len(shape) == len(declared) - 1:
        shape = (1,) + shape
    if declared and len(shape) != len(declared):
        raise InputShapeError(f"--input-shape {'x'.join(map(str, input_shape))} has rank {len(shape)}, "
                              f"but input '{first.name}' of model '{name}' has rank {len(declared)} "
                              f"({'x'.join(str(d) for d in declared)})")
    model = onnx.ModelProto.FromString(model.SerializeToString())   # never mutate the caller's proto
    vi = next(i for i in model.graph.input if i.name == first.name)
    tshape = vi.type.tensor_type.shape
    del tshape.dim[:]
    for d in shape:
        tshape.dim.add().dim_value = d
    # shapes recorded for the old input are stale: let inference recompute them
    del model.graph.value_info[:]
    for out in model.graph.output:
        out.type.tensor_type.ClearField("shape")
    return model, shape


def _infer_shapes(model: onnx.ModelProto, name: str) -> onnx.ModelProto:
    try:
        return shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    except Exception as exc:
        msg = str(exc).strip().splitlines()
        detail = next((line for line in msg if "node" in line.lower()), msg[0] if msg else "")
        raise ModelImportError(f"shape inference failed for model '{name}': {detail[:300]}; check the "
                               "input shape (--input-shape) or the node named there") from exc


def _named_nodes(model: onnx.ModelProto) -> list[tuple[str, onnx.NodeProto]]:
    out, used = [], set()
    for i, node in enumerate(model.graph.node):
        name = node.name or f"{node.op_type}_{i}"
        if name in used:
            name = f"{name}_{i}"
        used.add(name)
        out.append((name, node))
    return out


def _build_graph(nodes: list[tuple[str, onnx.NodeProto]]) -> nx.DiGraph:
    graph = nx.DiGraph()
    producer = {}
    for name, node in nodes:
        graph.add_node(name, op_type=node.op_type, inputs=list(node.input), outputs=list(node.output))
        for out in node.output:
            producer[out] = name
    for name, node in nodes:
        for tensor in node.input:
            if tensor in producer:
                graph.add_edge(producer[tensor], name, tensor=tensor)
    return graph


def _tensor_shapes(model: onnx.ModelProto) -> dict[str, tuple[int, ...]]:
    shapes = {}
    for vi in list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output):
        dims = _dims(vi)
        if dims and all(isinstance(d, int) for d in dims):
            shapes[vi.name] = tuple(dims)
        elif vi.type.tensor_type.HasField("shape") and not dims:
            shapes[vi.name] = ()          # a scalar
    for init in model.graph.initializer:
        shapes[init.name] = tuple(init.dims)
    return shapes


def _collect_constants(model: onnx.ModelProto) -> dict[str, _Constant]:
    consts: dict[str, _Constant] = {}
    for init in model.graph.initializer:
        consts[init.name] = _LazyInitializer(init)
    for node in model.graph.node:
        if node.op_type == "Constant" and node.output:
            arr = _constant_node_value(node)
            if arr is not None:
                consts[node.output[0]] = _Constant("constant", tuple(arr.shape), _array=arr)
        elif node.op_type == "ConstantOfShape" and node.input and node.input[0] in consts:
            shape = tuple(int(d) for d in consts[node.input[0]].values().reshape(-1))
            fill = next((numpy_helper.to_array(a.t) for a in node.attribute if a.name == "value"),
                        np.zeros(1, np.float32))
            consts[node.output[0]] = _Constant("constant_of_shape", shape, _fill=fill)
    return consts


class _LazyInitializer(_Constant):
    """An initializer, converted to numpy only when its values are asked for."""

    def __init__(self, tensor: onnx.TensorProto):
        super().__init__("initializer", tuple(tensor.dims))
        self._tensor = tensor

    def values(self) -> np.ndarray:
        if self._array is None:
            self._array = numpy_helper.to_array(self._tensor)
        return self._array


def _constant_node_value(node: onnx.NodeProto) -> np.ndarray | None:
    for attr in node.attribute:
        if attr.name == "value":
            return numpy_helper.to_array(attr.t)
        if attr.name in ("value_float", "value_int"):
            return np.array(onnx.helper.get_attribute_value(attr))
        if attr.name in ("value_floats", "value_ints"):
            return np.array(list(onnx.helper.get_attribute_value(attr)))
    return None   # sparse_value / strings: not a weight


# ------------------------------------------------------------------------------ compute layers

def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _root_constant(tensor: str, consumer: str, consts: dict, producers: dict) -> str | None:
    """Follow `tensor` back through value-preserving ops to a constant.

    Returns the constant's name, or None when the tensor is computed at run time (an activation). Raises when an op the importer cannot see through sits on a constant's path."""
    while tensor not in consts:
        node = producers.get(tensor)
        if node is None:
            return None                               # a graph input: not a constant weight
        if node.op_type not in WEIGHT_PATH_OPS:
            if _only_constants_upstream(node, consts, producers):
                raise ModelImportError(
                    f"node '{consumer}': its weight passes through '{node.name or node.op_type}' "
                    f"(op {node.op_type}), which the importer cannot resolve; fold constants first "
                    "(e.g. onnxruntime's offline optimizer or onnx-simplifier) and import the result")
            return None
        tensor = node.input[0]
    return tensor


def _only_constants_upstream(node: onnx.NodeProto, consts: dict, producers: dict, depth: int = 0) -> bool:
    if depth > 16:
        return False
    for tensor in node.input:
        if not tensor or tensor in consts:
            continue
        upstream = producers.get(tensor)
        if upstream is None or upstream.op_type in COMPUTE_OPS:
            return False
        if not _only_constants_upstream(upstream, consts, producers, depth + 1):
            return False
    return True


def _ints(values, n: int, default: int) -> tuple[int, ...]:
    return tuple(int(v) for v in values) if values else (default,) * n


def _conv_pads(attrs: dict, in_spatial, kernel, stride, dilation) -> tuple[int, ...]:
    return tuple(spatial_pads(attrs, in_spatial, kernel, stride, dilation))


def _conv_out_spatial(in_spatial, kernel, stride, dilation, pads) -> tuple[int, ...]:
    n = len(kernel)
    return tuple((in_spatial[i] + pads[i] + pads[i + n] - dilation[i] * (kernel[i] - 1) - 1)
                 // stride[i] + 1 for i in range(n))


def _make_layer(node_name: str, node: onnx.NodeProto, consts: dict, shapes: dict,
                producers: dict) -> Layer | None:
    op = COMPUTE_OPS[node.op_type]
    attrs = _attrs(node)
    if op in ("conv", "conv_transpose"):
        return _conv_layer(node_name, node, op, attrs, consts, shapes, producers)
    return _matrix_layer(node_name, node, op, attrs, consts, shapes, producers)


def _require_shape(shapes: dict, tensor: str, node_name: str, what: str) -> tuple[int, ...]:
    if tensor not in shapes:
        raise ModelImportError(f"node '{node_name}': the shape of its {what} '{tensor}' could not be "
                               "inferred; give a static input shape with --input-shape (if you gave "
                               "one, it may be too small for this network)")
    return shapes[tensor]


def _conv_layer(node_name, node, op, attrs, consts, shapes, producers) -> Layer:
    root = _root_constant(node.input[1], node_name, consts, producers)
    if root is None:
        raise ModelImportError(f"node '{node_name}' ({node.op_type}) takes its weight '{node.input[1]}' "
                               "from a run-time tensor; only constant weights can be simulated or pruned")
    x = _require_shape(shapes, node.input[0], node_name, "input")
    w = shapes.get(node.input[1]) or consts[root].shape
    y = shapes.get(node.output[0])
    if len(x) < 3 or len(w) != len(x):
        raise ModelImportError(f"node '{node_name}': input rank {len(x)} and weight rank {len(w)} do not "
                               f"form a {node.op_type}")
    n_sp = len(x) - 2
    groups = int(attrs.get("group", 1))
    kernel = tuple(int(k) for k in (attrs.get("kernel_shape") or w[2:]))
    stride = _ints(attrs.get("strides"), n_sp, 1)
    dilation = _ints(attrs.get("dilations"), n_sp, 1)
    in_spatial = tuple(x[2:])
    if op == "conv":
        pads = _conv_pads(attrs, in_spatial, kernel, stride, dilation)
        out_channels, in_channels = w[0], w[1] * groups
        if y is None:
            y = (x[0], out_channels) + _conv_out_spatial(in_spatial, kernel, stride, dilation, pads)
    else:
        pads = _ints(attrs.get("pads"), 2 * n_sp, 0)
        in_channels, out_channels = w[0], w[1] * groups
        if y is None:
            raise ModelImportError(f"node '{node_name}': the ConvTranspose output shape could not be "
                                   "inferred; give a static input shape with --input-shape")
    if in_channels != x[1]:
        raise ModelImportError(f"node '{node_name}' ({node.op_type}): weight {w} with group={groups} expects "
                               f"{in_channels} input channels, the input has {x[1]}")
    bias = node.input[2] if len(node.input) > 2 and node.input[2] else None
    shape = LayerShape(name=root, op=op, batch=x[0], in_channels=in_channels,
                       out_channels=out_channels, kernel=kernel, in_spatial=in_spatial,
                       out_spatial=tuple(y[2:]), groups=groups, stride=stride, dilation=dilation,
                       pads=pads, has_bias=bias is not None)
    return Layer(name=root, op=op, node=node_name, weight_shape=consts[root].shape,
                 weight_source=consts[root].source, bias=bias, input_shape=tuple(x),
                 output_shape=tuple(y), shape=shape, attributes=attrs)


def _matrix_layer(node_name, node, op, attrs, consts, shapes, producers) -> Layer | None:
    a_name, b_name = node.input[0], node.input[1]
    a_root = _root_constant(a_name, node_name, consts, producers)
    b_root = _root_constant(b_name, node_name, consts, producers)
    if b_root is None and a_root is None:
        return None                                  # activation x activation: no weight to prune
    a = _require_shape(shapes, a_name, node_name, "first operand")
    b = _require_shape(shapes, b_name, node_name, "second operand")
    y = _require_shape(shapes, node.output[0], node_name, "output")
    if op == "gemm":
        if attrs.get("transA", 0):
            a = a[::-1]
        if attrs.get("transB", 0):
            b = b[::-1]
    weight_on_right = b_root is not None
    root = b_root if weight_on_right else a_root
    w_eff = b if weight_on_right else a
    if len(w_eff) != 2:
        raise ModelImportError(f"node '{node_name}' ({node.op_type}): constant operand '{root}' has "
                               f"shape {w_eff}; only 2-D weight matrices are supported")
    if weight_on_right:                              # Y[..., N] = X[..., K] @ W[K, N]
        in_f, out_f = w_eff
        batch = prod(a[:-1]) if len(a) > 1 else 1
    else:                                            # Y[M, ...] = W[M, K] @ X[K, ...]
        out_f, in_f = w_eff
        batch = b[-1] * prod(b[:-2]) if len(b) > 1 else 1
    bias = None
    if op == "gemm" and len(node.input) > 2 and node.input[2] and attrs.get("beta", 1.0) != 0:
        bias = node.input[2]
    shape = LayerShape(name=root, op=op, batch=int(batch), in_channels=int(in_f),
                       out_channels=int(out_f), has_bias=bias is not None)
    return Layer(name=root, op=op, node=node_name, weight_shape=consts[root].shape,
                 weight_source=consts[root].source, bias=bias, input_shape=tuple(a if weight_on_right else b),
                 output_shape=tuple(y), shape=shape, attributes=attrs)
