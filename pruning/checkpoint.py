"""Run checkpoints that cannot execute code: one tensor file per key in a run directory,
written atomically, with a JSON sidecar that holds the run's fingerprint.

The sidecar is read (as JSON) and checked before any tensor file is opened, so a checkpoint
of a run with other settings is refused without reading it; tensor files are read with
`torch.load(weights_only=True)`, which accepts tensors, numbers, strings and containers of
them and refuses pickled objects, so a planted file cannot run code.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import torch

from pruning.errors import PruningError

FORMAT = "codesign-checkpoint-2"
MAX_SIDECAR_BYTES = 1 << 20


class CheckpointMismatchError(PruningError):
    """A checkpoint in the run directory belongs to a run with other settings."""


def _paths(directory: Path, key: str) -> tuple[Path, Path]:
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", key)[:120]
    return directory / f"{stem}.pt", directory / f"{stem}.json"


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)              # an interrupted save never leaves half a checkpoint


def save_checkpoint(directory: str | Path, key: str, payload: dict[str, Any], fingerprint: str = "") -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    data, meta = _paths(directory, key)
    _atomic_write(data, lambda p: torch.save(payload, p))
    _atomic_write(meta, lambda p: p.write_text(json.dumps({"format": FORMAT, "key": key,
                                                           "fingerprint": fingerprint})))
    return data


def load_checkpoint(directory: str | Path | None, key: str, fingerprint: str = "") -> dict[str, Any] | None:
    """The payload saved under `key`, or None when there is none. Raises
    CheckpointMismatchError for a checkpoint of another run and PruningError for a file that
    is not one of ours (e.g. a pickle with code in it)."""
    if directory is None:
        return None
    data, meta = _paths(Path(directory), key)
    if not data.exists() and not meta.exists():
        return None
    where = f"checkpoint {data}"
    try:
        if meta.stat().st_size > MAX_SIDECAR_BYTES:
            raise ValueError("sidecar too large")
        info = json.loads(meta.read_text(encoding="utf-8"))
        if not isinstance(info, dict) or info.get("format") != FORMAT:
            raise ValueError("not a codesign checkpoint")
    except (OSError, ValueError, RecursionError) as exc:
        raise PruningError(f"{where} has no valid sidecar {meta.name} ({type(exc).__name__}); delete "
                           f"{Path(directory)} to restart that phase") from None
    if info.get("fingerprint") != fingerprint:
        raise CheckpointMismatchError(
            f"{where} was written by a run with other settings; use another output directory "
            f"or delete {Path(directory)} to start over")
    try:
        blob = torch.load(data, map_location="cpu", weights_only=True)
    except Exception as exc:  # a corrupt or foreign file: say which and how to recover
        raise PruningError(f"{where} is unreadable or not plain tensors ({type(exc).__name__}); "
                           "delete it to restart that phase") from None
    if not isinstance(blob, dict):
        raise PruningError(f"{where} does not hold a checkpoint dictionary; delete it")
    return blob
