"""Run one fuzz case and judge the outcome.

A case is (label, argv) for the CLI or (label, function) for the Python API. A CLI case passes
when the command either works (exit 0, no non-finite number in its output) or refuses with one
clear line (exit 2: one stderr line of at most MAX_LINE printable characters), never a traceback,
never another exit code, within the time limit. An API case passes when the call returns or
raises one of the project's error types with a one-line message. Every case also runs with its
working folder in a fresh scratch folder, and nothing outside its run folder may change: the
scratch folder (for the CLI, whose cases give absolute paths only), the scratch folder's parent
and the OUTSIDE folder that planted links point to are compared before and after (names, sizes,
modification times, contents).

`run_in_process` is for the fast test subset; `run_forked` (benchmarks/fuzz_campaign.py) runs
each case in a forked child with a wall-clock and a memory limit, so a hang or a blow-up is
counted instead of stopping the run, and measures the child's peak resident memory.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import signal
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Union

MAX_LINE = 420            # "codesign: error: " + ~300 characters of message + the help hint
TIME_LIMIT = 10.0         # seconds per case
SLOW_LIMIT = 90.0         # seconds per case that trains (prune, search, API calls)
SLOW_COMMANDS = {"prune", "search"}
MEMORY_LIMIT = 3 << 30    # bytes of address space per forked case
RSS_LIMIT_MB = 1024       # the target for every case (issue 26: inputs under 10 MB)
NON_FINITE = re.compile(r"\b(nan|inf|NaN|Infinity)x?\b")       # "nan", "-inf", "nanx" (a speedup)

Call = Callable[[], object]
Case = Union[list, Call]          # argv for the CLI, or a function calling the Python API


@dataclass
class Outcome:
    code: int | None
    out: str = ""
    err: str = ""
    seconds: float = 0.0
    crash: str = ""                   # the exception that escaped main, with its last frame
    notes: list[str] = field(default_factory=list)     # other problems, found by the runner
    peak_rss_mb: float = 0.0          # of the forked child (0: not measured)
    outside: list[str] = field(default_factory=list)   # what changed outside the run folder


def _crash(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    where = f"{tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno}" if tb else "?"
    return f"{type(exc).__name__} at {where}: {str(exc)[:120]}"


def _project_errors() -> tuple[type, ...]:
    from codesign.errors import CodesignError
    from hwmodels.errors import HardwareModelError
    from pruning.errors import PruningError
    return CodesignError, PruningError, HardwareModelError


def _run_cli(argv: list[str]) -> Outcome:
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
            crash = _crash(exc)
    return Outcome(code, out.getvalue(), err.getvalue(), time.perf_counter() - t0, crash)


def _run_call(call: Call) -> Outcome:
    """The API call: returned (code 0; a result's numbers must be finite) or raised a project
    error (code 2, its message as the one error line); any other exception is a crash."""
    out, err = io.StringIO(), io.StringIO()
    t0 = time.perf_counter()
    o = Outcome(None)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            result = call()
            o.code = 0
            to_dict = getattr(result, "to_dict", None)
            o.out = json.dumps(to_dict(), default=str)[-4000:] if callable(to_dict) else ""
        except _project_errors() as exc:
            o.code, message = 2, str(exc)
            o.err = f"codesign: error: {message}\n"
            if "\n" in message.strip():
                o.notes.append(f"{type(exc).__name__} message of {message.count(chr(10)) + 1} lines")
        except BaseException as exc:        # noqa: BLE001
            o.crash = _crash(exc)
    if "Traceback" in err.getvalue() or "Traceback" in out.getvalue():
        o.notes.append("traceback printed by an API call")
    o.seconds = time.perf_counter() - t0
    return o


def run_in_process(case: Case) -> Outcome:
    return _run_cli(case) if isinstance(case, list) else _run_call(case)


def time_limit_for(case: Case) -> float:
    """Commands that train (and API calls, which may) get SLOW_LIMIT, the rest TIME_LIMIT."""
    return SLOW_LIMIT if not isinstance(case, list) or (case and case[0] in SLOW_COMMANDS) else TIME_LIMIT


def warm_up() -> None:
    """Import what the commands import, once, in the parent: forked children share it (a
    child that imports torch, onnx and numpy itself spends seconds before it starts). No torch
    operation runs in the parent (its thread pools would not survive the fork)."""
    import codesign.cli  # noqa: F401
    import torch
    from codesign import api, plan, sweep  # noqa: F401
    from codesign.cli import build_parser
    from codesign.graph import load_network
    torch.set_num_threads(1)
    build_parser()
    load_network("alexnet")


# ---- the folders around a case ---------------------------------------------------------------

OUTSIDE_FILES = {"secret.txt": b"keep me\n", "dir/inner.png": b"\x89PNG keep me too"}


def outside_folder(root: Path) -> Path:
    """The folder outside every run folder (made once under `root`): planted links point here,
    and nothing may change in it."""
    folder = Path(root) / "outside"
    for name, data in OUTSIDE_FILES.items():
        path = folder / name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    return folder


def snapshot(folder: Path, skip: str | None = None) -> dict[str, tuple]:
    """Every entry below `folder` (links not followed; `skip`: a name at the top left out):
    kind, size, modification time, and the digest of small files."""
    found = {}
    for top, dirs, files in os.walk(folder):
        if top == str(folder) and skip in dirs:
            dirs.remove(skip)
        for name in dirs + files:
            path = os.path.join(top, name)
            st = os.lstat(path)
            digest = ""
            if name in files and os.path.isfile(path) and not os.path.islink(path) and st.st_size < 1 << 20:
                with open(path, "rb") as fh:
                    digest = hashlib.sha1(fh.read()).hexdigest()
            found[os.path.relpath(path, folder)] = (st.st_mode, st.st_size, st.st_mtime_ns, digest)
    return found


def changes(before: dict, after: dict, where: str) -> list[str]:
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
    return [f"{what} {where}/{name}" for what, names in (("new", added), ("gone", removed), ("changed", changed))
            for name in names]


class Scene:
    """Where a case runs: `root`/outside (the links' targets), `root`/cwd/case (its working
    folder, fresh for each case). `watch_cwd`: the case writes nothing in its working folder
    (CLI cases name absolute paths only; API calls may be given relative ones)."""

    def __init__(self, root: Path, watch_cwd: bool = True) -> None:
        self.outside = outside_folder(root)
        self.parent = Path(root) / "cwd"
        self.cwd = self.parent / "case"
        self.watch_cwd = watch_cwd

    def _look(self) -> list[dict]:
        return [snapshot(self.outside), snapshot(self.parent, skip=None if self.watch_cwd else "case")]

    def run(self, case: Case, forked: bool = True, time_limit: float | None = None) -> Outcome:
        shutil.rmtree(self.cwd, ignore_errors=True)
        self.cwd.mkdir(parents=True)
        before = self._look()
        limit = time_limit or time_limit_for(case)
        if forked:
            o = run_forked(case, limit, cwd=self.cwd)
        else:
            old = os.getcwd()
            os.chdir(self.cwd)
            try:
                o = run_in_process(case)
            finally:
                os.chdir(old)
        after = self._look()
        o.outside = (changes(before[0], after[0], "outside") +
                     changes(before[1], after[1], "cwd"))
        return o


# ---- the forked child --------------------------------------------------------------------------

def run_forked(case: Case, time_limit: float = TIME_LIMIT, cwd: Path | None = None) -> Outcome:
    """The case in a forked child (after warm_up the parent holds the imports: cheap), killed
    past the time limit; the child's outcome comes back through a pipe, its peak resident
    memory from the kernel (wait4)."""
    import resource
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:                              # child
        os.close(read)
        try:
            resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
            if cwd is not None:
                os.chdir(cwd)
            o = run_in_process(case)
            payload = {"code": o.code, "out": o.out[-4000:], "err": o.err[-4000:], "seconds": o.seconds,
                       "crash": o.crash, "notes": o.notes}
        except BaseException as exc:          # noqa: BLE001
            payload = {"code": None, "crash": f"{type(exc).__name__} in the harness: {exc}"[:200]}
        with os.fdopen(write, "w") as fh:
            fh.write(json.dumps(payload))
        os._exit(0)
    os.close(write)
    t0 = time.perf_counter()
    deadline = t0 + time_limit
    chunks = []
    os.set_blocking(read, False)
    while True:
        with contextlib.suppress(BlockingIOError):
            chunk = os.read(read, 1 << 16)
            while chunk:                      # drain the pipe (a child blocked on a full pipe never ends)
                chunks.append(chunk)
                chunk = os.read(read, 1 << 16)
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            break
        if time.perf_counter() > deadline:
            os.kill(pid, signal.SIGKILL)
            _, _, usage = os.wait4(pid, 0)
            os.close(read)
            return Outcome(None, seconds=time.perf_counter() - t0, crash="hang: killed after the time limit",
                           peak_rss_mb=usage.ru_maxrss / 1024)
        time.sleep(0.01)
    os.set_blocking(read, True)
    with os.fdopen(read, "rb") as fh:
        text = (b"".join(chunks) + fh.read()).decode()
    rss = usage.ru_maxrss / 1024              # KiB on Linux
    if not text:
        return Outcome(None, seconds=time.perf_counter() - t0, peak_rss_mb=rss,
                       crash=f"the child died (status {status}: out of memory or a signal)")
    d = json.loads(text)
    return Outcome(d.get("code"), d.get("out", ""), d.get("err", ""), d.get("seconds", 0.0), d.get("crash", ""),
                   d.get("notes", []), peak_rss_mb=rss)


# ---- the judge ---------------------------------------------------------------------------------

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
    found += o.notes
    if o.outside:
        found.append(f"write outside the run folder: {', '.join(o.outside[:3])}")
    if o.peak_rss_mb > RSS_LIMIT_MB:
        found.append(f"peak RSS {o.peak_rss_mb:.0f} MB")
    if o.seconds > time_limit:
        found.append(f"slow: {o.seconds:.1f} s")
    return found
