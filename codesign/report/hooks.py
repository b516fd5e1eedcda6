"""Small entry points other commands call to write a report next to their output.

`codesign plan ... --report DIR` calls `write_plan_report`; the plan command owns its options
and only needs `add_report_arg(parser)` and this one call."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Iterable, Mapping

from codesign.report.build import plan_report
from codesign.report.render import render


def add_report_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--report", metavar="DIR",
                        help="also write the report (HTML, Markdown, plan.json, layers.csv, "
                             "figures) to DIR")


def write_plan_report(network, hw_config, alphas: Mapping[str, float], out_dir: str | Path, *,
                      title: str | None = None, meta: Mapping[str, str] | None = None,
                      notes: Iterable[str] = ()) -> dict[str, Path]:
    """Cost-only report of a plan: per-layer α on a network (codesign.graph.Network) and a
    hardware config (hwmodels.arch.HwConfig). Layers absent from `alphas` stay dense; a layer
    whose 1/α is below its r* runs dense too (and is reported so)."""
    shape = "x".join(str(d) for d in network.input_shape)
    meta = {"model": network.name, "input": shape, "hardware": hw_config.name, **dict(meta or {})}
    rep = plan_report(network.shapes, hw_config, alphas,
                      title=title or f"Plan: {network.name} on {hw_config.name}", meta=meta,
                      model=network.name, input_shape=tuple(network.input_shape),
                      notes=list(notes) or [
                          "Speedups, storage and energy are simulated by hwmodels on this "
                          "hardware preset; a layer runs sparse only where its sparse design "
                          "is no slower than the dense one (pruning ratio ≥ r*)."])
    return render(rep, out_dir)
