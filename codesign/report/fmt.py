"""One way to print every number, shared by HTML, Markdown and the figures, so the same value
reads the same everywhere: significant digits, never "0.00x" for a real value; and one way to
make a model's text printable (`printable`)."""
from __future__ import annotations

import math
from typing import Any, Callable


def num(x: Any, digits: int = 3) -> str:
    """Significant digits; inf as ∞; ints with thousands separators; bools yes/no."""
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
        if x == 0:
            return "0"
        if abs(x) >= 1e6 or abs(x) < 1e-3:
            return f"{x:.{digits - 1}e}"
        if abs(x) >= 10 ** digits:
            return f"{x:,.0f}"
        return f"{x:#.{digits}g}".rstrip(".") if "e" not in f"{x:#.{digits}g}" else f"{x:.{digits}g}"
    return str(x)


def printable(text: object, keep: Callable[[str], bool] = str.isprintable) -> str:
    """Text from a model (a layer or file name) with every character `keep` refuses written as
    Python escapes it (\\x07, \\u6ce8, \\U0001f600): one line, and names stay distinct."""
    return "".join(ch if keep(ch) else ascii(ch)[1:-1] for ch in str(text))


def times(x: float | None) -> str:
    return "–" if x is None else num(x) + "×"


def span(lo, hi, f=num) -> str:
    return f"{f(lo)}–{f(hi)}"


def bits(b: float | int | None) -> str:
    """Storage in bytes with a binary prefix."""
    if b is None:
        return "–"
    n = float(b) / 8
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} B" if unit == "B" else f"{num(n)} {unit}"
        n /= 1024
    return f"{num(n)} GiB"


def seconds(s: float | None) -> str:
    if s is None:
        return "–"
    for unit, k in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if s >= k or unit == "ns":
            return f"{num(s / k)} {unit}"
    return f"{num(s)} s"


def percent(share: float) -> str:
    """A share as a percentage with one decimal; a share short of 1 never prints as 100%."""
    return "100%" if share >= 1 else f"{min(100 * share, 99.9):.1f}%"


def metric(name: str, value: float) -> str:
    """A task's metric (pruning.tasks): perplexity as a number, accuracy and agreement (fractions)
    as percent with two decimals."""
    return f"{value:.4g}" if name == "perplexity" else f"{100 * value:.2f}%"
