"""Readable names for the initializers an exporter left unnamed, shared by the importer (which
names layers by them) and the bridge (which keys weights, masks and plans by them), so a plan of
the original file, a prune of it and the pruned file all say the same names; and weights stored
in Constant nodes (Paddle2ONNX writes them so) made initializers of the same name, which the
bridge can train. No torch.

torch's legacy exporter names a folded tensor (a Conv weight with its BatchNorm folded in, a
transposed Linear weight) `onnx::Conv_44`, while the node that reads it has a path name such as
`/features/features.0/Conv`: such a tensor is renamed `<consumer node>.weight` (`.bias`, or
`.input<i>` for another input), the consumer found through value-preserving ops.
"""
from __future__ import annotations

import re

import onnx

from pruning.onnx.conventions import WEIGHT_PATH_OPS
from pruning.onnx.layouts import WEIGHT_OPS

GENERATED = re.compile(r"^(onnx::[A-Za-z]+_\d+|\d+)$")     # the legacy exporter's made-up names
BIAS_INPUTS = {"Conv": 2, "ConvTranspose": 2, "Gemm": 2, "LSTM": 3, "GRU": 3, "RNN": 3}


def _role(node: onnx.NodeProto, index: int) -> str:
    if index in WEIGHT_OPS.get(node.op_type, ()):
        return "weight"
    if BIAS_INPUTS.get(node.op_type) == index:
        return "bias"
    return f"input{index}"


def readable_names(model: onnx.ModelProto) -> onnx.ModelProto:
    """`model` with each generated initializer name replaced by its consumer's (see the module
    doc); the model itself when nothing is renamed. Names stay unique."""
    graph = model.graph
    generated = {t.name for t in graph.initializer if GENERATED.match(t.name)} - _used_in_subgraphs(graph)
    if not generated:
        return model
    consumers: dict[str, list[tuple[onnx.NodeProto, int]]] = {}
    for node in graph.node:
        for i, name in enumerate(node.input):
            consumers.setdefault(name, []).append((node, i))
    taken = ({t.name for t in graph.initializer} | {i.name for i in graph.input}
             | {o for n in graph.node for o in n.output})
    renames = {}
    for name in sorted(generated):
        tensor, hops = name, 0
        while hops < 8:
            users = consumers.get(tensor, [])
            if len(users) != 1:
                break
            node, index = users[0]
            if node.op_type in WEIGHT_PATH_OPS and index == 0 and node.output:
                tensor, hops = node.output[0], hops + 1
                continue
            if node.name:
                new = f"{node.name}.{_role(node, index)}"
                if new not in taken:
                    renames[name] = new
                    taken.add(new)
            break
    if not renames:
        return model
    out = onnx.ModelProto()
    out.CopyFrom(model)
    g = out.graph
    for t in g.initializer:
        t.name = renames.get(t.name, t.name)
    for value in list(g.input) + list(g.value_info):
        value.name = renames.get(value.name, value.name)
    for node in g.node:
        for i, name in enumerate(node.input):
            if name in renames:
                node.input[i] = renames[name]
    return out


def _used_in_subgraphs(graph: onnx.GraphProto) -> set[str]:
    """Names read inside If/Loop/Scan bodies (they see the outer graph's tensors by name): kept."""
    out: set[str] = set()
    for node in graph.node:
        for a in node.attribute:
            for sub in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)):
                out |= {i for n in sub.node for i in n.input} | _used_in_subgraphs(sub)
    return out


def constants_as_initializers(model: onnx.ModelProto) -> onnx.ModelProto:
    """`model` with each top-level Constant node that holds a tensor (`value`) replaced by an
    initializer of its output's name (its values unchanged); the model itself when it has none."""
    graph = model.graph
    hoist = [n for n in graph.node if n.op_type == "Constant" and n.domain in ("", "ai.onnx")
             and len(n.attribute) == 1 and n.attribute[0].name == "value"]
    if not hoist:
        return model
    out = onnx.ModelProto()
    out.CopyFrom(model)
    g = out.graph
    keep = [n for n in g.node if not (n.op_type == "Constant" and n.domain in ("", "ai.onnx")
                                      and len(n.attribute) == 1 and n.attribute[0].name == "value")]
    tensors = []
    for n in g.node:
        if n not in keep:
            t = onnx.TensorProto()
            t.CopyFrom(n.attribute[0].t)
            t.name = n.output[0]
            tensors.append(t)
    del g.node[:]
    g.node.extend(keep)
    g.initializer.extend(tensors)
    out.ir_version = max(out.ir_version, 4)          # IR >= 4: initializers need not be graph inputs
    return out
