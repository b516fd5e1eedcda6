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
from pruning.errors import PruningError
from pruning.safe_files import check_out_folder, open_own_file, read_file, write_fault

LOCK_NAME = ".codesign.lock"
MAX_LOCK_BYTES = 4096          # a pid, a command name and a time stamp


class RunDirBusyError(CodesignError):
    """Another codesign run holds the output directory."""


@contextmanager
def run_lock(out: str | Path, command: str = "codesign") -> Iterator[Path]:
    out = check_out_folder(out, "--out", (LOCK_NAME,))
    path = out / LOCK_NAME
    fd = open_own_file(path, within=out)             # never through a link planted there
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(path, out)
            raise RunDirBusyError(f"--out {out} is in use by another {holder}; wait for it to "
                                  "finish or give another --out") from None
        try:
            os.ftruncate(fd, 0)
            os.write(fd, json.dumps({"pid": os.getpid(), "command": command,
                                     "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}).encode())
        except OSError as exc:
            raise write_fault(path, exc) from None
        yield out
    finally:
        os.close(fd)                      # closing releases the flock


def _holder(path: Path, out: Path) -> str:
    try:
        info = json.loads(read_file(path, MAX_LOCK_BYTES, within=out))
        return f"{str(info.get('command', 'codesign'))[:40]} run (pid {int(info['pid'])}, since {str(info.get('started'))[:20]})"
    except (OSError, ValueError, KeyError, TypeError, AttributeError, PruningError):
        return "codesign run"
