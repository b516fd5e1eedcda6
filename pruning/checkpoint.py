"""Run checkpoints that cannot execute code: one tensor file per key in a run directory,
written atomically (pruning.safe_files: never through a link planted in the folder), with a
JSON sidecar that holds the run's fingerprint.

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

from pruning import safe_files
from pruning.errors import PruningError

FORMAT = "codesign-checkpoint-2"
MAX_SIDECAR_BYTES = 1 << 20


class CheckpointMismatchError(PruningError):
    """A checkpoint in the run directory belongs to a run with other settings."""


def _paths(directory: Path, key: str) -> tuple[Path, Path]:
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", key)[:120]
    return directory / f"{stem}.pt", directory / f"{stem}.json"


def save_checkpoint(directory: str | Path, key: str, payload: dict[str, Any], fingerprint: str = "") -> Path:
    """Save `payload` under `key`; `directory` itself is one of ours (a link there is refused)."""
    directory = Path(directory)
    data, meta = _paths(directory, key)
    safe_files.write_file(data, lambda f: torch.save(payload, f), within=directory)
    safe_files.write_file(meta, json.dumps({"format": FORMAT, "key": key, "fingerprint": fingerprint}),
                          within=directory)
    return data


def load_checkpoint(directory: str | Path | None, key: str, fingerprint: str = "",
                    device: Any = "cpu") -> dict[str, Any] | None:
    """The payload saved under `key` (its tensors on `device`: a method's state meets weights
    there), or None when there is none. Raises
    CheckpointMismatchError for a checkpoint of another run and PruningError for a file that
    is not one of ours (e.g. a pickle with code in it)."""
    if directory is None:
        return None
    directory = Path(directory)
    data, meta = _paths(directory, key)
    if not os.path.lexists(data) and not os.path.lexists(meta):     # a link counts: refused below
        return None
    where = f"checkpoint {data}"
    try:
        info = json.loads(safe_files.read_file(meta, MAX_SIDECAR_BYTES, within=directory).decode("utf-8"))
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
        with safe_files.open_file(data, within=directory) as fh:
            blob = torch.load(fh, map_location=device, weights_only=True)
    except safe_files.UnsafeFileError:
        raise
    except Exception as exc:  # a corrupt or foreign file: say which and how to recover
        raise PruningError(f"{where} is unreadable or not plain tensors ({type(exc).__name__}); "
                           "delete it to restart that phase") from None
    if not isinstance(blob, dict):
        raise PruningError(f"{where} does not hold a checkpoint dictionary; delete it")
    return blob
