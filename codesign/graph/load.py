"""load_network: read and check the model, fix its input shapes, infer shapes (and fold
constants with onnxruntime only when something is left unknown), walk it into layers."""
from __future__ import annotations

import dataclasses
from collections import defaultdict
from math import prod

import onnx
import onnx.inliner
from onnx import shape_inference

from codesign.errors import InputShapeError, ModelImportError
from codesign.graph.contrib import contrib_shapes
from pruning.onnx.names import readable_names
from codesign.graph.fold import fold
from codesign.graph.index import GraphIndex
from codesign.graph.inputs import fix_input_shapes
from codesign.graph.limits import MAX_ELEMENTS, MAX_MACS, shown
from codesign.graph.network import Layer, Network
from codesign.graph.ops import SPECS
from codesign.graph.protos import all_graphs, attributes, node_names, op_key
from codesign.graph.sizes import propagation_is_bounded
from codesign.graph.source import load_model
from codesign.graph.walk import collect
from pruning.onnx.conventions import spatial_pads

COMPUTE_TEXT = "Conv, ConvTranspose, Gemm, MatMul, Einsum, LSTM/GRU/RNN, attention or quantized conv/matmul"


def load_network(source, input_shape=None) -> Network:
    """A Network from a path, a bundled or built-in name, or an onnx.ModelProto. `input_shape`:
    None, a tuple, '1x3x224x224', or a list of '[NAME=]DIMS' (a bare DIMS sets the first input)."""
    model, name = load_model(source)
    model = readable_names(_inline_functions(model, name))   # the bridge's names too (pruning.onnx.names)
    model, inputs = fix_input_shapes(model, input_shape, name)
    model = _infer_shapes(model, name, given=bool(input_shape))
    index = GraphIndex(model)
    _check_windows(model, index, name, inputs)
    probes = _probes(model, index)
    if probes:
        folded, index.fold_error = fold(model, probes, index)
        if folded is not None:
            index.add_folded(folded, probes)
    _check_sizes(index, name)
    _check_reshapes(model, index, name)
    found = collect(model.graph, index)
    if index.fold_error and any(index.constant_only(t) and t not in index.constants for t in probes):
        found.notes.append(f"constant folding did not run ({index.fold_error}): tensors computed from "
                           "constants (weights among them) are counted as run-time values")
    layers = _unique_layers(found.layers, found.notes)
    if not layers:
        raise _nothing_to_model(name, found)
    _check_macs(layers, name)
    return Network(name=name, input_shape=inputs[next(iter(inputs))], layers=layers,
                   model=model, inputs=inputs,
                   unmodeled=found.unmodeled, notes=found.notes,
                   _weights={l.name: l.stored.values for l in layers if l.stored is not None},
                   _bits={l.name: l.stored.bits for l in layers if l.stored is not None})


def _inline_functions(model: onnx.ModelProto, name: str) -> onnx.ModelProto:
    """Model-local functions (exporters write some) become plain nodes, so their compute counts."""
    if not model.functions:
        return model
    try:
        return onnx.inliner.inline_local_functions(model)
    except Exception as exc:
        raise ModelImportError(f"model {shown(name)}: its local functions cannot be inlined "
                               f"({type(exc).__name__}: {str(exc)[:200]})") from exc


def _infer_shapes(model: onnx.ModelProto, name: str, given: bool) -> onnx.ModelProto:
    """Shapes inferred, with data propagation (Reshape targets computed from Shape) when it
    computes only small values (codesign.graph.sizes); else constant folding finds those."""
    inferred = _inferred(model, name, given, data_prop=False)
    if _every_shape_known(inferred) or not propagation_is_bounded(inferred, GraphIndex(inferred)):
        return inferred
    return _inferred(model, name, given, data_prop=True)


def _every_shape_known(model: onnx.ModelProto) -> bool:
    """Every node output has a static shape: data propagation has nothing left to find."""
    for graph in all_graphs(model.graph):
        known = {vi.name for vi in [*graph.value_info, *graph.output]
                 if vi.type.tensor_type.HasField("shape")
                 and all(d.HasField("dim_value") for d in vi.type.tensor_type.shape.dim)}
        if any(out and out not in known for node in graph.node for out in node.output):
            return False
    return True


