"""ONNX -> Network: every op that multiplies, as compute layers in the order the graph runs them.

A layer is a Conv, ConvTranspose, Gemm, MatMul, Einsum, an LSTM/GRU/RNN gate matrix or a
quantized conv/matmul. One with a constant operand is named by the stored tensor (an
initializer, a `Constant`, a `ConstantOfShape`, possibly seen through value-preserving ops),
the handle that pruning, plans and reports share; a product of two activations (attention)
is a dynamic matmul named by its node. What multiplies but cannot be modeled is listed in the
coverage, never dropped.

    source.py   read and check the file (sizes, data, nesting, external data)
    inputs.py   [NAME=]DIMS shapes and the model's fixed input shapes
    index.py    shapes, types, constants and producers of every tensor; weight tracing
    fold.py     onnxruntime constant folding, when shape inference leaves something unknown
    ops.py      one builder per kind of compute op
    walk.py     the graph and its If/Loop/Scan bodies
    load.py     load_network: the steps above in order; shared weights
    network.py  Network, Layer, Unmodeled
"""
from codesign.graph.inputs import parse_input_shape
from codesign.graph.load import load_network
from codesign.graph.network import Layer, Network, Unmodeled
from codesign.graph.source import load_model

__all__ = ["Layer", "Network", "Unmodeled", "load_model", "load_network", "parse_input_shape"]
