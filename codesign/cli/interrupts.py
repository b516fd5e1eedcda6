"""Ctrl-C for the command line: at any moment, one line and exit code 130."""
from __future__ import annotations

import signal
from contextlib import contextmanager
from typing import Iterator

# How soon an interrupt that arrived during an import is tried again.
RETRY_SECONDS = 0.05


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, raised by our own handler. Not a bare KeyboardInterrupt because CPython marks one
    that passes through eval() of a string (namedtuple and dataclass creation do that while
    modules import) as unhandled and re-kills the process with SIGINT at exit, so exit code 130
    would be lost even though we caught it."""


def _in_import(frame) -> bool:
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


def _on_signal(signum, frame):
    if _in_import(frame):
        # An extension module interrupted while it initializes can take the interpreter down
        # (onnx's segfaults), so the interrupt waits until the import is done.
        signal.setitimer(signal.ITIMER_REAL, RETRY_SECONDS)
        return
    signal.setitimer(signal.ITIMER_REAL, 0)
    raise Interrupted


@contextmanager
def handled() -> Iterator[None]:
    """Route SIGINT through `_on_signal` while the command runs, unless someone else (a test
    runner, an embedding program) already handles it; the caller's handlers come back after."""
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGALRM)}
    signal.signal(signal.SIGINT, _on_signal)
    if previous[signal.SIGALRM] is signal.SIG_DFL:
        signal.signal(signal.SIGALRM, _on_signal)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
