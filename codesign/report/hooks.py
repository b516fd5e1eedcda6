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
