"""ONNX -> Network: every op that multiplies, as compute layers in the order the graph runs them.

A layer is a Conv, ConvTranspose, Gemm, MatMul, Einsum, an LSTM/GRU/RNN gate matrix, a
quantized conv/matmul (onnxruntime's 4-bit MatMulNBits included) or an attention product. One with a constant operand is named by the stored tensor (an
initializer, a `Constant`, a `ConstantOfShape`, possibly seen through value-preserving ops),
the handle that pruning, plans and reports share; a product of two activations (attention)
is a dynamic matmul named by its node. What multiplies but cannot be modeled is listed in the
coverage, never dropped.

    source.py   read and check the file (sizes, data, nesting, external data)
    inputs.py   [NAME=]DIMS shapes and the model's fixed input shapes
    contrib.py  output shapes of onnxruntime's own ops, which onnx shape inference does not know
    index.py    shapes, types, constants and producers of every tensor; weight tracing
    fold.py     constant folding (onnxruntime, else onnxscript), when shape inference leaves
                something unknown
    ops.py      one builder per kind of compute op; which ops multiply
    blockwise.py  MatMulNBits' block-quantized weights
    walk.py     the graph and its If/Loop/Scan bodies
    load.py     load_network: the steps above in order; shared weights
    network.py  Network, Layer, Unmodeled
"""
from codesign.graph.inputs import parse_input_shape
from codesign.graph.load import load_network
from codesign.graph.network import Layer, Network, Unmodeled
from codesign.graph.source import load_model

__all__ = ["Layer", "Network", "Unmodeled", "load_model", "load_network", "parse_input_shape"]
