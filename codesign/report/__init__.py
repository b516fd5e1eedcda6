"""Reports for plans, searches and sweeps: HTML (self-contained), Markdown, JSON, CSV, PNG.

Names are imported lazily, so commands that only offer a --report option pay for matplotlib
only when a report is drawn."""
from __future__ import annotations

import importlib

_EXPORTS = {"Curve": "model", "Report": "model", "SearchTrace": "model", "SweepData": "model",
            "ReportError": "renderer", "load": "renderer", "render": "renderer",
            "rerender": "renderer", "breakeven_report": "build", "plan_report": "build", "search_report": "build",
            "sweep_report": "build"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"codesign.report.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'codesign.report' has no attribute {name!r}")
