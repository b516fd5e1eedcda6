"""Constant folding once input shapes are fixed, by onnxruntime's basic graph optimizer, or by
onnxscript's constant folding where onnxruntime refuses the graph (an op it does not know).

Exporters compute Reshape targets, Pad amounts, gate-reordered LSTM weights or If conditions
at run time from `Shape` of an activation; with static inputs these are constants, but onnx
shape inference does not evaluate them all. The folded copy is only read: shapes of tensors
the original graph leaves unknown and values of the `probes` (made graph outputs so that the
optimizer keeps their names). The layers come from the original graph: the optimizer also
fuses and de-duplicates nodes and weights, which would rename and drop real work.

Folding computes in memory, so it is given only what its answers need (`_probed_copy`): a
large constant that no probed value is computed from (a stored weight, a placeholder weight of
the onnx wheel's graphs, a hostile Expand) is replaced by a stand-in of its shape and type that
onnxruntime does not evaluate, and what is left to compute is sized from shapes first.
"""
from __future__ import annotations

import itertools
import os
import re
import tempfile
from math import prod

import onnx
from onnx import helper, shape_inference

from codesign.graph.contrib import contrib_shapes
from codesign.graph.index import GraphIndex
from codesign.graph.limits import FOLD_ELEMENTS, FOLD_PER_STORED, VALUE_ELEMENTS
from codesign.graph.protos import all_graphs, subgraphs
from codesign.graph.sizes import constant_sizes

_RUNTIME = "#codesign-runtime"          # suffix of the run-time copies that stop folding


def fold(model: onnx.ModelProto, probes: set[str], index: GraphIndex
         ) -> tuple[onnx.ModelProto | None, str | None]:
    """(the folded copy with inferred shapes, None) or (None, why folding failed). onnxruntime
    folds first; where it refuses the graph (an op it does not know, a graph its loader
    rejects), onnxscript's constant folding is the second route."""
    probed, computed = _probed_copy(model, probes, index)
    stored = sum(prod(c.shape) for c in index.constants.values() if c.source in ("initializer", "constant"))
    if computed > FOLD_ELEMENTS + FOLD_PER_STORED * stored:
        return None, (f"it would compute {computed:,} elements, beyond the limit of "
                      f"{FOLD_ELEMENTS + FOLD_PER_STORED * stored:,} (codesign.graph.limits.FOLD_ELEMENTS)")
    outputs = {o.name for o in probed.graph.output}
    top = {o for node in probed.graph.node for o in node.output}     # a body's tensor is no graph output
    for name in sorted((probes & top) - outputs):
        probed.graph.output.add().name = name        # no type: the folder infers it
    causes = []
    for route, folder in (("onnxruntime", _ort_folded), ("onnxscript", _onnxscript_folded)):
        try:
            folded = folder(probed)
        except Exception as exc:                 # unknown custom ops, > 2 GB, invalid graphs
            causes.append(f"{route}: {cause_text(exc)}")
            continue
        try:
            with contrib_shapes(folded):
                return shape_inference.infer_shapes(folded), None     # no data propagation: see sizes.py
        except Exception:                        # the folded graph's own shapes still help
            return folded, None
    return None, "; ".join(causes)


def _ort_folded(probed: onnx.ModelProto) -> onnx.ModelProto:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.log_severity_level = 4
    with tempfile.TemporaryDirectory(prefix="codesign-fold-") as tmp:
        options.optimized_model_filepath = os.path.join(tmp, "folded.onnx")
        ort.InferenceSession(probed.SerializeToString(), options, providers=["CPUExecutionProvider"])
        return onnx.load(options.optimized_model_filepath)


def _onnxscript_folded(probed: onnx.ModelProto) -> onnx.ModelProto:
    """onnxscript's folding, in Python: ops it does not know stay as they are; each tensor it
    computes is bounded like the whole (stand-ins it never evaluates replace the rest)."""
    from onnxscript import ir
    from onnxscript.optimizer import fold_constants

    model = ir.serde.deserialize_model(probed)
    fold_constants(model, input_size_limit=FOLD_ELEMENTS, output_size_limit=FOLD_ELEMENTS)
    return ir.serde.serialize_model(model)


_ORT_NOISE = re.compile(r"\[ONNXRuntimeError\] : \d+ : \w+ : |/onnxruntime_src/\S+:\d+ .*?\) (?=\S)")


def cause_text(exc: BaseException) -> str:
    """An exception as one whole line: its type and message, without onnxruntime's source paths
    and C++ signatures (they fill a line and say nothing to the user)."""
    return " ".join(_ORT_NOISE.sub("", f"{type(exc).__name__}: {exc}").split())


