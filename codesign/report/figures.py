"""The figures of reports and of `breakeven --plot` / `sweep` (matplotlib, Agg backend, imported
only when a figure is drawn). Figures are drawn 12 inches wide at 100 dpi, so a report shows
them at full width with readable text; values that span decades get log scales."""
from __future__ import annotations

import functools
import io
import math
from pathlib import Path

import numpy as np

from codesign.errors import CodesignError
from codesign.report.fmt import printable

DPI = 100
WIDTH = 12.0
DENSE, SPARSE, NEVER = "#8c8c8c", "#1f77b4", "#bdbdbd"
SUFFIXES = (".png", ".svg", ".pdf")


def check_figure_path(path, flag: str) -> None:
    if Path(path).suffix.lower() not in SUFFIXES:
        raise CodesignError(f"{flag} {path}: give a .png, .svg or .pdf file name")


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams.update({"font.size": 11, "axes.titlesize": 12, "legend.fontsize": 9})
    return plt


def _png(fig, fmt: str = "png") -> bytes:
    """The figure encoded (PNG, or another of SUFFIXES), closed."""
    plt = _plt()
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _save(fig, path) -> Path:
    """The figure written to a file the user named (written as pruning.safe_files writes)."""
    from pruning.safe_files import write_file
    return write_file(path, _png(fig, Path(path).suffix.lower()[1:]))


@functools.lru_cache(maxsize=None)
def _glyphs(font_path: str) -> frozenset[int]:
    from matplotlib import ft2font
    return frozenset(ft2font.FT2Font(font_path).get_charmap())


def _label(text: object) -> str:
    """A model's text (layer or file name) as a figure draws it: characters the figure's font
    lacks escaped like control characters (matplotlib warns on stderr and draws a box for
    them), "$" escaped (a pair starts mathtext, which fails on a name like "$\\foo$"), and a
    leading "_" kept off the start (matplotlib leaves such labels out of legends)."""
    from matplotlib import font_manager
    has = _glyphs(font_manager.findfont(font_manager.FontProperties()))
    shown = printable(text, lambda ch: ch.isprintable() and ord(ch) in has).replace("$", r"\$")
    return " " + shown if shown.startswith("_") else shown


def _short(names, width: int = 18) -> list[str]:
    names = [_label(n) for n in names]
    return [n if len(n) <= width else "…" + n[-(width - 1):] for n in names]


def _spans_decades(values) -> bool:
    v = np.array([x for x in values if x is not None and np.isfinite(x) and x > 0], float)
    return v.size > 1 and v.max() / v.min() > 30


