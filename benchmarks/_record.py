"""Shared by the benchmark scripts: where a result comes from (date, commit, machine) and
appending a table to RESULTS.md."""
from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")
ROOT = Path(__file__).resolve().parents[1]


def commit(root: Path = ROOT) -> str:
    """The checked-out commit's short hash, with "+dirty" when files differ from it (tracked
    changes or new files; RESULTS.md, which benchmarks append to, does not count)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True,
                              timeout=30).stdout.strip()
    try:
        head = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--", ".", ":(exclude)benchmarks/RESULTS.md")
    except (OSError, subprocess.SubprocessError):
        return "commit unknown (no git checkout)"
    return f"commit {head}{'+dirty' if dirty else ''}"


# the load and the code when the benchmark starts (importing this module), not when it writes
_START_LOAD = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
_START_COMMIT = commit()


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, "
            f"load average {_START_LOAD:.1f} at start")


def provenance() -> str:
    """Date, commit and machine of a result, as every RESULTS.md section states them."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"{stamp}, {_START_COMMIT}, {machine()}"


def record(script: str, title: str, table: str, notes: str = "") -> None:
    """Print the table and append it, with date, commit and machine, to benchmarks/RESULTS.md."""
    block = f"\n## {title}\n\n`benchmarks/{script}`, {provenance()}.\n\n{table}\n"
    if notes:
        block += f"\n{notes}\n"
    print(block)
    if not RESULTS.exists():
        RESULTS.write_text("# Benchmark results\n\nEach section is appended by the script it names; "
                           "numbers are as measured on the date, commit and machine given.\n")
    with RESULTS.open("a") as f:
        f.write(block)
