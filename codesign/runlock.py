"""One run per output directory: an exclusive lock on OUT/.codesign.lock.

The lock is an flock on the file, so the operating system releases it when the holding process
ends in any way (kill -9 included): a stale lock file from a killed run is simply taken over.
The file holds the holder's pid and start time, to name it in the error of a second run.
"""
from __future__ import annotations

import fcntl
import json
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from codesign.errors import CodesignError

LOCK_NAME = ".codesign.lock"


class RunDirBusyError(CodesignError):
    """Another codesign run holds the output directory."""


@contextmanager
def run_lock(out: str | Path, command: str = "codesign") -> Iterator[Path]:
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise CodesignError(f"--out {out}: exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    path = out / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(path)
            raise RunDirBusyError(f"--out {out} is in use by another {holder}; wait for it to "
                                  "finish or give another --out") from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "command": command,
                                 "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}).encode())
        yield out
    finally:
        os.close(fd)                      # closing releases the flock


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8")[:1000])
        return f"{str(info.get('command', 'codesign'))[:40]} run (pid {int(info['pid'])}, since {str(info.get('started'))[:20]})"
    except (OSError, ValueError, KeyError, TypeError):
        return "codesign run"
