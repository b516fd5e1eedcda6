"""Small entry points other commands call to write a report next to their output.

`codesign plan ... --report DIR` calls `write_plan_report(plan, network, hw, DIR)`; the plan
command owns its options and only needs `add_report_arg(parser)` and that one call."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Iterable, Mapping


def add_report_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--report", metavar="DIR",
                        help="also write the report (HTML, Markdown, plan.json, layers.csv, "
                             "figures) to DIR")


def write_plan_report(plan, network, hw_config, out_dir: str | Path, *,
                      title: str | None = None, meta: Mapping[str, str] | None = None,
                      notes: Iterable[str] = ()) -> dict[str, Path]:
    """Report of an evaluated codesign.plan.Plan on its network (codesign.graph.Network) and
    hardware config (hwmodels.arch.HwConfig): what `codesign plan ... --report DIR` writes."""
    from codesign.report.build import report_from_plan     # matplotlib: only when writing
    from codesign.report.renderer import render
    shape = "x".join(str(d) for d in network.input_shape)
    meta = {"model": network.name, "input": shape, "hardware": hw_config.name,
            "plan from": plan.source, **dict(meta or {})}
    rep = report_from_plan(plan, network.shapes, hw_config,
                           title=title or f"Plan: {network.name} on {hw_config.name}", meta=meta,
                           notes=list(notes) or [
                               "Speedups, storage and energy are simulated by hwmodels on this "
                               "hardware preset; a layer runs sparse only where its sparse "
                               "design is no slower than the dense one (pruning ratio ≥ r*)."])
    return render(rep, out_dir)


def sweep_heatmap(result, title: str, values, z_label: str):
    """A Heatmap of one per-config metric of a codesign.sweep.SweepResult over its first two
    varied keys (mean over any further keys; NaN where a cell has no finite value)."""
    from codesign.report.model import Heatmap
    xs, ys, img = result.grid_mean(values)
    ky = result.keys[1] if len(result.keys) > 1 else ""
    return Heatmap(title, result.keys[0], xs, ky, ys, img.tolist(), z_label)


def write_sweep_report(result, network, base_hw, out_dir: str | Path, *,
                       title: str | None = None) -> dict[str, Path]:
    """Report of a hardware sweep (codesign.sweep.SweepResult): heatmaps of median r* and of
    the network speedup at the sweep's α, the best configs as a table in the summary."""
    import numpy as np

    from codesign.report.model import Report
    from codesign.report.renderer import render
    r_star = np.where(np.isfinite(result.median_break_even), result.median_break_even, np.nan)
    maps = [sweep_heatmap(result, "median break-even ratio r*", r_star, "r*"),
            sweep_heatmap(result, f"network speedup at α = {result.alpha:g}",
                          result.plan_speedup, "speedup ×")]
    best = int(np.argmax(result.plan_speedup))
    summary = {"configurations": len(result.plan_speedup), "layers": len(result.layer_names),
               "best speedup": float(result.plan_speedup[best]),
               "best config": ", ".join(f"{k}={result.grid[k][best]}" for k in result.keys),
               "median r* at the best config": float(r_star[best])}
    shape = "x".join(str(d) for d in network.input_shape)
    rep = Report(title=title or f"Sweep: {network.name} around {base_hw.name}",
                 meta={"model": network.name, "input": shape, "base hardware": base_hw.name,
                       "varied": ", ".join(result.keys)},
                 summary=summary, heatmaps=maps,
                 notes=["Simulated by hwmodels; cells average over keys beyond the first two."])
    return render(rep, out_dir)
