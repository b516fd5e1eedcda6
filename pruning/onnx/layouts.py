"""Which ONNX tensors are prunable weights and which of their axes holds the output channels:
read by the bridge (which trains and masks them) and by codesign.pruned (which reads a pruned
file's masks back), so both see a weight as the same rows x reduction matrix. No torch.
"""
from __future__ import annotations

from typing import Iterable

import onnx

from pruning.onnx.conventions import WEIGHT_PATH_OPS
from pruning.patterns import output_axis

# the inputs of each op that are weights: recurrent ops' W and R
WEIGHT_OPS = {"Conv": (1,), "ConvTranspose": (1,), "Gemm": (0, 1), "MatMul": (0, 1),
              "LSTM": (1, 2), "GRU": (1, 2), "RNN": (1, 2)}


def root_initializer(tensor: str, producers: dict) -> tuple[str, int]:
    """Follow a weight input back through value-preserving ops to the tensor that holds it, so
    layers are named by the initializer that is stored (as codesign.graph names them); also
    count the Transposes on the way (each swaps which axis holds the output channels)."""
    flips = 0
    for _ in range(16):
        node = producers.get(tensor)
        if node is None or node.op_type not in WEIGHT_PATH_OPS:
            return tensor, flips
        flips += node.op_type == "Transpose"
        tensor = node.input[0]
    return tensor, flips


def _transposes(node: onnx.NodeProto) -> dict:
    return {a.name: a.i for a in node.attribute if a.name in ("transA", "transB")}


def weight_layouts(nodes: Iterable[onnx.NodeProto], ranks: dict[str, int]) -> dict[str, int]:
    """{stored weight name: its output-channel axis} for the weight operands of `nodes` (one
    graph's nodes, in any order); `ranks`: the number of dimensions of each stored tensor (a
    Transpose swaps the axes of a 2-D weight only)."""
    nodes = list(nodes)
    producers = {o: n for n in nodes for o in n.output}
    out: dict[str, int] = {}
    for node in nodes:
        for i in WEIGHT_OPS.get(node.op_type, ()):
            if len(node.input) <= i or not node.input[i]:
                continue
            root, flips = root_initializer(node.input[i], producers)
            if ranks.get(root, 0) >= 2:
                out.setdefault(root, output_axis(node.op_type, i, _transposes(node), flips, ranks[root]))
    return out


def embedding_table(node: onnx.NodeProto, producers: dict, ranks: dict[str, int]) -> str | None:
    """The stored table a Gather looks rows up in (an embedding: a table of two or more
    dimensions, reached through value-preserving ops), or None: the bridge trains it, and
    `prune` lists it among the layers it left dense."""
    if node.op_type != "Gather" or not node.input:
        return None
    table = root_initializer(node.input[0], producers)[0]
    return table if ranks.get(table, 0) >= 2 else None
