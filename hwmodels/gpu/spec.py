"""Typed specs of tensor-core GPU targets (`GpuSpec`): what the vendor publishes about the chip
(`Device`: SMs, clock, dense tensor throughput per dtype, the 2:4 math speedup, memory) and how
well its GEMM kernels use it (`Kernels`: achieved fraction of peak per dtype and kernel family,
operand feed per SM, per-call overheads), fitted to measurements inside physical ranges.

A GPU preset says `target = "gpu"` and holds [device] and [kernels]; it has its own key table
(`GPU_KEYS`, built like the ASIC's by hwmodels.spec.registry) so that `--set`, ranges, sources,
`codesign hw` and calibration treat both kinds alike without sharing a single key.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

from hwmodels.errors import ConfigError
from hwmodels.spec import Key, coerce_key, param, registry

GPU_SECTIONS = ("device", "kernels")
DTYPES = ("fp16", "bf16", "fp8", "int8")


@dataclass(frozen=True)
class Device:
    sms: int = param(108, lo=1, hi=1024, unit="SMs", doc="streaming multiprocessors")
    boost_clock_mhz: float = param(1410.0, lo=100.0, hi=5000.0, unit="MHz",
                                   doc="boost clock at which the published peaks are stated")
    fp16_tflops: float = param(312.0, lo=0.1, hi=1e5, unit="TFLOP/s",
                               doc="dense fp16/bf16 tensor-core peak (fp32 accumulate)")
    fp8_tflops: float = param(0.0, lo=0.0, hi=1e5, unit="TFLOP/s",
                              doc="dense fp8 tensor-core peak (0: no fp8 tensor cores)")
    int8_tops: float = param(624.0, lo=0.0, hi=1e5, unit="TOP/s",
                             doc="dense int8 tensor-core peak (0: no int8 tensor cores)")
    sparse_math_speedup: float = param(2.0, lo=1.0, hi=4.0, unit="x",
                                       doc="math rate of the 2:4 sparse tensor cores over dense "
                                           "(1: no sparse tensor cores)")
    hbm_gbps: float = param(2039.0, lo=1.0, hi=1e5, unit="GB/s", doc="device memory bandwidth")
    l2_mb: float = param(40.0, lo=0.0, hi=4096.0, unit="MB", doc="L2 cache")


@dataclass(frozen=True)
class Kernels:
    hbm_efficiency: float = param(0.85, lo=0.3, hi=1.0,
                                  doc="share of the memory bandwidth a streaming kernel reaches")
    l2_gbps: float = param(5000.0, lo=10.0, hi=1e6, unit="GB/s",
                           doc="L2-to-SM bandwidth (operands resident in L2, and every tile's "
                               "operand loads)")
    l2_resident_fraction: float = param(0.5, lo=0.0, hi=1.0,
                                        doc="share of the L2 a GEMM's operands may occupy and "
                                            "stay resident between calls")
    sm_feed_bytes_per_clk: float = param(64.0, lo=8.0, hi=1024.0, unit="B/clk",
                                         doc="operand bytes one SM loads per clock; a small tile "
                                             "(low reuse) starves the tensor cores below it")
    eff_fp16_dense: float = param(0.75, lo=0.05, hi=1.0,
                                  doc="fraction of peak a dense fp16/bf16 kernel's main loop reaches")
    eff_fp16_sparse: float = param(0.6, lo=0.05, hi=1.0,
                                   doc="fraction of the 2:4 peak a sparse fp16/bf16 kernel reaches")
    eff_int8_dense: float = param(0.7, lo=0.05, hi=1.0, doc="as eff_fp16_dense, int8 kernels")
    eff_int8_sparse: float = param(0.55, lo=0.05, hi=1.0, doc="as eff_fp16_sparse, int8 kernels")
    eff_fp8_dense: float = param(0.7, lo=0.05, hi=1.0, doc="as eff_fp16_dense, fp8 kernels")
    eff_fp8_sparse: float = param(0.55, lo=0.05, hi=1.0, doc="as eff_fp16_sparse, fp8 kernels")
    dense_overhead_us: float = param(5.0, lo=0.0, hi=100.0, unit="us",
                                     doc="per-call cost of a dense GEMM beyond its main loop "
                                         "(launch, prologue, epilogue)")
    sparse_overhead_us: float = param(8.0, lo=0.0, hi=500.0, unit="us",
                                      doc="the same for a 2:4 GEMM (cuSPARSELt may launch "
                                          "several kernels)")
    torch_sparse_overhead_us: float = param(0.0, lo=0.0, hi=2000.0, unit="us",
                                            doc="extra per call of PyTorch's eager 2:4 path "
                                                "(to_sparse_semi_structured: padding, transposes, "
                                                "descriptors); priced only for measurements "
                                                "taken through it")


GPU_SECTION_TYPES = {"device": Device, "kernels": Kernels}
GPU_KEYS: dict[str, Key] = registry(GPU_SECTION_TYPES)


def gpu_key(name: str, where: str = "GPU target") -> Key:
    if "." in name:
        section, name = name.split(".", 1)
        if section not in GPU_SECTIONS:
            name = f"{section}.{name}"
    if name not in GPU_KEYS:
        shown = name if len(name) <= 40 else name[:37] + "..."
        raise ConfigError(f"{where}: unknown GPU key {shown!r}; see `codesign hw a100` or "
                          "hwmodels/gpu/spec.py for the keys")
    return GPU_KEYS[name]


def efficiency_key(dtype: str, kernel: str) -> str:
    return f"eff_{'fp16' if dtype == 'bf16' else dtype}_{kernel}"


@dataclass(frozen=True)
class GpuSpec:
    name: str = "gpu"
    device: Device = Device()
    kernels: Kernels = Kernels()
    ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict)
    description: str = ""

    target = "gpu"
    mode = "gpu"            # what `codesign hw` prints where an ASIC spec has its evaluation mode

    def __post_init__(self) -> None:
        validate(self)

    def __getattr__(self, name: str) -> Any:
        if name in GPU_KEYS:
            return getattr(object.__getattribute__(self, GPU_KEYS[name].section), name)
        raise AttributeError(name)

    def flat(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in GPU_KEYS}

    def used_keys(self) -> list[str]:
        return list(GPU_KEYS)

    def peak_flops(self, dtype: str) -> float:
        """Dense tensor-core peak of a dtype, in FLOP/s (0 where the GPU has none)."""
        tera = {"fp16": self.fp16_tflops, "bf16": self.fp16_tflops, "fp8": self.fp8_tflops,
                "int8": self.int8_tops}[dtype]
        return tera * 1e12

    def supports(self, dtype: str) -> bool:
        return dtype in DTYPES and self.peak_flops(dtype) > 0

    def check_dtype(self, dtype: str) -> str:
        if dtype not in DTYPES:
            raise ConfigError(f"dtype {dtype!r} is not one of {', '.join(DTYPES)}")
        if not self.supports(dtype):
            have = ", ".join(d for d in DTYPES if self.supports(d))
            raise ConfigError(f"{self.name} has no {dtype} tensor cores; use one of {have}")
        return dtype

    def replace(self, _where: str = "GPU target", _check_modes: bool = True,
                **changes: Any) -> "GpuSpec":
        """A copy with flat keys changed (coerced, bounds-checked); a changed key loses its range."""
        typed = {gpu_key(k, _where).name: coerce_key(gpu_key(k, _where), v, _where)
                 for k, v in changes.items()}
        parts = {s: dataclasses.replace(getattr(self, s),
                                        **{k: v for k, v in typed.items() if GPU_KEYS[k].section == s})
                 for s in GPU_SECTIONS}
        ranges = {k: r for k, r in self.ranges.items() if k not in typed}
        return dataclasses.replace(self, ranges=ranges, **parts)

    def renamed(self, name: str) -> "GpuSpec":
        return dataclasses.replace(self, name=name)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "target": "gpu",
                **{s: dataclasses.asdict(getattr(self, s)) for s in GPU_SECTIONS}}


def validate(spec: GpuSpec) -> None:
    where = f"GPU target {spec.name!r}"
    for name, k in GPU_KEYS.items():
        coerce_key(k, getattr(spec, name), where)
    if spec.fp16_tflops <= 0:
        raise ConfigError(f"{where}: fp16_tflops must be positive (every tensor-core GPU has fp16)")
    # the published peak is SMs x tensor FLOP per clock per SM x clock: a power of two per clock
    # between 256 (Turing-class) and 16384; anything else is a unit slip (GHz for MHz, TOPS for TFLOPS)
    per_clk = spec.fp16_tflops * 1e12 / (spec.sms * spec.boost_clock_mhz * 1e6)
    if not 128 <= per_clk <= 32768:
        raise ConfigError(f"{where}: fp16_tflops = {spec.fp16_tflops:g} over {spec.sms} SMs at "
                          f"{spec.boost_clock_mhz:g} MHz is {per_clk:.0f} FLOP per clock per SM; "
                          "tensor cores do 256-16384: check the units (TFLOP/s, MHz)")
    for dtype in ("fp16", "int8", "fp8"):
        dense, sparse = efficiency_key(dtype, "dense"), efficiency_key(dtype, "sparse")
        if getattr(spec, sparse) > getattr(spec, dense) * (1 + 1e-9):
            raise ConfigError(f"{where}: {sparse} = {getattr(spec, sparse):g} exceeds {dense} = "
                              f"{getattr(spec, dense):g}; a 2:4 kernel reaches at most the share "
                              "of its (doubled) peak that the dense kernel reaches of its own, so "
                              "its speedup stays within the sparse math speedup")
    for name, (lo, hi) in spec.ranges.items():
        k = gpu_key(name, f"{where} ranges")
        value = getattr(spec, name)
        lo, hi = coerce_key(k, lo, "range min"), coerce_key(k, hi, "range max")
        if not lo <= value <= hi:
            raise ConfigError(f"{where}: {name} = {value} lies outside its range [{lo}, {hi}]")
