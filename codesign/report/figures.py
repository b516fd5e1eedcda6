"""The report's figures as PNG bytes (matplotlib, Agg backend: no display needed)."""
from __future__ import annotations

import io
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from codesign.report.model import Curve, Heatmap, LayerRow, SearchTrace  # noqa: E402

DPI = 72                      # small files: the committed example reports stay a few hundred KB
DENSE, SPARSE = "#8c8c8c", "#1f77b4"


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _short(names: list[str], width: int = 14) -> list[str]:
    return [n if len(n) <= width else "…" + n[-(width - 1):] for n in names]


def _plain_log_ticks(ax) -> None:
    """Log axis labelled 2, 5, 10 rather than 2×10^0."""
    from matplotlib.ticker import FuncFormatter, NullFormatter
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def _wide(values) -> bool:
    """Values spanning more than ~1.5 decades read better on a log axis."""
    v = np.array([x for x in values if x and x > 0 and np.isfinite(x)], float)
    return v.size > 1 and v.max() / v.min() > 30


def _width(n: int) -> float:
    return min(16.0, max(6.0, 0.35 * n + 2))


def speedup_bars(layers: list[LayerRow]) -> bytes:
    """Top: speedup of the chosen implementation per layer. Bottom: planned pruning ratio with
    the break-even ratio r* marked; a bar that does not reach its marker runs dense."""
    x = np.arange(len(layers))
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(_width(len(layers)), 5.2), sharex=True)
    colors = [SPARSE if l.implementation == "sparse" else DENSE for l in layers]
    ax1.bar(x, [l.speedup for l in layers], color=colors)
    ax1.axhline(1.0, color="k", lw=0.8)
    if _wide([l.speedup for l in layers]):
        ax1.set_yscale("log")
    ax1.set_ylabel("speedup ×")
    ax1.set_title("per-layer speedup (blue: sparse, grey: dense)")
    planned = [1.0 / (l.alpha if l.alpha_planned is None else l.alpha_planned) for l in layers]
    ax2.bar(x, planned, color=colors, alpha=0.8, label="planned pruning ratio 1/α")
    finite = [(i, l.r_star) for i, l in enumerate(layers) if math.isfinite(l.r_star)]
    if finite:
        ax2.scatter([i for i, _ in finite], [r for _, r in finite], marker="D", color="#d62728",
                    zorder=3, label="break-even r*")
    never = [i for i, l in enumerate(layers) if not math.isfinite(l.r_star)]
    if never:
        top = max(planned + [r for _, r in finite] + [1.0])
        ax2.scatter(never, [top] * len(never), marker="^", color="#d62728", zorder=3,
                    label="r* never (sparse never wins)")
    ax2.set_yscale("log")
    _plain_log_ticks(ax2)
    ax2.set_ylabel("pruning ratio")
    ax2.legend(fontsize=7, loc="best", framealpha=0.8)
    ax2.set_xticks(x, _short([l.name for l in layers]), rotation=60, ha="right", fontsize=7)
    fig.tight_layout()
    return _png(fig)


def storage_bars(layers: list[LayerRow]) -> bytes:
    """Stacked weights / indices / features per layer, before (left bar) and after (right)."""
    x = np.arange(len(layers))
    w = 0.38
    kib = 8 * 1024
    fig, ax = plt.subplots(figsize=(_width(len(layers)), 3.8))
    wb = np.array([l.weight_bits_before for l in layers]) / kib
    fb = np.array([l.feature_bits for l in layers]) / kib
    wa = np.array([l.weight_bits_after for l in layers]) / kib
    ia = np.array([l.index_bits_after for l in layers]) / kib
    ax.bar(x - w / 2, wb, w, color="#1f77b4", label="weights")
    ax.bar(x - w / 2, fb, w, bottom=wb, color="#2ca02c", label="features")
    ax.bar(x + w / 2, wa, w, color="#1f77b4", hatch="//", edgecolor="white")
    ax.bar(x + w / 2, ia, w, bottom=wa, color="#ff7f0e", hatch="//", edgecolor="white",
           label="indices")
    ax.bar(x + w / 2, fb, w, bottom=wa + ia, color="#2ca02c", hatch="//", edgecolor="white")
    ax.set_ylabel("KiB")
    ax.set_title("storage per layer: before (plain) and after (hatched)")
    if (wb + fb).max() / max((wb + fb).min(), 1e-9) > 50:
        ax.set_yscale("log")
    ax.legend(fontsize=8)
    ax.set_xticks(x, _short([l.name for l in layers]), rotation=60, ha="right", fontsize=7)
    fig.tight_layout()
    return _png(fig)


