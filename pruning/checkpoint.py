"""Run checkpoints: one file per key in a run directory, written atomically, stamped with a
fingerprint of the run's configuration so a reused directory never resumes a different run."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch

from pruning.errors import PruningError


class CheckpointMismatchError(PruningError):
    """A checkpoint in the run directory belongs to a run with other settings."""


def _path(directory: Path, key: str) -> Path:
    return Path(directory) / (re.sub(r"[^A-Za-z0-9_.-]+", "_", key) + ".pt")


def save_checkpoint(directory: str | Path, key: str, payload: dict[str, Any], fingerprint: str = "") -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = _path(directory, key)
    tmp = path.with_suffix(".pt.tmp")
    torch.save({"fingerprint": fingerprint, "payload": payload}, tmp)
    os.replace(tmp, path)          # atomic: an interrupted save never leaves half a checkpoint
    return path


def load_checkpoint(directory: str | Path | None, key: str, fingerprint: str = "") -> dict[str, Any] | None:
    """The payload saved under `key`, or None when there is none. Raises
    CheckpointMismatchError when it was written by a run with another fingerprint."""
    if directory is None:
        return None
    path = _path(Path(directory), key)
    if not path.exists():
        return None
    try:
        blob = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # a corrupt file: say which and how to recover
        raise PruningError(f"checkpoint {path} is unreadable ({exc}); delete it to restart that phase") from exc
    if blob.get("fingerprint", "") != fingerprint:
        raise CheckpointMismatchError(
            f"checkpoint {path} was written by a run with other settings; use another output "
            f"directory or delete {Path(directory)} to start over")
    return blob["payload"]