def _inferred(model: onnx.ModelProto, name: str, given: bool, data_prop: bool) -> onnx.ModelProto:
    try:
        with contrib_shapes(model):
            return shape_inference.infer_shapes(model, strict_mode=True, data_prop=data_prop)
    except Exception:
        pass                                     # onnx's own rules alone, should a contrib rule be at odds with the file
    try:
        return shape_inference.infer_shapes(model, strict_mode=True, data_prop=data_prop)
    except Exception as exc:
        msg = str(exc).strip().splitlines()
        detail = next((line for line in msg if "node" in line.lower()), msg[0] if msg else type(exc).__name__)
        hint = "check the node named there" + ("" if given else " or the input shape (--input-shape)")
        raise ModelImportError(f"shape inference failed for model {shown(name)}: {detail[:300]}; {hint}") from exc


def _probes(model: onnx.ModelProto, index: GraphIndex) -> set[str]:
    """Tensors that constant folding must resolve: compute operands of unknown shape, weights
    computed from constants, If conditions, Loop trip counts and Scan inputs not yet known."""
    probes: set[str] = set()
    for graph in all_graphs(model.graph):
        for node in graph.node:
            key = op_key(node)
            if key in SPECS:
                wanted = [t for i, t in enumerate(node.input) if i in SPECS[key].operands or key == "Einsum"]
                probes |= {t for t in wanted if t and index.shape(t) is None}
                probes |= {t for t in wanted if t and index.weight(t) is None and index.constant_only(t)}
                if key == "ConvTranspose" and node.output and index.shape(node.output[0]) is None:
                    probes.add(node.output[0])
            elif key in ("If", "Loop") and node.input:
                control = [t for t in node.input[:2 if key == "Loop" else 1] if t]
                probes |= {t for t in control if t not in index.constants and index.constant_only(t)}
            elif key == "Scan":
                probes |= {t for t in node.input if t and index.shape(t) is None}
    return probes


def _check_sizes(index: GraphIndex, name: str) -> None:
    """A shape that inference derived from a hostile file may be astronomically large."""
    for tensor, shape in index.shapes.items():
        if prod(shape) > MAX_ELEMENTS:
            producer = index.producers.get(tensor)
            where = f" (made by node {shown(producer.name or producer.op_type)})" if producer is not None else ""
            raise ModelImportError(f"model {shown(name)}: tensor {shown(tensor)}{where} has shape "
                                   f"{list(shape)[:8]} ({prod(shape):.3g} elements), beyond the limit of "
                                   f"{MAX_ELEMENTS:.3g}: the file or the input shape is not sane")


WINDOW_OPS = {"Conv", "ConvInteger", "MaxPool", "AveragePool", "LpPool"}


def _check_windows(model: onnx.ModelProto, index: GraphIndex, name: str, inputs: dict) -> None:
    """A kernel wider than its padded input (an input shape too small for the model) leaves every
    shape below it unknown; say so from the shapes, before folding would try to evaluate them."""
    for node_name, node in zip(node_names(model.graph), model.graph.node):
        if node.op_type not in WINDOW_OPS or not node.input:
            continue
        attrs = attributes(node)
        x = index.shape(node.input[0])
        w = index.shape(node.input[1]) if len(node.input) > 1 and node.input[1] else None
        kernel = [int(k) for k in attrs.get("kernel_shape") or (w[2:] if w else ())]
        if x is None or len(x) < 3 or len(kernel) != len(x) - 2 or min(x[2:] + tuple(kernel)) <= 0:
            continue                              # unknown, or refused with the layer's own message
        n = len(kernel)
        stride, dilation = list(attrs.get("strides") or [1] * n), list(attrs.get("dilations") or [1] * n)
        if len(stride) != n or len(dilation) != n or min(stride + dilation) <= 0:
            continue
        pads = spatial_pads(attrs, x[2:], kernel, stride, dilation)
        padded = [x[2 + i] + pads[i] + pads[i + n] for i in range(n)]
        window = [dilation[i] * (kernel[i] - 1) + 1 for i in range(n)]
        overhang = stride if attrs.get("ceil_mode", 0) else [1] * n      # a ceil-mode window may hang over
        if any(k - p >= o for p, k, o in zip(padded, window, overhang)):
            raise InputShapeError(
                f"model {shown(name)}: node {shown(node_name)} ({node.op_type}) slides a {_dims(window)} window "
                f"over its {_dims(x[2:])} input (padded {_dims(padded)}), which is smaller: the input "
                f"shape {', '.join(_dims(s) for s in inputs.values())} is too small for this model")


