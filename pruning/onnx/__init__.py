"""ONNX <-> trainable torch module: the op registry (pruning.onnx.ops) and the bridge
(pruning.onnx.bridge), keyed by ONNX initializer names."""
