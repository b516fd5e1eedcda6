"""The one protocol every compression method implements (pruning.methods.*).

A method gets a model, per-layer targets and a training context; it returns masks, trained
weights, accuracy and one per-layer table. The search (codesign.loop) and the reports only
ever talk to this protocol, so they never special-case a method. Modelled on the split that
torch.ao.pruning and NNI make between "what to prune" (targets) and "how to schedule it"
(each method's own options), without their size.

Layer identity: a prunable weight is named by its ONNX weight tensor name. For a model that
came through pruning.onnx_bridge these are the ONNX initializer names; for a built-in torch
model they are its parameter names (``conv1.weight``), which torch.onnx.export keeps as the
initializer names. `prunable_weights` is the single place that resolves that mapping.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, ClassVar, Mapping, Protocol, runtime_checkable

import torch
from torch import nn

from pruning.patterns import UNSTRUCTURED, Pattern, output_axis

if TYPE_CHECKING:
    from pruning.train import TrainContext


@dataclass(frozen=True)
class Targets:
    """What to reach. `alphas`: keep fraction per weight name (names absent stay dense).
    `global_alpha`: one keep fraction for all prunable weights ranked together (one magnitude
    threshold across layers, as torch.nn.utils.prune.global_unstructured); explicit alphas win
    for the layers they name. `patterns`: the sparsity pattern per weight name (absent:
    unstructured). `bits`: quantization bits per weight name (absent: float weights)."""
    alphas: Mapping[str, float] = field(default_factory=dict)
    global_alpha: float | None = None
    patterns: Mapping[str, Pattern] = field(default_factory=dict)
    bits: Mapping[str, int] = field(default_factory=dict)

    def pattern(self, name: str) -> Pattern:
        return self.patterns.get(name, UNSTRUCTURED)


@dataclass(frozen=True)
class Progress:
    phase: str          # e.g. "pretrain", "admm", "retrain", "quantize"
    step: int           # steps done in this phase
    total: int          # steps in this phase
    message: str = ""   # short status, e.g. "acc 88.1%"


@dataclass
class LayerResult:
    name: str
    weights: int
    kept: int
    alpha_target: float
    bits: int | None = None
    pattern: str = "unstructured"

    @property
    def alpha(self) -> float:
        """Achieved keep fraction."""
        return self.kept / self.weights if self.weights else 1.0


@dataclass
class CompressionResult:
    method: str
    model: nn.Module
    masks: dict[str, torch.Tensor]          # bool masks keyed by weight name (True = kept)
    accuracy_dense: float                   # before compression, fraction in [0, 1]
    accuracy: float                         # after compression
    layers: list[LayerResult]
    history: list[dict] = field(default_factory=list)   # per-epoch/phase records
    epochs_used: float = 0.0
    seconds: float = 0.0

    @property
    def overall_ratio(self) -> float:
        """Overall pruning ratio over the prunable weights: total / kept."""
        total = sum(l.weights for l in self.layers)
        kept = sum(l.kept for l in self.layers)
        return total / max(kept, 1)


ProgressFn = Callable[[Progress], None]


@runtime_checkable
class Backend(Protocol):
    name: ClassVar[str]

    def compress(self, model: nn.Module, targets: Targets, ctx: "TrainContext") -> CompressionResult:
        """Compress `model` in place. The caller places it on `ctx.device` first: masks and
        method state are made from its weights and live where they are."""
        ...


def prunable_weights(model: nn.Module) -> dict[str, nn.Parameter]:
    """Weights of Conv/ConvTranspose/Linear layers keyed by their ONNX weight name.

    A model may define ``onnx_weight_names() -> dict[str, nn.Parameter]`` (the ONNX bridge
    does); otherwise the parameter names of conv/linear modules are used."""
    named = getattr(model, "onnx_weight_names", None)
    if callable(named):
        return dict(named())
    out: dict[str, nn.Parameter] = {}
    for mod_name, mod in model.named_modules():
        if isinstance(mod, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d,
                            nn.ConvTranspose2d, nn.Linear)):
            out[f"{mod_name}.weight" if mod_name else "weight"] = mod.weight
    return out


# torch layers as the ONNX ops they export to (a Linear is a Gemm with transB: weight (out, in))
_AS_ONNX = ((nn.ConvTranspose1d, "ConvTranspose", {}), (nn.ConvTranspose2d, "ConvTranspose", {}),
            (nn.ConvTranspose3d, "ConvTranspose", {}), (nn.Conv1d, "Conv", {}), (nn.Conv2d, "Conv", {}),
            (nn.Conv3d, "Conv", {}), (nn.Linear, "Gemm", {"transB": 1}))


def weight_layouts(model: nn.Module) -> dict[str, int]:
    """The output-channel axis of each prunable weight (pruning.patterns.output_axis: 0 for
    Conv, Linear, Gemm with transB; 1 for ConvTranspose, MatMul and Gemm weights stored (in,
    out)). A model may define ``onnx_weight_layouts()`` (the ONNX bridge does)."""
    named = getattr(model, "onnx_weight_layouts", None)
    if callable(named):
        return dict(named())
    out = {}
    for mod_name, mod in model.named_modules():
        for kind, op_type, attrs in _AS_ONNX:
            if isinstance(mod, kind):
                out[f"{mod_name}.weight" if mod_name else "weight"] = output_axis(op_type, 1, attrs)
                break
    return out


def classifier_name(model: nn.Module) -> str | None:
    """The weight that produces the model's output (the last prunable one): never
    channel-pruned, as that would remove classes."""
    names = list(prunable_weights(model))
    return names[-1] if names else None
