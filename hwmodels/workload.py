"""The hardware's view of the work: one compute layer (`LayerShape`) and a network's layers as
numpy columns (`LayerArray`, what the vectorized cost model consumes).

A layer is a (possibly grouped) convolution or a matrix product. Matrix products (Gemm, MatMul,
the gate matmuls of a recurrent op, and activation x activation products such as attention's
QK^T) are 1x1 "convolutions" with no spatial dimensions: `batch` holds the rows of the
activation matrix, `groups` the independent products of a batched matmul (one per head).

The sparsity structure a layer is pruned to reaches the hardware as numbers, not names
(pruning.patterns owns the names; codesign.plans.structure_of is the one conversion): N:M
(`nm_keep` of every `nm_group` consecutive reduction positions), blocks (`block_out` output
channels x `block_in` reduction positions; 1 x 1 is unstructured) and `channel` (whole output
channels removed: a smaller dense layer, as is a block as long as the whole reduction).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from math import prod
from typing import Sequence

import numpy as np

from hwmodels.errors import ConfigError

# conv, conv_transpose: Conv / ConvTranspose; gemm, matmul: a constant weight operand;
# recurrent: the input (W) or recurrent (R) gate matrix of an LSTM/GRU/RNN, applied per step;
# dynamic_matmul: both operands computed at run time (attention): no prunable weight.
OPS = ("conv", "conv_transpose", "gemm", "matmul", "recurrent", "dynamic_matmul")


@dataclass(frozen=True)
class LayerShape:
    name: str                      # the weight tensor's name: the layer's identity everywhere
    op: str                        # one of OPS
    batch: int                     # N (matrix ops: rows of the activation matrix per group)
    in_channels: int               # C (matrix ops: input features, all groups)
    out_channels: int              # K (matrix ops: output features, all groups)
    kernel: tuple[int, ...] = ()   # spatial kernel dims (R, S, ...); () for matrix ops
    in_spatial: tuple[int, ...] = ()
    out_spatial: tuple[int, ...] = ()
    groups: int = 1
    stride: tuple[int, ...] = ()
    dilation: tuple[int, ...] = ()
    pads: tuple[int, ...] = ()     # ONNX order: begins then ends
    has_bias: bool = False

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ConfigError(f"layer {self.name!r}: op {self.op!r} is not one of {', '.join(OPS)}")
        for key in ("batch", "in_channels", "out_channels", "groups"):
            value = getattr(self, key)
            if not isinstance(value, (int, np.integer)) or value <= 0:
                raise ConfigError(f"layer {self.name!r}: {key} must be a positive integer, got {value!r}")
        for key in ("kernel", "in_spatial", "out_spatial"):
            if any(int(d) <= 0 for d in getattr(self, key)):
                raise ConfigError(f"layer {self.name!r}: every {key} dimension must be positive, "
                                  f"got {getattr(self, key)}")
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ConfigError(f"layer {self.name!r}: channels {self.in_channels}->{self.out_channels} "
                              f"are not divisible by groups={self.groups}")

    @property
    def prunable(self) -> bool:
        """False for activation x activation products: there is no weight to prune or store."""
        return self.op != "dynamic_matmul"

    @property
    def kernel_size(self) -> int:
        return prod(self.kernel)

    @property
    def reduction(self) -> int:
        """MACs per output element (dot-product length): C/g * prod(kernel); for a transposed
        convolution the average over output elements."""
        if self.op == "conv_transpose":
            return self.macs // max(self.out_elements, 1)
        return self.in_channels // self.groups * self.kernel_size

    @property
    def fiber_len(self) -> int:
        """Weights per output channel (the reduction each filter walks): C/g * prod(kernel)."""
        return self.in_channels // self.groups * self.kernel_size

    @property
    def weight_count(self) -> int:
        """Stored weights; 0 for an activation x activation product."""
        return self.out_channels * self.fiber_len if self.prunable else 0

    @property
    def output_pixels(self) -> int:
        """Output positions per filter: N * prod(out_spatial)."""
        return self.batch * prod(self.out_spatial)

    @property
    def macs(self) -> int:
        """Multiply-accumulates; one multiply-add counts as one MAC."""
        if self.op == "conv_transpose":
            # every input pixel scatters through the whole kernel of its group
            return (self.batch * prod(self.in_spatial) * self.in_channels
                    * (self.out_channels // self.groups) * self.kernel_size)
        return self.output_pixels * self.out_channels * self.reduction

    @property
    def in_elements(self) -> int:
        return self.batch * self.in_channels * prod(self.in_spatial)

    @property
    def out_elements(self) -> int:
        return self.batch * self.out_channels * prod(self.out_spatial)

    @property
    def operand_elements(self) -> int:
        """The second activation operand of a dynamic matmul (a feature, not a weight)."""
        return self.fiber_len * self.out_channels if self.op == "dynamic_matmul" else 0

    @property
    def is_depthwise(self) -> bool:
        return self.groups > 1 and self.groups == self.in_channels


@dataclass(frozen=True)
class Structure:
    """The hardware's view of a sparsity pattern (see the module docstring); the default is
    unstructured."""
    nm_keep: int = 0
    nm_group: int = 0
    block_out: int = 1
    block_in: int = 1
    channel: bool = False

    def __post_init__(self) -> None:
        if self.nm_group and not 0 < self.nm_keep < self.nm_group:
            raise ConfigError(f"N:M structure needs 0 < N < M, got {self.nm_keep}:{self.nm_group}")
        if self.block_out < 1 or self.block_in < 1:
            raise ConfigError(f"block structure needs positive sizes, got {self.block_out}x{self.block_in}")
        kinds = [bool(self.nm_group), (self.block_out, self.block_in) != (1, 1), self.channel]
        if sum(kinds) > 1:
            raise ConfigError("a layer is pruned to one of N:M groups, blocks or channels, not several")


def _column(values) -> np.ndarray:
    return np.asarray(values, dtype=float).reshape(1, -1, 1)


@dataclass(frozen=True)
class LayerArray:
    """Layer dimensions as (1, L, 1) float columns, plus what a plan sets per layer: the stored
    weight width (NaN: the hardware's `weight_bits`) and the sparsity structure."""
    names: tuple[str, ...]
    weights: np.ndarray         # stored weights (0 for dynamic matmuls)
    fibers: np.ndarray          # filters (output channels)
    fiber_len: np.ndarray       # reduction per output element
    groups: np.ndarray
    pixels: np.ndarray          # output positions per filter (batch included)
    macs: np.ndarray
    in_elements: np.ndarray     # input features (+ the second operand of a dynamic matmul)
    out_elements: np.ndarray
    bias: np.ndarray            # bias values stored
    coord_bits: np.ndarray      # COO coordinate width
    prunable: np.ndarray        # 1.0 when the layer has a weight to prune
    weight_bits: np.ndarray     # bits per stored weight (NaN: the hardware's weight_bits)
    nm_keep: np.ndarray
    nm_group: np.ndarray
    block_out: np.ndarray
    block_in: np.ndarray
    channel: np.ndarray         # 1.0 when whole output channels are pruned

    def __len__(self) -> int:
        return len(self.names)

    @classmethod
    def from_shapes(cls, shapes: Sequence[LayerShape], weight_bits: Sequence[float] | None = None,
                    structures: Sequence[Structure] | None = None) -> "LayerArray":
        if not shapes:
            raise ConfigError("no layers to evaluate")
        n = len(shapes)
        bits = [float("nan")] * n if weight_bits is None else [float(b) for b in weight_bits]
        structs = [Structure()] * n if structures is None else list(structures)
        if len(bits) != n or len(structs) != n:
            raise ConfigError(f"per-layer weight bits / structures: got {len(bits)} / {len(structs)} "
                              f"values for {n} layers")
        for s, b in zip(shapes, bits):
            if b == b and not (1 <= b <= 32 and b == int(b)):
                raise ConfigError(f"layer {s.name!r}: stored weight width {b} must be an integer in 1..32")
        coord = [float(np.sum(np.ceil(np.log2(np.maximum(
            [s.out_channels, s.fiber_len, *s.kernel], 1))))) for s in shapes]
        return cls(
            names=tuple(s.name for s in shapes),
            weights=_column([s.weight_count for s in shapes]),
            fibers=_column([s.out_channels for s in shapes]),
            fiber_len=_column([s.fiber_len for s in shapes]),
            groups=_column([s.groups for s in shapes]),
            pixels=_column([s.macs / (s.out_channels * s.fiber_len) for s in shapes]),
            macs=_column([s.macs for s in shapes]),
            in_elements=_column([s.in_elements + s.operand_elements for s in shapes]),
            out_elements=_column([s.out_elements for s in shapes]),
            bias=_column([s.out_channels if s.has_bias else 0 for s in shapes]),
            coord_bits=_column(coord),
            prunable=_column([1.0 if s.prunable else 0.0 for s in shapes]),
            weight_bits=_column(bits),
            nm_keep=_column([t.nm_keep for t in structs]),
            nm_group=_column([t.nm_group for t in structs]),
            block_out=_column([t.block_out for t in structs]),
            block_in=_column([t.block_in for t in structs]),
            channel=_column([t.channel for t in structs]),
        )

    def take(self, index) -> "LayerArray":
        return LayerArray(tuple(np.asarray(self.names, dtype=object)[index]),
                          *(getattr(self, f.name)[:, index] for f in fields(self)[1:]))

    def with_plan(self, weight_bits=None, structures: Sequence[Structure] | None = None) -> "LayerArray":
        """The same layers with per-layer stored widths and/or structures replaced."""
        changes = {}
        if weight_bits is not None:
            wb = np.asarray(weight_bits, dtype=float).reshape(-1)
            if wb.size != len(self):
                raise ConfigError(f"per-layer weight bits: got {wb.size} values for {len(self)} layers")
            changes["weight_bits"] = _column(wb)
        if structures is not None:
            if len(structures) != len(self):
                raise ConfigError(f"per-layer structures: got {len(structures)} for {len(self)} layers")
            for key in ("nm_keep", "nm_group", "block_out", "block_in", "channel"):
                changes[key] = _column([getattr(t, key) for t in structures])
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return LayerArray(**values)
