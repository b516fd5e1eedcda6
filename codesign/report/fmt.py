"""One way to print every number, shared by HTML, Markdown and the figures, so the same value
reads the same everywhere (and tests can look for it)."""
from __future__ import annotations

import math
from typing import Any


def num(x: Any, digits: int = 3) -> str:
    """Significant-digit formatting; inf as ∞; ints with thousands separators."""
    if x is None:
        return "–"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        if math.isinf(x):
            return "∞" if x > 0 else "−∞"
        if math.isnan(x):
            return "–"
        if x != 0 and (abs(x) >= 1e6 or abs(x) < 1e-3):
            return f"{x:.{digits - 1}e}"
        if abs(x) >= 100:
            return f"{x:,.0f}"
        return f"{x:.{digits}g}" if abs(x) < 1 else f"{x:.{max(digits - 1, 1)}f}"
    return str(x)


def ratio(x: float) -> str:
    return num(x) + "×" if not math.isinf(x) else "never"


def bits(b: float | int | None) -> str:
    """Storage in bytes with a binary prefix."""
    if b is None:
        return "–"
    n = float(b) / 8
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n:.0f} B"
        n /= 1024
    return f"{n:.1f} GiB"


def seconds(s: float | None) -> str:
    if s is None:
        return "–"
    for unit, k in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if s >= k or unit == "ns":
            return f"{s / k:.3g} {unit}"
    return f"{s:.3g} s"


def percent(frac: float | None) -> str:
    return "–" if frac is None else f"{100 * frac:.2f}%"
