"""Shared test set-up: one thread everywhere (two collapse when anything else uses a core), and
a pretraining cache of this test session only (never the user's ~/.cache)."""
import atexit
import os
import shutil
import tempfile

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ["CODESIGN_CACHE"] = tempfile.mkdtemp(prefix="codesign-test-cache-")
atexit.register(shutil.rmtree, os.environ["CODESIGN_CACHE"], ignore_errors=True)

try:
    import torch
    torch.set_num_threads(1)
except ImportError:  # pragma: no cover
    pass
