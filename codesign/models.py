"""Where a MODEL argument comes from: a file path, a graph bundled in the onnx wheel, or a
built-in network (pruning.models: lenet5, lenet300, vgg7, built as ONNX without torch)."""
from __future__ import annotations

import os
from pathlib import Path

import onnx

# Short names of the onnx wheel's "light" ImageNet graphs (real topology, placeholder weights).
BUNDLED = {
    "alexnet": "bvlc_alexnet", "vgg19": "vgg19", "resnet50": "resnet50",
    "densenet121": "densenet121", "inception_v1": "inception_v1", "inception_v2": "inception_v2",
    "squeezenet": "squeezenet", "shufflenet": "shufflenet", "zfnet512": "zfnet512",
}
from pruning.models import MODELS as BUILTIN, builtin_name


def light_model_path(short_name: str) -> Path:
    base = Path(os.path.dirname(onnx.__file__)) / "backend" / "test" / "data" / "light"
    return base / f"light_{BUNDLED[short_name]}.onnx"


def describe_sources() -> str:
    return ", ".join(list(BUNDLED) + list(BUILTIN))


def resolve_model_source(source: str | Path) -> tuple[Path | onnx.ModelProto, str]:
    """Return (path or in-memory model, display name) for a MODEL argument."""
    text = str(source)
    key = text.lower()
    if key in BUNDLED and not Path(text).exists():
        return light_model_path(key), key
    if builtin_name(text):
        from pruning.models import builtin_onnx
        return builtin_onnx(builtin_name(text)), builtin_name(text)
    path = Path(text)
    return path, path.stem
