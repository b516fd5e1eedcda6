"""Shared test set-up: one thread everywhere (two collapse when anything else uses a core), and
a pretraining cache of this test session only (never the user's ~/.cache)."""
import atexit
import os
import shutil
import subprocess
import tempfile

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ["CODESIGN_CACHE"] = tempfile.mkdtemp(prefix="codesign-test-cache-")
atexit.register(shutil.rmtree, os.environ["CODESIGN_CACHE"], ignore_errors=True)

try:
    import torch
    torch.set_num_threads(1)
except ImportError:  # pragma: no cover
    pass


@pytest.fixture
def mount_tmpfs(tmp_path):
    """mount_tmpfs(size) -> a tmpfs of that size (e.g. "3m") of this test's own, for disk-full
    and read-only cases (root only; the test is skipped where mounting is not permitted)."""
    mounted = []

    def mount(size: str):
        mnt = tmp_path / f"tmpfs{len(mounted)}"
        mnt.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()[:100]}")
        mounted.append(mnt)
        return mnt
    yield mount
    for mnt in mounted:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