def _log_ticks(axis) -> None:
    """Several labelled ticks on a log axis, as plain numbers (2, 5, 10, not 2x10^0); a span
    of less than a decade gets 1, 1.5, 2, 3, 5, 7 per decade."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    lo, hi = axis.get_view_interval()
    subs = (1.0, 1.5, 2.0, 3.0, 5.0, 7.0) if lo > 0 and hi / lo < 12 else (1.0, 2.0, 5.0)
    axis.set_major_locator(LogLocator(base=10, subs=subs))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def speedup_bars(layers: list[dict]) -> bytes:
    """Top: speedup of the chosen implementation per layer. Bottom: the planned pruning ratio
    with r* marked; a layer whose bar does not reach its marker runs dense."""
    plt = _plt()
    x = np.arange(len(layers))
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(WIDTH, 7), sharex=True)
    colors = [SPARSE if l["implementation"] == "sparse" else DENSE for l in layers]
    speed = [l["speedup"] for l in layers]
    ax1.bar(x, speed, color=colors)
    ax1.axhline(1.0, color="k", lw=0.8)
    if _spans_decades(speed):
        ax1.set_yscale("log")
        _log_ticks(ax1.yaxis)
    ax1.set_ylabel("speedup ×")
    from matplotlib.patches import Patch
    ax1.legend(handles=[Patch(color=SPARSE, label="runs sparse"), Patch(color=DENSE, label="runs dense")],
               loc="upper left")
    ax1.set_title("per-layer speedup over the dense baseline")
    planned = [1.0 / l["alpha"] for l in layers]
    ax2.bar(x, planned, color=colors, alpha=0.8, label="planned pruning ratio 1/α")
    finite = [(i, l["break_even"]) for i, l in enumerate(layers) if math.isfinite(l["break_even"])]
    if finite:
        ax2.scatter([i for i, _ in finite], [r for _, r in finite], marker="D", color="#d62728",
                    zorder=3, label="break-even r*")
    never = [i for i, l in enumerate(layers) if not math.isfinite(l["break_even"])]
    if never:
        top = max(planned + [r for _, r in finite] + [2.0])
        ax2.scatter(never, [top] * len(never), marker="^", color="#d62728", zorder=3,
                    label="r* never (sparse never wins)")
    ax2.set_yscale("log")
    ax2.set_ylim(bottom=1.0)
    _log_ticks(ax2.yaxis)
    ax2.set_ylabel("pruning ratio r")
    ax2.legend(loc="upper left", framealpha=0.9)
    ax2.set_xticks(x, _short([l["name"] for l in layers]), rotation=60, ha="right", fontsize=9)
    fig.tight_layout()
    return _png(fig)


def storage_bars(layers: list[dict]) -> bytes:
    """Weights / indices / features per layer: dense (left bar) and planned (right bar)."""
    plt = _plt()
    x = np.arange(len(layers))
    w = 0.38
    kib = 8 * 1024
    fig, ax = plt.subplots(figsize=(WIDTH, 4.8))
    wb = np.array([l["dense_weight_bits_total"] for l in layers]) / kib
    fb = np.array([l["feature_bits_total"] for l in layers]) / kib
    wa = np.array([l["weight_bits_total"] for l in layers]) / kib
    ia = np.array([l["index_bits_total"] for l in layers]) / kib
    ax.bar(x - w / 2, wb, w, color="#1f77b4", label="weights")
    ax.bar(x - w / 2, fb, w, bottom=wb, color="#2ca02c", label="features")
    ax.bar(x + w / 2, wa, w, color="#1f77b4", hatch="//", edgecolor="white")
    ax.bar(x + w / 2, ia, w, bottom=wa, color="#ff7f0e", hatch="//", edgecolor="white", label="indices")
    ax.bar(x + w / 2, fb, w, bottom=wa + ia, color="#2ca02c", hatch="//", edgecolor="white")
    ax.set_ylabel("KiB")
    ax.set_title("storage per layer: dense (plain) and planned (hatched)")
    if _spans_decades(list(wb + fb)):
        ax.set_yscale("log")
        _log_ticks(ax.yaxis)
    ax.legend()
    ax.set_xticks(x, _short([l["name"] for l in layers]), rotation=60, ha="right", fontsize=9)
    fig.tight_layout()
    return _png(fig)


def _curves(ax, curves) -> None:
    plt = _plt()
    for i, c in enumerate(curves):
        color = plt.cm.tab10(i % 10)
        ax.plot(c.ratios, c.speedups, color=color, label=_label(c.layer))
        if math.isfinite(c.r_star):
            ax.axvline(c.r_star, color=color, ls=":", lw=1)
        if c.planned_ratio and c.planned_ratio > 1:
            ax.scatter([c.planned_ratio], [np.interp(c.planned_ratio, c.ratios, c.speedups)],
                       color=color, zorder=3)
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xscale("log")
    _log_ticks(ax.xaxis)
    if _spans_decades([v for c in curves for v in c.speedups]):
        ax.set_yscale("log")
        _log_ticks(ax.yaxis)
    ax.grid(True, which="both", alpha=0.3)
    ax.set_xlabel("pruning ratio r = 1/α (dotted: r*, dot: planned)")
    ax.set_ylabel("sparse over dense speedup ×")
    ax.legend(fontsize=9, ncol=2)


def speedup_curves(curves) -> bytes:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(WIDTH, 5.5))
    _curves(ax, curves)
    ax.set_title("speedup against pruning ratio, the layers with the most latency")
    fig.tight_layout()
    return _png(fig)


def break_even_figure(result, path) -> Path:
    """`codesign breakeven --plot`: the speedup curve of every layer (the first pattern the
    sparse engine can run)."""
    from codesign.report.model import Curve
    plt = _plt()
    runnable = [l.pattern for l in result.layers if any(v is not None for v in l.curve["speedup"])]
    if not runnable:
        from codesign.errors import CodesignError
        raise CodesignError("no layer can run the requested patterns on this sparse engine, so "
                            "there is no speedup curve to plot; choose --patterns the engine runs")
    first = runnable[0]
    curves = [Curve(l.name, l.curve["ratio"], [np.nan if v is None else v for v in l.curve["speedup"]],
                    l.break_even)
              for l in result.layers if l.pattern == first][:12]
    fig, ax = plt.subplots(figsize=(WIDTH, 6))
    _curves(ax, curves)
    ax.set_title(f"{_label(result.model)} on {_label(result.hardware.get('name', ''))}: "
                 f"sparse speedup per layer "
                 f"({first}; first 12 layers)")
    return _save(fig, path)


def search_progress(searches) -> bytes:
    """Accuracy and speedup per evaluated candidate: accepted (filled circle), rejected (red
    cross) and the final compression run (star)."""
    plt = _plt()
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(WIDTH, 7), sharex=True)
    for i, s in enumerate(searches):
        color = plt.cm.tab10(i % 10)
        it = np.array(s.iterations)
        acc = np.array([np.nan if a is None else a for a in s.accuracy], float)
        speed = np.array(s.speedup, float)
        ok = np.array(s.accepted, bool)
        final = np.array([p == "final" for p in s.phases])
        ax1.plot(it, acc, color=color, lw=0.8, alpha=0.5)
        ax2.plot(it, speed, color=color, lw=0.8, alpha=0.5)
        for ax, y in ((ax1, acc), (ax2, speed)):
            ax.scatter(it[ok & ~final], y[ok & ~final], color=color, marker="o", s=40,
                       label=f"{s.algorithm}: accepted")
            ax.scatter(it[~ok & ~final], y[~ok & ~final], color="#d62728", marker="x", s=50,
                       label=f"{s.algorithm}: rejected")
            ax.scatter(it[final], y[final], color=color, marker="*", s=250, edgecolor="k",
                       zorder=4, label=f"{s.algorithm}: final run")
        if s.accuracy_floor is not None:
            ax1.axhline(s.accuracy_floor, color=color, ls="--", lw=1, label=f"{s.algorithm}: allowed minimum")
    ax1.set_ylabel("accuracy %")
    ax1.legend(fontsize=8, ncol=2)
    ax2.set_ylabel("simulated speedup ×")
    ax2.set_xlabel("evaluation")
    ax1.set_title("search: accuracy and speedup of every evaluated plan")
    fig.tight_layout()
    return _png(fig)


MAX_TICKS = 24


def _thin(n: int) -> list[int]:
    """At most MAX_TICKS evenly spaced positions of n labelled cells (every one when few)."""
    step = max(1, -(-n // MAX_TICKS))
    return list(range(0, n, step))


def _sweep_axes(sweep):
    return sweep.keys[0], (sweep.keys[1] if len(sweep.keys) > 1 else None)


def sweep_panels(sweep) -> bytes:
    """One varied key: line plots of latency, speedup and median r* against it. More keys: for
    the first two, heatmaps of the slice at the named values of the others (the fastest
    config's), log colour scale where values span decades, r* "never" hatched."""
    plt = _plt()
    from matplotlib.colors import LogNorm
    from matplotlib.patches import Patch
    kx, ky = _sweep_axes(sweep)
    lat = np.array(sweep.latency_ns, float) / 1e3
    speed = np.array(sweep.speedup, float)
    r = np.array(sweep.median_r_star, float)
    grid = {k: np.array(v, dtype=object) for k, v in sweep.grid.items()}
    sel = np.ones(len(lat), bool)
    for k, v in sweep.slice_values.items():
        sel &= grid[k] == v
    metrics = (("planned latency (µs), lower is better", lat, "viridis_r"),
               (f"speedup over its dense twin at α = {sweep.alpha:g}", speed, "viridis"),
               ("median break-even r*", r, "magma_r"))
    if ky is None:
        xs = np.asarray(grid[kx][sel])
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in xs)
        order = np.argsort(xs.astype(float)) if numeric else np.arange(len(xs))
        x = xs[order].astype(float) if numeric else np.arange(len(xs))
        fig, axes = plt.subplots(1, 3, figsize=(WIDTH, 4.2))
        for ax, (title, values, _) in zip(axes, metrics):
            y = values[sel][order]
            ax.plot(x, np.where(np.isfinite(y), y, np.nan), marker="o" if len(x) <= 60 else None)
            never = ~np.isfinite(y)
            if never.any():
                top = np.nanmax(np.where(np.isfinite(y), y, np.nan)) if np.isfinite(y).any() else 1.0
                ax.scatter(x[never], [top] * int(never.sum()), marker="^", color="#d62728", label="r* never")
                ax.legend()
            if numeric:
                if _spans_decades(x):
                    ax.set_xscale("log")
            else:                              # categories: a readable subset of labels
                ticks = _thin(len(x))
                ax.set_xticks(ticks, [str(xs[order][i]) for i in ticks], rotation=45)
            ax.set_xlabel(kx)
            ax.set_title(title, fontsize=10)
            if _spans_decades(y):
                ax.set_yscale("log")
            ax.grid(alpha=0.3)
        fig.tight_layout()
        return _png(fig)
    xs = list(dict.fromkeys(grid[kx][sel].tolist()))
    ys = list(dict.fromkeys(grid[ky][sel].tolist()))
    fig, axes = plt.subplots(1, 3, figsize=(WIDTH, min(12.0, max(4.0, 0.45 * len(ys) + 2.5))))
    x_at = {v: i for i, v in enumerate(xs)}
    y_at = {v: i for i, v in enumerate(ys)}
    for ax, (title, values, cmap) in zip(axes, metrics):
        img = np.full((len(ys), len(xs)), np.nan)
        never = np.zeros_like(img, dtype=bool)
        for i in np.flatnonzero(sel):
            yi, xi = y_at[grid[ky][i]], x_at[grid[kx][i]]
            img[yi, xi] = values[i] if np.isfinite(values[i]) else np.nan
            never[yi, xi] = not np.isfinite(values[i])
        finite = img[np.isfinite(img)]
        norm = LogNorm(finite.min(), finite.max()) if finite.size and finite.min() > 0 \
            and finite.max() / finite.min() > 30 else None
        im = ax.imshow(img, origin="lower", aspect="auto", cmap=cmap, norm=norm)
        if never.any():
            ax.imshow(np.where(never, 1.0, np.nan), origin="lower", aspect="auto",
                      cmap="Greys", vmin=0, vmax=3)
            if img.size <= 100:
                for yi, xi in np.argwhere(never):
                    ax.text(xi, yi, "never", ha="center", va="center", fontsize=7)
            ax.legend(handles=[Patch(color=NEVER, label="r* never")], loc="upper right", fontsize=8)
        ax.set_xticks(_thin(len(xs)), [str(xs[i]) for i in _thin(len(xs))], rotation=45, fontsize=9)
        ax.set_yticks(_thin(len(ys)), [str(ys[i]) for i in _thin(len(ys))], fontsize=9)
        ax.set_xlabel(kx)
        ax.set_ylabel(ky)
        ax.set_title(title, fontsize=10)
        if img.size <= 100:
            from codesign.report.fmt import num
            for (yi, xi), v in np.ndenumerate(img):
                if np.isfinite(v):
                    shade = im.cmap(im.norm(v))
                    dark = 0.299 * shade[0] + 0.587 * shade[1] + 0.114 * shade[2] < 0.55
                    ax.text(xi, yi, num(float(v)), ha="center", va="center", fontsize=7,
                            color="w" if dark else "k")
        fig.colorbar(im, ax=ax)
    fixed = ", ".join(f"{k} = {v}" for k, v in sweep.slice_values.items())
    fig.suptitle(f"slice at {fixed} (the fastest config's values)" if fixed else "", fontsize=10)
    fig.tight_layout()
    return _png(fig)


def sweep_figure(result, path, within=None) -> Path:
    """`codesign sweep`'s PNG: the report's panels for a SweepResult (`within`: the run folder
    it goes in, see pruning.safe_files)."""
    from codesign.report.build import sweep_data
    from pruning.safe_files import write_file
    return write_file(path, sweep_panels(sweep_data(result)), within=within)
