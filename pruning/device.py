"""Where training, calibration and evaluation run: the one rule that turns a device setting
(pruning.prune_job.DEVICES) into a torch device, and the two moves every loop makes (a batch to
the model, a model's device). Torch is imported inside the functions: the CLI checks the
setting's name without it.

The full data stays on the CPU (numpy); each batch moves to the model's device, and per-sample
scores come back as numpy. On the CPU every move is a no-op, so results there are
bit-identical to code without devices.
"""
from __future__ import annotations

from typing import Any

from pruning.errors import PruningError
from pruning.prune_job import DEVICES


def resolve_device(device: Any = "auto"):
    """The torch device of a setting: "auto" is CUDA when torch sees a GPU, else the CPU;
    "cuda" without one is a PruningError naming the fix (raised before any work). A
    torch.device (already resolved) is returned as it is."""
    import torch
    if isinstance(device, torch.device):
        return device
    if device not in DEVICES:
        raise PruningError(f"device {device!r} is not one of {', '.join(DEVICES)}")
    if device == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda")
    if device == "cuda":
        why = ("this torch is built without CUDA (a CPU wheel; install a CUDA build of torch)"
               if torch.version.cuda is None else "torch sees no CUDA GPU (check the driver and "
               "CUDA_VISIBLE_DEVICES)")
        raise PruningError(f"device 'cuda': {why}; or train on the CPU with device cpu or auto "
                           "(--device on the command line)")
    return torch.device("cpu")


def module_device(module):
    """The device of a module's first parameter (or buffer); the CPU for a module of neither."""
    import torch
    for tensor in module.parameters():
        return tensor.device
    for tensor in module.buffers():
        return tensor.device
    return torch.device("cpu")


def to_device(x, device):
    """A tensor, or a dict of them (a model's several inputs), on `device`; None stays None.
    Strides are kept (Tensor.to preserves them), so a channels-last batch stays channels-last."""
    if x is None:
        return None
    if isinstance(x, dict):
        return {k: v.to(device) for k, v in x.items()}
    return x.to(device)
