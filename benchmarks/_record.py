"""Shared by the benchmark scripts: machine description and appending a table to RESULTS.md."""
from __future__ import annotations

import datetime as _dt
import os
import platform
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")
# the load when the benchmark starts (importing this module), not when it writes its table
_START_LOAD = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


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


def record(script: str, title: str, table: str, notes: str = "") -> None:
    """Print the table and append it, with machine and date, to benchmarks/RESULTS.md."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    block = f"\n## {title}\n\n`benchmarks/{script}`, {stamp}, {machine()}.\n\n{table}\n"
    if notes:
        block += f"\n{notes}\n"
    print(block)
    if not RESULTS.exists():
        RESULTS.write_text("# Benchmark results\n\nEach section is appended by the script it names; "
                           "numbers are as measured on the machine and date given.\n")
    with RESULTS.open("a") as f:
        f.write(block)
