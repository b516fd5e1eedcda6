"""Small readers of ONNX protos that several importer steps share."""
from __future__ import annotations

from typing import Iterator

import onnx


def subgraphs(node: onnx.NodeProto) -> list[tuple[str, onnx.GraphProto]]:
    """(attribute name, body) of every graph a node carries (If branches, Loop/Scan bodies)."""
    out = []
    for attr in node.attribute:
        if attr.type == onnx.AttributeProto.GRAPH:
            out.append((attr.name, attr.g))
        elif attr.type == onnx.AttributeProto.GRAPHS:
            out += [(f"{attr.name}[{i}]", g) for i, g in enumerate(attr.graphs)]
    return out


def all_graphs(graph: onnx.GraphProto) -> Iterator[onnx.GraphProto]:
    """The graph and every body nested in it (depth-first; the nesting depth was checked on load)."""
    stack = [graph]
    while stack:
        g = stack.pop()
        yield g
        for node in g.node:
            stack += [sub for _, sub in subgraphs(node)]


def attributes(node: onnx.NodeProto) -> dict:
    """Plain attribute values (bodies left out: they are walked, not stored)."""
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute
            if a.type not in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)}


def op_key(node: onnx.NodeProto) -> str:
    """'Conv' for the default domain, 'com.microsoft.FusedConv' for others."""
    return node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}"


def node_names(graph: onnx.GraphProto, prefix: str = "") -> list[str]:
    """Display names of a graph's nodes, unique within it; a body's nodes carry the path of
    the node that holds them ('If_3/then_branch/MatMul_0')."""
    names, used = [], set()
    for i, node in enumerate(graph.node):
        name = prefix + (node.name or f"{node.op_type}_{i}")
        if name in used:
            name = f"{name}_{i}"
        used.add(name)
        names.append(name)
    return names
