"""Built-in models of paper 001's LeNet experiments.

LeNet-5 is the Caffe variant of paper 001 Table 1: conv 5x5 x20 - maxpool 2 - conv 5x5 x50 -
maxpool 2 - fc 500 - relu - fc 10; on 28x28 inputs its weights are 500 + 25,000 + 400,000 +
5,000 = 430,500 ("430.5K"). LeNet-300-100 is the MLP 784-300-100-10 (266,200 weights).
Inputs smaller than 28x28 (e.g. 8x8 digits) get 'same' padding in the convolutions so the
same topology still fits.
"""
from __future__ import annotations

import math

from torch import nn

from pruning.errors import PruningError

MODELS = ("lenet5", "lenet300")


def lenet5(input_shape: tuple[int, ...] = (1, 28, 28), num_classes: int = 10) -> nn.Sequential:
    c, h, w = _chw(input_shape, "lenet5")
    pad = 0 if min(h, w) >= 28 else 2
    hh, ww = h, w
    for _ in range(2):
        hh, ww = (hh + 2 * pad - 4) // 2, (ww + 2 * pad - 4) // 2
    if hh < 1 or ww < 1:
        raise PruningError(f"lenet5 needs inputs of at least 8x8 pixels, got {h}x{w}")
    return _named(
        ("conv1", nn.Conv2d(c, 20, 5, padding=pad)), ("pool1", nn.MaxPool2d(2)),
        ("conv2", nn.Conv2d(20, 50, 5, padding=pad)), ("pool2", nn.MaxPool2d(2)),
        ("flatten", nn.Flatten()),
        ("fc1", nn.Linear(50 * hh * ww, 500)), ("relu", nn.ReLU()),
        ("fc2", nn.Linear(500, num_classes)))


def lenet300(input_shape: tuple[int, ...] = (1, 28, 28), num_classes: int = 10) -> nn.Sequential:
    features = math.prod(input_shape)
    return _named(("flatten", nn.Flatten()),
                  ("fc1", nn.Linear(features, 300)), ("relu1", nn.ReLU()),
                  ("fc2", nn.Linear(300, 100)), ("relu2", nn.ReLU()),
                  ("fc3", nn.Linear(100, num_classes)))


def build_model(name: str, input_shape: tuple[int, ...], num_classes: int) -> nn.Sequential:
    builders = {"lenet5": lenet5, "lenet300": lenet300}
    if name not in builders:
        raise PruningError(f"unknown built-in model {name!r}; use one of {MODELS} or an ONNX file")
    return builders[name](tuple(input_shape), num_classes)


def builtin_onnx(name: str, input_shape: tuple[int, ...] = (1, 28, 28), num_classes: int = 10,
                 seed: int = 0):
    """A built-in model, freshly initialized with `seed`, exported to ONNX (initializer names
    = parameter names). Torch and ONNX models then take the same path through the bridge."""
    import torch
    from pruning.onnx.bridge import export_torch
    torch.manual_seed(seed)
    model = build_model(name, input_shape, num_classes)
    return export_torch(model, tuple(input_shape))


def _named(*pairs: tuple[str, nn.Module]) -> nn.Sequential:
    from collections import OrderedDict
    return nn.Sequential(OrderedDict(pairs))


def _chw(shape: tuple[int, ...], model: str) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise PruningError(f"{model} needs image inputs (C, H, W), got input shape {shape}; "
                           "use lenet300 for flat features")
    return shape  # type: ignore[return-value]
