"""Reports for plans, searches and sweeps: HTML (self-contained), Markdown, JSON, CSV, PNG."""
from codesign.report.model import Curve, Heatmap, LayerRow, Report, SearchTrace
from codesign.report.render import ReportError, load, render, rerender

__all__ = ["Curve", "Heatmap", "LayerRow", "Report", "ReportError", "SearchTrace", "load",
           "render", "rerender"]