def _probed_copy(model: onnx.ModelProto, probes: set[str], index: GraphIndex) -> tuple[onnx.ModelProto, int]:
    """A copy in which onnxruntime evaluates only small constants and those the probed values
    are computed from, and how many elements it will compute at most. A constant of more than
    VALUE_ELEMENTS elements that no probe needs becomes a stand-in of its shape and type; a
    computed constant whose size cannot be bounded from shapes is made a run-time value."""
    needed = _needed(index, {p for p in probes if index.constant_only(p)})
    probed = onnx.ModelProto()
    probed.CopyFrom(model)
    computed, sizes, runtime = 0, constant_sizes(model, index), itertools.count()
    for graph in all_graphs(probed.graph):            # a body after the graph around it
        front, nodes, changed = [], [], False
        big = [t for t in graph.initializer if t.name not in needed and prod(t.dims) > VALUE_ELEMENTS]
        for tensor in big:
            front += _stand_in(tensor.name, tensor.data_type, tuple(tensor.dims))
        for node in graph.node:
            outs = [o for o in node.output if o]
            if not outs or subgraphs(node) or not all(index.constant_only(o) for o in outs):
                nodes.append(node)                # run-time work, or a body onnxruntime never folds
                continue
            size = None if None in (sizes.get(o) for o in outs) else sum(sizes[o] for o in outs)
            if size is None:
                nodes += _at_run_time(node, index, next(runtime))
                changed = True
            elif size > VALUE_ELEMENTS and not needed.intersection(outs) and None not in map(index.shape, outs):
                front += [n for o in outs for n in _stand_in(o, index.types.get(o), index.shape(o))]
                changed = True
            else:
                computed += 0 if _stored(node) else size
                nodes.append(node)
        if big or changed:
            _replace(graph, front + nodes, [t for t in graph.initializer if t not in big])
    return probed, computed


def _stored(node: onnx.NodeProto) -> bool:
    """A Constant whose data the file holds (a sparse one is expanded to its dense shape)."""
    return node.op_type == "Constant" and not any(a.name == "sparse_value" for a in node.attribute)


def _needed(index: GraphIndex, values: set[str]) -> set[str]:
    """The tensors the given values are computed from (their values, not only their shapes)."""
    out, stack = set(), list(values)
    while stack:
        t = stack.pop()
        if t not in out:
            out.add(t)
            stack += index.value_inputs(t)
    return out


def _stand_in(name: str, elem_type: int | None, shape: tuple[int, ...]) -> list[onnx.NodeProto]:
    """Nodes that make `name` of this shape and type at run time only (onnxruntime never folds
    a random op; a Cast gives any other type)."""
    if elem_type in (None, onnx.TensorProto.FLOAT):
        return [helper.make_node("RandomNormal", [], [name], shape=list(shape))]
    return [helper.make_node("RandomNormal", [], [name + _RUNTIME], shape=list(shape)),
            helper.make_node("Cast", [name + _RUNTIME], [name], to=elem_type)]


def _at_run_time(node: onnx.NodeProto, index: GraphIndex, number: int) -> list[onnx.NodeProto]:
    """The node fed a run-time copy of its first input (same shape and type), so that onnxruntime
    cannot fold it; its output's shape is still inferred. `number` makes the copy's name unique.
    A node without inputs (a Constant of unknown size) is left out: the graph is then refused."""
    if not node.input or not node.input[0]:
        return []
    first = node.input[0]
    copy = f"{first}{_RUNTIME}{number}"
    changed = onnx.NodeProto()
    changed.CopyFrom(node)
    changed.input[0] = copy
    return [helper.make_node("RandomNormalLike", [first], [copy + "f"], dtype=onnx.TensorProto.FLOAT),
            helper.make_node("Cast", [copy + "f"], [copy], to=index.types.get(first, onnx.TensorProto.FLOAT)),
            changed]


def _replace(graph: onnx.GraphProto, nodes: list[onnx.NodeProto], initializers: list[onnx.TensorProto]) -> None:
    """The graph's nodes and initializers replaced (messages taken out of a repeated field stay
    valid, and extend copies them back)."""
    made = {o for n in nodes for o in n.output}
    inputs = [vi for vi in graph.input if vi.name not in made]      # IR < 4 lists initializers as inputs
    del graph.node[:], graph.initializer[:], graph.input[:]
    graph.node.extend(nodes)
    graph.initializer.extend(initializers)
    graph.input.extend(inputs)