def _dims(shape) -> str:
    return "x".join(map(str, shape))


def _check_reshapes(model: onnx.ModelProto, index: GraphIndex, name: str) -> None:
    """Shape inference accepts a fixed-shape Reshape that no longer fits a new input size; catch it
    here, before it silently corrupts every layer downstream."""
    for node_name, node in zip(node_names(model.graph), model.graph.node):
        if node.op_type in ("Reshape", "Flatten") and node.input and node.output:
            before, after = index.shape(node.input[0]), index.shape(node.output[0])
            if before is not None and after is not None and prod(before) != prod(after):
                raise InputShapeError(
                    f"model {shown(name)}: node {shown(node_name)} ({node.op_type}) reshapes {prod(before)} "
                    f"elements into {'x'.join(map(str, after))} ({prod(after)}); the model has a fixed "
                    "reshape, so its input size cannot change this way: use its native input shape")


def _unique_layers(layers: list[Layer], notes: list[str]) -> list[Layer]:
    """One layer per stored weight. A weight several nodes use (exporters merge identical
    initial weights) is one layer whose rows add up over its uses: costed per use, stored
    once. Uses of different shapes stay separate layers (noted: their storage is counted per use)."""
    by_name: dict[str, list[Layer]] = defaultdict(list)
    for layer in layers:
        by_name[layer.name].append(layer)
    out, taken = [], set()
    for name, group in by_name.items():
        if len(group) == 1:
            merged = group
        elif len({_signature(l) for l in group}) == 1 and group[0].shape.prunable:
            first = group[0]
            shape = dataclasses.replace(first.shape, batch=sum(l.shape.batch for l in group))
            merged = [dataclasses.replace(first, shape=shape,
                                          attributes={**first.attributes, "shared_by": [l.node for l in group]})]
        else:
            merged = group
            if group[0].shape.prunable:
                notes.append(f"weight {shown(name)} serves {len(group)} nodes of different shapes: each use "
                             "is a layer of its own, and its storage is counted per use")
        out += [_renamed(layer, taken) for layer in merged]
    return out


def _signature(layer: Layer) -> tuple:
    s = layer.shape
    return (s.op, s.in_channels, s.out_channels, s.kernel, s.in_spatial, s.out_spatial, s.groups,
            s.stride, s.dilation, s.pads, s.has_bias)


def _renamed(layer: Layer, taken: set[str]) -> Layer:
    name, k = layer.name, 1
    while name in taken:
        k += 1
        name = f"{layer.name}#{k}"
    taken.add(name)
    if name == layer.name:
        return layer
    return dataclasses.replace(layer, name=name, shape=dataclasses.replace(layer.shape, name=name))


def _check_macs(layers: list[Layer], name: str) -> None:
    total = sum(l.macs for l in layers)
    if total > MAX_MACS:
        worst = max(layers, key=lambda l: l.macs)
        raise ModelImportError(f"model {shown(name)} claims {total:.3g} MACs (layer {shown(worst.name)}: "
                               f"{worst.macs:.3g}), beyond the limit of {MAX_MACS:.0e}: the file or the "
                               "input shape is not sane")


def _nothing_to_model(name: str, found) -> ModelImportError:
    if found.unmodeled:
        gap = next((u for u in found.unmodeled if u.multiplies), found.unmodeled[0])
        return ModelImportError(f"model {shown(name)}: no compute layer can be modeled; node "
                                f"{shown(gap.node)} ({gap.op}): {gap.reason}")
    return ModelImportError(f"model {shown(name)} has no {COMPUTE_TEXT}: there is nothing to simulate "
                            "or prune")
