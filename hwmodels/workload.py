"""LayerShape: the hardware's view of one compute layer.

A layer is a (possibly grouped) convolution or a matrix product. Everything the hardware
model needs is here as plain integers; the ONNX importer (codesign.graph) fills it in.
Gemm/MatMul layers are 1x1 "convolutions" with no spatial dimensions: `batch` holds the
number of rows of the activation matrix (product of all leading dimensions).
"""
from __future__ import annotations

from dataclasses import dataclass
from math import prod

OPS = ("conv", "conv_transpose", "gemm", "matmul")


@dataclass(frozen=True)
class LayerShape:
    name: str                      # the weight tensor's name: the layer's identity everywhere
    op: str                        # one of OPS
    batch: int                     # N (for gemm/matmul: rows of the activation matrix)
    in_channels: int               # C (for gemm/matmul: input features)
    out_channels: int              # K (for gemm/matmul: output features)
    kernel: tuple[int, ...] = ()   # spatial kernel dims (R, S, ...); () for gemm/matmul
    in_spatial: tuple[int, ...] = ()
    out_spatial: tuple[int, ...] = ()
    groups: int = 1
    stride: tuple[int, ...] = ()
    dilation: tuple[int, ...] = ()
    pads: tuple[int, ...] = ()     # ONNX order: begins then ends
    has_bias: bool = False

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ValueError(f"LayerShape {self.name!r}: op {self.op!r} is not one of {OPS}")
        for field in ("batch", "in_channels", "out_channels", "groups"):
            if getattr(self, field) <= 0:
                raise ValueError(f"LayerShape {self.name!r}: {field} must be positive")
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(f"LayerShape {self.name!r}: channels {self.in_channels}->"
                             f"{self.out_channels} are not divisible by groups={self.groups}")

    @property
    def kernel_size(self) -> int:
        return prod(self.kernel)

    @property
    def reduction(self) -> int:
        """MACs per output element (dot-product length): C/g * prod(kernel).

        For a transposed convolution this is the average over output elements."""
        if self.op == "conv_transpose":
            return self.macs // max(self.out_elements, 1)
        return self.in_channels // self.groups * self.kernel_size

    @property
    def weight_count(self) -> int:
        return self.out_channels * (self.in_channels // self.groups) * self.kernel_size

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
    def is_depthwise(self) -> bool:
        return self.groups > 1 and self.groups == self.in_channels