def speedup_curves(curves: list[Curve]) -> bytes:
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for i, c in enumerate(curves):
        color = plt.cm.tab10(i % 10)
        ax.plot(c.ratios, c.speedups, color=color, label=c.layer)
        if math.isfinite(c.r_star):
            ax.axvline(c.r_star, color=color, ls=":", lw=1)
        if c.planned_ratio and c.planned_ratio > 1:
            ax.scatter([c.planned_ratio], [np.interp(c.planned_ratio, c.ratios, c.speedups)],
                       color=color, zorder=3)
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xscale("log")
    if _wide([v for c in curves for v in c.speedups]):
        ax.set_yscale("log")
    ax.set_xlabel("pruning ratio r = 1/α (dotted: r*, dot: planned)")
    ax.set_ylabel("sparse speedup over dense ×")
    ax.set_title("speedup vs pruning ratio, layers with the most latency")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _png(fig)


def search_progress(searches: list[SearchTrace]) -> bytes:
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(7, 5), sharex=True)
    for i, s in enumerate(searches):
        color = plt.cm.tab10(i % 10)
        it = np.array(s.iterations)
        acc = np.array([np.nan if a is None else a for a in s.accuracy], float)
        ok = np.array(s.accepted)
        ax1.plot(it, acc, color=color, lw=0.8, alpha=0.6)
        ax1.scatter(it[ok], acc[ok], color=color, marker="o", s=18, label=f"{s.algorithm} accepted")
        ax1.scatter(it[~ok], acc[~ok], color=color, marker="x", s=18, label=f"{s.algorithm} rejected")
        ax2.plot(it, s.speedup, color=color, lw=0.8, alpha=0.6)
        ax2.scatter(it[ok], np.array(s.speedup)[ok], color=color, s=18, label=s.algorithm)
        ax2.scatter(it[~ok], np.array(s.speedup)[~ok], color=color, marker="x", s=18)
    floors = {s.accuracy_floor for s in searches if s.accuracy_floor is not None}
    for f in floors:
        ax1.axhline(f, color="#d62728", ls="--", lw=0.8)
    if floors:
        ax1.text(0.01, 0.02, "dashed: lowest accuracy the constraint allows",
                 transform=ax1.transAxes, fontsize=7, color="#d62728")
    ax1.set_ylabel("accuracy %")
    ax1.set_title("search: accuracy and simulated speedup per evaluated candidate")
    ax1.legend(fontsize=7)
    ax2.set_ylabel("speedup ×")
    ax2.set_xlabel("iteration")
    fig.tight_layout()
    return _png(fig)


def heatmap(h: Heatmap) -> bytes:
    z = np.array(h.z, float)
    fig, ax = plt.subplots(figsize=(max(4.5, 0.7 * len(h.x_values) + 2),
                                    max(3.0, 0.45 * len(h.y_values) + 1.5)))
    im = ax.imshow(z, origin="lower", aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(h.x_values)), [str(v) for v in h.x_values])
    ax.set_yticks(range(len(h.y_values)), [str(v) for v in h.y_values])
    ax.set_xlabel(h.x_label)
    ax.set_ylabel(h.y_label)
    ax.set_title(h.title)
    if z.size <= 120:
        for (yi, xi), v in np.ndenumerate(z):
            ax.text(xi, yi, f"{v:.3g}", ha="center", va="center", fontsize=7, color="w")
    fig.colorbar(im, ax=ax, label=h.z_label)
    fig.tight_layout()
    return _png(fig)
