"""Dense pretraining of built-in models, done once and cached.

A built-in model (lenet5, lenet300, vgg7) starts from seeded random weights, so every prune or
search run would first train it. The trained dense weights are cached under a key of
everything that changes them (model, data, sizes, epochs, optimizer, seed, torch version) in
`$CODESIGN_CACHE` (default ~/.cache/codesign)/pretrained, in the safe checkpoint format, and
reused by later runs. A model given as ONNX or nn.Module is used as given.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from pruning.checkpoint import load_checkpoint, save_checkpoint
from pruning.data import Dataset, Inputs
from pruning.device import resolve_device
from pruning.train import TrainContext, evaluate, train_epochs


# Changes when the training loop computes differently for the same inputs (2: image batches
# laid out channels-last, other kernels and rounding), so no older cached model is taken as this
# code's result.
TRAINING_VERSION = 2


def cache_dir() -> Path:
    base = os.environ.get("CODESIGN_CACHE") or Path.home() / ".cache" / "codesign"
    return Path(base) / "pretrained"


def _digest(*arrays) -> str:
    """A content hash of arrays (labels whole, inputs strided: cheap, and any other subset,
    split or initialization changes it)."""
    h = hashlib.sha256()
    for a in arrays:
        if a is None:                                   # unlabeled data
            h.update(b"none")
            continue
        if isinstance(a, Inputs):                       # several graph inputs
            h.update(_digest(*a.arrays.values()).encode())
            continue
        a = np.ascontiguousarray(a)
        h.update(str((a.shape, a.dtype.str)).encode())
        h.update(np.ascontiguousarray(a.reshape(-1)[:: max(1, a.size // 65536)]).tobytes())
    return h.hexdigest()[:16]


def _key(module: torch.nn.Module, model_name: str, data: Dataset, epochs: float, batch_size: int,
         lr: float, optimizer: str, seed: int, device: torch.device) -> str:
    """The cache key; a GPU's result is kept apart (it rounds otherwise), a CPU's key is as
    before devices existed."""
    initial = _digest(*(t.detach().cpu().numpy() for t in module.state_dict().values()))
    graph = getattr(module, "model", None)             # the ONNX graph it runs: an edited built-in is another
    structure = (hashlib.sha256(b"".join(n.SerializeToString() for n in graph.graph.node)).hexdigest()[:16]
                 if graph is not None else "")
    settings = {"model": model_name, "initial": initial, "graph": structure, "data": data.name,
                "content": _digest(data.train_y, data.train_x, data.test_y),
                "shape": list(data.input_shape), "classes": data.num_classes,
                "epochs": epochs, "batch": batch_size, "lr": lr, "optimizer": optimizer,
                "seed": seed, "torch": torch.__version__, "training": TRAINING_VERSION}
    if device.type != "cpu":
        settings["device"] = device.type
    if data.task is not None and data.task.name != "classify":     # lm pretraining: another model
        settings["task"] = data.task.name
    text = json.dumps(settings, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def pretrained(module: torch.nn.Module, model_name: str, data: Dataset, epochs: float, *,
               batch_size: int = 128, lr: float = 1e-3, optimizer: str = "adam", seed: int = 0,
               on_status: Callable[[str], None] | None = None, on_progress=None,
               device: str | torch.device = "cpu") -> float:
    """Train `module` densely for `epochs` in place on `device` (pruning.device), or load the
    cached result; returns the dense accuracy on data's evaluation split."""
    device = resolve_device(device)
    key = _key(module, model_name, data, epochs, batch_size, lr, optimizer, seed, device)
    directory = cache_dir() / key
    say = on_status or (lambda _m: None)
    state = load_checkpoint(directory, "dense", key) if directory.exists() else None
    if state is not None:
        module.load_state_dict(state["model"])
        say(f"dense {model_name} pretrained earlier: {directory}")
        return float(state["accuracy"])
    say(f"pretraining the dense {model_name} for {epochs:g} epoch(s) (once; cached in {directory})")
    ctx = TrainContext(data=data, epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer,
                       seed=seed, checkpoint_dir=directory / "progress", fingerprint=key,
                       on_progress=on_progress, device=device)
    torch.manual_seed(seed)
    train_epochs(module, ctx, epochs, phase="pretrain")
    accuracy = evaluate(module, data)
    save_checkpoint(directory, "dense", {"model": module.state_dict(), "accuracy": accuracy}, key)
    return accuracy
