"""Write a `Report` to a directory: report.html (self-contained), report.md, plan.json,
layers.csv, report-data.json and figures/*.png. HTML and Markdown are built from the same
tables (`tables`), so they show the same numbers."""
from __future__ import annotations

import base64
import csv
import html
import json
from dataclasses import fields
from pathlib import Path

from codesign.errors import CodesignError
from codesign.report import figures
from codesign.report import fmt
from codesign.report.model import LayerRow, Report

MAX_CURVES = 6          # speedup-vs-r curves for the layers with the most dense latency
DATA_FILE = "report-data.json"

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1100px;
color:#222;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.85em;margin:.6em 0}
th,td{border:1px solid #ddd;padding:.25em .5em;text-align:right}
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
tr.dense td{color:#666}.meta{color:#555;font-size:.9em}
img{max-width:100%;height:auto;border:1px solid #eee;margin:.4em 0}.scroll{overflow-x:auto}
.summary td:first-child{font-weight:600}.note{color:#555;font-size:.9em}
"""


class ReportError(CodesignError):
    """A run directory holds no report data, or the report cannot be written."""


# -- tables shared by HTML and Markdown ------------------------------------------------------
def summary_rows(report: Report) -> list[tuple[str, str]]:
    return [(k, fmt.num(v) if not isinstance(v, str) else v) for k, v in report.summary.items()]


LAYER_HEADERS = ["layer", "op", "MACs", "weights", "planned α", "ratio 1/α", "r*", "impl.",
                 "deployed α", "speedup",
                 "sparse speedup", "latency", "storage before", "storage after", "indices"]


def layer_rows(report: Report) -> list[list[str]]:
    rows = []
    for l in report.layers:
        before = l.weight_bits_before + l.feature_bits
        after = l.weight_bits_after + l.index_bits_after + l.feature_bits
        planned = l.alpha if l.alpha_planned is None else l.alpha_planned
        rows.append([l.name, l.op, fmt.num(l.macs), fmt.num(l.weights), fmt.num(planned),
                     fmt.num(1.0 / planned), fmt.ratio(l.r_star), l.implementation,
                     fmt.num(l.alpha), fmt.num(l.speedup), fmt.num(l.sparse_speedup), fmt.seconds(l.latency),
                     fmt.bits(before), fmt.bits(after), fmt.bits(l.index_bits_after)])
    return rows


SEARCH_HEADERS = ["algorithm"]


def search_rows(report: Report) -> tuple[list[str], list[list[str]]]:
    keys: list[str] = []
    for s in report.searches:
        keys += [k for k in s.summary if k not in keys]
    rows = [[s.algorithm] + [fmt.num(s.summary.get(k)) if not isinstance(s.summary.get(k), str)
                             else s.summary[k] for k in keys] for s in report.searches]
    return SEARCH_HEADERS + keys, rows


def heatmap_rows(h) -> tuple[list[str], list[list[str]]]:
    corner = f"{h.y_label} \\ {h.x_label}" if h.y_label else h.x_label
    headers = [corner] + [str(x) for x in h.x_values]
    rows = [[str(y)] + [fmt.num(v) for v in row] for y, row in zip(h.y_values, h.z)]
    return headers, rows


# -- figures -----------------------------------------------------------------------------------
def build_figures(report: Report) -> dict[str, tuple[str, bytes]]:
    """file name -> (caption, PNG bytes)."""
    out: dict[str, tuple[str, bytes]] = {}
    if report.layers:
        out["speedup.png"] = ("Per-layer speedup, pruning ratio and break-even r*",
                              figures.speedup_bars(report.layers))
        out["storage.png"] = ("Storage per layer: weights, indices and features, before and after",
                              figures.storage_bars(report.layers))
    if report.curves:
        lat = {l.name: l.latency_dense for l in report.layers}
        curves = sorted(report.curves, key=lambda c: -lat.get(c.layer, 0.0))[:MAX_CURVES]
        out["speedup_vs_r.png"] = ("Speedup against pruning ratio for the layers that matter",
                                   figures.speedup_curves(curves))
    if report.searches:
        out["search.png"] = ("Accuracy and speedup per search iteration",
                             figures.search_progress(report.searches))
    for i, h in enumerate(report.heatmaps):
        out[f"heatmap_{i}.png"] = (h.title, figures.heatmap(h))
    return out


# -- HTML ---------------------------------------------------------------------------------------
def _html_table(headers: list[str], rows: list[list[str]], row_classes: list[str] | None = None,
                cls: str = "") -> str:
    e = html.escape
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    body = []
    for i, r in enumerate(rows):
        rc = f' class="{row_classes[i]}"' if row_classes else ""
        body.append(f"<tr{rc}>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>")
    c = f' class="{cls}"' if cls else ""
    return (f"<div class=\"scroll\"><table{c}><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table></div>")


def to_html(report: Report, figs: dict[str, tuple[str, bytes]]) -> str:
    e = html.escape
    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
             f"<title>{e(report.title)}</title><style>{CSS}</style></head><body>",
             f"<h1>{e(report.title)}</h1>",
             "<p class=\"meta\">" + " · ".join(f"{e(k)}: {e(str(v))}" for k, v in report.meta.items())
             + "</p>",
             "<h2>Summary</h2>",
             _html_table(["quantity", "value"], [list(r) for r in summary_rows(report)],
                         cls="summary")]
    if report.searches:
        headers, rows = search_rows(report)
        parts += ["<h2>Search</h2>", _html_table(headers, rows)]
    if report.layers:
        parts += ["<h2>Layers</h2>",
                  _html_table(LAYER_HEADERS, layer_rows(report),
                              [l.implementation for l in report.layers])]
    for h in report.heatmaps:
        headers, rows = heatmap_rows(h)
        parts += [f"<h2>{e(h.title)}</h2>", _html_table(headers, rows)]
    if figs:
        parts.append("<h2>Figures</h2>")
        for name, (caption, png) in figs.items():
            b64 = base64.b64encode(png).decode("ascii")
            parts.append(f"<figure><img alt=\"{e(caption)}\" src=\"data:image/png;base64,{b64}\">"
                         f"<figcaption class=\"note\">{e(caption)}</figcaption></figure>")
    if report.notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in report.notes)
                     + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)


# -- Markdown -----------------------------------------------------------------------------------
def _md_table(headers: list[str], rows: list[list[str]]) -> str:
    def cell(s: str) -> str:
        return s.replace("|", "\\|")
    lines = ["| " + " | ".join(cell(h) for h in headers) + " |",
             "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def to_markdown(report: Report, figs: dict[str, tuple[str, bytes]]) -> str:
    parts = [f"# {report.title}", "",
             " · ".join(f"{k}: {v}" for k, v in report.meta.items()), "", "## Summary", "",
             _md_table(["quantity", "value"], [list(r) for r in summary_rows(report)])]
    if report.searches:
        headers, rows = search_rows(report)
        parts += ["", "## Search", "", _md_table(headers, rows)]
    if report.layers:
        parts += ["", "## Layers", "", _md_table(LAYER_HEADERS, layer_rows(report))]
    for h in report.heatmaps:
        headers, rows = heatmap_rows(h)
        parts += ["", f"## {h.title}", "", _md_table(headers, rows)]
    if figs:
        parts += ["", "## Figures", ""]
        parts += [f"![{caption}](figures/{name})\n" for name, (caption, _) in figs.items()]
    if report.notes:
        parts += ["", "## Notes", ""] + [f"- {n}" for n in report.notes]
    return "\n".join(parts) + "\n"


# -- files --------------------------------------------------------------------------------------
def write_layers_csv(report: Report, path: Path) -> None:
    names = [f.name for f in fields(LayerRow)]
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(names + ["ratio"])
        for l in report.layers:
            w.writerow([getattr(l, n) for n in names] + [l.ratio])


def render(report: Report, out_dir: str | Path) -> dict[str, Path]:
    """Write every report file into out_dir; returns name -> path."""
    out = Path(out_dir)
    try:
        (out / "figures").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(f"cannot create report directory {out}: {exc}; choose another --out")
    figs = build_figures(report)
    paths: dict[str, Path] = {}
    for name, (_, png) in figs.items():
        p = out / "figures" / name
        p.write_bytes(png)
        paths[f"figures/{name}"] = p
    for old in (out / "figures").glob("*.png"):       # stale figures of an earlier render
        if f"figures/{old.name}" not in paths:
            old.unlink()
    files = {"report.html": to_html(report, figs), "report.md": to_markdown(report, figs),
             DATA_FILE: json.dumps(report.to_dict(), indent=1)}
    if report.plan is not None:
        files["plan.json"] = json.dumps(report.plan, indent=1)
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8")
        paths[name] = out / name
    if report.layers:
        write_layers_csv(report, out / "layers.csv")
        paths["layers.csv"] = out / "layers.csv"
    return paths


def load(run_dir: str | Path) -> Report:
    p = Path(run_dir) / DATA_FILE
    if not p.exists():
        raise ReportError(f"{run_dir} holds no {DATA_FILE}; give the --out directory of a "
                          f"`codesign plan --report`, `search` or `sweep` run")
    try:
        return Report.from_dict(json.loads(p.read_text()))
    except (ValueError, KeyError, TypeError) as exc:
        raise ReportError(f"{p} is not valid report data ({exc}); re-run the command that "
                          f"made it") from exc


def rerender(run_dir: str | Path, out_dir: str | Path | None = None) -> dict[str, Path]:
    return render(load(run_dir), out_dir or run_dir)
