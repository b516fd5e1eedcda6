"""Built-in networks, written once as data and built as ONNX graphs without torch (so cost-only
commands such as `codesign inspect vgg7` never import it; training runs them through the ONNX
bridge like any user model).

- lenet5: the Caffe variant of paper 001 Table 1: conv 5x5 x20 - maxpool 2 - conv 5x5 x50 -
  maxpool 2 - fc 500 - relu - fc 10; on 28x28 inputs 500 + 25,000 + 400,000 + 5,000 = 430,500
  weights ("430.5K"). Inputs smaller than 28x28 (8x8 digits) get 'same' padding.
- lenet300: the MLP 784-300-100-10 (266,200 weights).
- vgg7: a VGG-style CNN for small images, six 3x3 convs (8-16 | 16-32 | 32-64 channels, ReLU,
  a 2x2 max-pool after each pair) and one classifier; on 28x28x1 its convs carry 99.8% of the
  3.67M MACs: the conv-heavy case where the hardware decides per layer.
Initialization is torch's default for Conv/Linear (weights and biases uniform in
+-1/sqrt(fan_in)), seeded.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pruning.errors import PruningError

MODELS = ("lenet5", "lenet300", "vgg7")
# Dense training of a built-in net before compression (done once, cached); a model given as a
# file or module is trained already and keeps its own weights (0).
BUILTIN_PRETRAIN_EPOCHS = 10.0
OPSET = 13
IR_VERSION = 8          # what every onnxruntime of the last years runs


def builtin_name(model) -> str | None:
    """The built-in net a MODEL argument names (any letter case: `LeNet5` is lenet5), or None:
    not text, not a built-in name, or a file of that name exists (a path wins over a name).
    Every command resolves names here, so inspect and prune agree."""
    if not isinstance(model, str) or model.lower() not in MODELS or Path(model).exists():
        return None
    return model.lower()


def pretrain_epochs(model, given: float | None) -> float:
    """Dense pretraining epochs of a run: `given`, or by the model's kind when None."""
    if given is not None:
        return given
    return BUILTIN_PRETRAIN_EPOCHS if builtin_name(model) else 0.0


@dataclass(frozen=True)
class Conv:
    name: str
    out: int
    kernel: int
    pad: int


@dataclass(frozen=True)
class Dense:
    name: str
    out: int | None         # None: the number of classes


@dataclass(frozen=True)
class Pool:
    size: int


@dataclass(frozen=True)
class Relu:
    pass


@dataclass(frozen=True)
class Flatten:
    pass


def _lenet5(c: int, h: int, w: int) -> list:
    pad = 0 if min(h, w) >= 28 else 2
    return [Conv("conv1", 20, 5, pad), Pool(2), Conv("conv2", 50, 5, pad), Pool(2), Flatten(),
            Dense("fc1", 500), Relu(), Dense("fc2", None)]


def _lenet300(c: int, h: int, w: int) -> list:
    return [Flatten(), Dense("fc1", 300), Relu(), Dense("fc2", 100), Relu(), Dense("fc3", None)]


VGG7_WIDTHS = (8, 16, 16, 32, 32, 64)


def _vgg7(c: int, h: int, w: int) -> list:
    layers: list = []
    for i, width in enumerate(VGG7_WIDTHS):
        layers += [Conv(f"conv{i + 1}", width, 3, 1), Relu()]
        if i % 2 == 1:
            layers.append(Pool(2))
    return layers + [Flatten(), Dense("fc", None)]


ARCHITECTURES = {"lenet5": _lenet5, "lenet300": _lenet300, "vgg7": _vgg7}


def architecture(name: str, input_shape: tuple[int, ...]) -> list:
    if name not in ARCHITECTURES:
        raise PruningError(f"unknown built-in model {name!r}; use one of {', '.join(MODELS)} or an ONNX file")
    shape = tuple(int(d) for d in input_shape)
    if name != "lenet300" and len(shape) != 3:
        raise PruningError(f"{name} needs image inputs (C, H, W), got input shape {shape}; "
                           "use lenet300 for flat features")
    if len(shape) == 3:
        return ARCHITECTURES[name](*shape)
    return ARCHITECTURES[name](1, 1, 1)


def builtin_onnx(name: str, input_shape: tuple[int, ...] = (1, 28, 28), num_classes: int = 10,
                 seed: int = 0):
    """The built-in network `name` for samples of `input_shape`, freshly initialized with
    `seed`, as an ONNX graph (dynamic batch; initializer names such as conv1.weight)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    if num_classes < 2:
        raise PruningError(f"a classifier needs at least 2 classes, got {num_classes}")
    rng = np.random.default_rng(seed)
    shape = list(input_shape)
    nodes, inits = [], []
    x = "input"

    def param(pname: str, dims: tuple[int, ...], fan_in: int) -> str:
        bound = 1.0 / math.sqrt(fan_in)
        inits.append(numpy_helper.from_array(rng.uniform(-bound, bound, dims).astype(np.float32), pname))
        return pname

    for i, layer in enumerate(architecture(name, tuple(input_shape))):
        y = f"t{i}"
        if isinstance(layer, Conv):
            c_in, h, w = shape
            fan = c_in * layer.kernel ** 2
            wt = param(f"{layer.name}.weight", (layer.out, c_in, layer.kernel, layer.kernel), fan)
            b = param(f"{layer.name}.bias", (layer.out,), fan)
            nodes.append(helper.make_node("Conv", [x, wt, b], [y], name=layer.name,
                                          kernel_shape=[layer.kernel] * 2, pads=[layer.pad] * 4))
            size = lambda d: d + 2 * layer.pad - layer.kernel + 1     # noqa: E731
            shape = [layer.out, size(h), size(w)]
        elif isinstance(layer, Pool):
            c_in, h, w = shape
            nodes.append(helper.make_node("MaxPool", [x], [y], kernel_shape=[layer.size] * 2,
                                          strides=[layer.size] * 2))
            shape = [c_in, h // layer.size, w // layer.size]
        elif isinstance(layer, Relu):
            nodes.append(helper.make_node("Relu", [x], [y]))
        elif isinstance(layer, Flatten):
            nodes.append(helper.make_node("Flatten", [x], [y], axis=1))
            shape = [math.prod(shape)]
        else:
            out = layer.out if layer.out is not None else num_classes
            wt = param(f"{layer.name}.weight", (out, shape[0]), shape[0])
            b = param(f"{layer.name}.bias", (out,), shape[0])
            nodes.append(helper.make_node("Gemm", [x, wt, b], [y], name=layer.name, transB=1))
            shape = [out]
        if min(shape) < 1:
            raise PruningError(f"{name} does not fit inputs of shape {tuple(input_shape)}: layer {i + 1} "
                               "would have no output pixels")
        x = y
    nodes[-1].output[0] = "logits"
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", *input_shape])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", num_classes])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              ir_version=IR_VERSION, producer_name="codesign")
    onnx.checker.check_model(model)
    return model


def build_model(name: str, input_shape: tuple[int, ...], num_classes: int, seed: int = 0):
    """The built-in network as a trainable torch module (pruning.onnx.bridge.OnnxModule)."""
    from pruning.onnx.bridge import from_onnx
    return from_onnx(builtin_onnx(name, tuple(input_shape), num_classes, seed))
