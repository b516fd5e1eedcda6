"""Shared test set-up: one thread everywhere (two collapse when anything else uses a core)."""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

try:
    import torch
    torch.set_num_threads(1)
except ImportError:  # pragma: no cover
    pass
