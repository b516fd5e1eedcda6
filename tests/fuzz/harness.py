"""Run the CLI on one fuzz case and judge the outcome.

A case passes when the command either works (exit 0, no non-finite number in its output) or
refuses with one clear line (exit 2: one stderr line of at most MAX_LINE printable characters),
never a traceback, never another exit code, within the time limit. `run_in_process` is for the
fast test subset; `run_forked` (benchmarks/fuzz_campaign.py) runs each case in a forked child with a
wall-clock and a memory limit, so a hang or a blow-up is counted instead of stopping the run.
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import time
import traceback
from dataclasses import dataclass, field

MAX_LINE = 420            # "codesign: error: " + ~300 characters of message + the help hint
TIME_LIMIT = 10.0         # seconds per case
MEMORY_LIMIT = 3 << 30    # bytes of address space per forked case
NON_FINITE = re.compile(r"\b(nan|inf|NaN|Infinity)x?\b")       # "nan", "-inf", "nanx" (a speedup)


@dataclass
class Outcome:
    code: int | None
    out: str = ""
    err: str = ""
    seconds: float = 0.0
    crash: str = ""                   # the exception that escaped main, with its last frame
    notes: list[str] = field(default_factory=list)


def run_in_process(argv: list[str]) -> Outcome:
    from codesign.cli import main
    out, err = io.StringIO(), io.StringIO()
    t0 = time.perf_counter()
    crash, code = "", None
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:           # argparse's own exit (usage errors)
            code = exc.code if isinstance(exc.code, int) else 2
        except BaseException as exc:        # noqa: BLE001 - a crash is what we are counting
            tb = traceback.extract_tb(exc.__traceback__)
            where = f"{tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno}" if tb else "?"
            crash = f"{type(exc).__name__} at {where}: {str(exc)[:120]}"
    return Outcome(code, out.getvalue(), err.getvalue(), time.perf_counter() - t0, crash)


def warm_up() -> None:
    """Import what the commands import, once, in the parent: forked children share it (a
    child that imports onnx and numpy itself spends seconds before it starts)."""
    import codesign.cli  # noqa: F401
    from codesign import api, plan, sweep  # noqa: F401
    from codesign.cli import build_parser
    from codesign.graph import load_network
    build_parser()
    load_network("alexnet")


def run_forked(argv: list[str], time_limit: float = TIME_LIMIT) -> Outcome:
    """The case in a forked child (after warm_up the parent holds the imports: cheap), killed
    past the time limit; the child's outcome comes back through a pipe."""
    import json
    import resource
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:                              # child
        os.close(read)
        try:
            resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
            o = run_in_process(argv)
            payload = {"code": o.code, "out": o.out[-4000:], "err": o.err[-4000:], "seconds": o.seconds,
                       "crash": o.crash}
        except BaseException as exc:          # noqa: BLE001
            payload = {"code": None, "crash": f"{type(exc).__name__} in the harness: {exc}"[:200]}
        with os.fdopen(write, "w") as fh:
            fh.write(json.dumps(payload))
        os._exit(0)
    os.close(write)
    t0 = time.perf_counter()
    deadline = t0 + time_limit
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.perf_counter() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(read)
            return Outcome(None, seconds=time.perf_counter() - t0, crash="hang: killed after the time limit")
        time.sleep(0.01)
    with os.fdopen(read) as fh:
        text = fh.read()
    if not text:
        return Outcome(None, seconds=time.perf_counter() - t0,
                       crash=f"the child died (status {status}: out of memory or a signal)")
    d = json.loads(text)
    return Outcome(d.get("code"), d.get("out", ""), d.get("err", ""), d.get("seconds", 0.0), d.get("crash", ""))


def problems(o: Outcome, time_limit: float = TIME_LIMIT) -> list[str]:
    """What is wrong with an outcome (empty: the case passed)."""
    found = []
    if o.crash:
        found.append(f"crash: {o.crash}")
    elif o.code not in (0, 2):
        found.append(f"exit {o.code}")
    elif o.code == 2:
        lines = [line for line in o.err.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("codesign: error:")]
        if len(errors) != 1:
            found.append(f"{len(errors)} error lines")
        elif len(errors[0]) > MAX_LINE or any(not ch.isprintable() for ch in errors[0]):
            found.append(f"error line of {len(errors[0])} characters or with control characters")
        if any("Traceback" in line for line in lines):
            found.append("traceback on stderr")
    elif NON_FINITE.search(o.out):
        found.append(f"non-finite number in the output: {NON_FINITE.search(o.out).group(0)!r}")
    if o.seconds > time_limit:
        found.append(f"slow: {o.seconds:.1f} s")
    return found
