"""What a run's fingerprint calls a file argument: its contents, not the path it was given by.

A model retrained in place is another model (a run folder must not resume with the old one's
results), and the same file reached by a relative or an absolute path is the same one.
"""
from __future__ import annotations

import functools
import hashlib
from pathlib import Path


def file_identity(argument: str | Path) -> str:
    """`name@digest` of an existing file or directory (every file under it, by relative path
    and bytes); an argument that names no existing path (a built-in name) as given."""
    path = Path(argument)
    if not path.exists():
        return str(argument)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    stamps = tuple((p.relative_to(path).as_posix() if p != path else "", str(p.resolve()),
                    p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    return f"{path.resolve().name}@{_digest(stamps)}"


def data_identity(argument: str | Path) -> str:
    """A DATA argument: a built-in dataset's name wins over a path of that name, as
    pruning.data reads it; anything else is a file or directory."""
    from pruning.data import BUILTIN_DATASETS
    return str(argument) if str(argument) in BUILTIN_DATASETS else file_identity(argument)


@functools.lru_cache(maxsize=64)
def _digest(stamps: tuple) -> str:
    """Cached by (name, size, mtime) of every file: a run asks several times, a large model is
    read once."""
    h = hashlib.sha256()
    for relative, absolute, _size, _mtime in stamps:
        h.update(relative.encode() + b"\0")
        with open(absolute, "rb") as f:
            h.update(hashlib.file_digest(f, "sha256").digest())
    return h.hexdigest()[:16]
