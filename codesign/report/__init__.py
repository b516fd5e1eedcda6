"""Reports for plans, searches and sweeps: HTML (self-contained), Markdown, JSON, CSV, PNG.

Names are imported lazily so that commands that only register a `--report` option do not pay
for matplotlib at start-up."""
from __future__ import annotations

import importlib

_EXPORTS = {"Curve": "model", "Heatmap": "model", "LayerRow": "model", "Report": "model",
            "SearchTrace": "model", "ReportError": "renderer", "load": "renderer",
            "render": "renderer", "rerender": "renderer"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"codesign.report.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'codesign.report' has no attribute {name!r}")
