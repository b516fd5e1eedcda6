"""Tensor-core GPU targets: typed specs (`spec`) and the GEMM time model (`model`).

    from hwmodels.gpu import GemmArray, evaluate
    costs = evaluate(spec, GemmArray.from_shapes(shapes), batches=[1, 16, 256])
    costs.sparse_speedup, costs.pays_from()
"""
from hwmodels.gpu.model import GemmArray, GpuCosts, KernelTimes, evaluate, kernel_times, pays_from
from hwmodels.gpu.spec import DTYPES, GPU_KEYS, GpuSpec

__all__ = ["DTYPES", "GPU_KEYS", "GemmArray", "GpuCosts", "GpuSpec", "KernelTimes", "evaluate",
           "kernel_times", "pays_from"]
