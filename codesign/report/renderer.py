"""Write a `Report` to a directory: report.html (self-contained), report.md, plan.json,
layers.csv, report-data.json and figures/*.png. HTML and Markdown are built from the same
tables, so they show the same numbers; every text from a model (layer names) is escaped."""
from __future__ import annotations

import base64
import csv
import html
import io
import json
import os
import re
from pathlib import Path

from codesign.errors import CodesignError
from codesign.report import fmt
from codesign.report.model import Report
from hwmodels import uncertainty
from hwmodels.decide import ratio_label
from pruning.safe_files import MIB, check_out_folder, delete_file, list_dir, make_dir, read_file, write_file

MAX_CURVES = 6
DATA_FILE = "report-data.json"
MAX_DATA_BYTES = 512 * MIB       # a sweep's report data is ~150 bytes per config, 1M configs at most
REPORT_NAMES = ("figures/", "report.html", "report.md", "plan.json", DATA_FILE, "layers.csv")
MAX_NAME = 48

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1280px;
color:#222;padding:0 1.5em;line-height:1.4}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.25em;margin-top:1.8em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.82em;margin:.6em 0;width:100%}
th,td{border:1px solid #ddd;padding:.25em .4em;text-align:right;vertical-align:top}
th{background:#f4f4f4;position:sticky;top:0}td:first-child,th:first-child{text-align:left;
overflow-wrap:anywhere;max-width:22em}
tr.dense td{color:#666}tr.flip td{background:#fff6e0}.meta{color:#555;font-size:.9em}
table.summary{width:auto}.summary td:first-child{font-weight:600}
figure{margin:1em 0}img{width:100%;height:auto;border:1px solid #eee}
.note{color:#555;font-size:.9em}.verdict{font-size:1.1em;padding:.6em 1em;border-radius:4px}
.ok{background:#e8f5e9}.fail{background:#ffebee}
"""


class ReportError(CodesignError):
    """A run directory holds no report data, or the report cannot be written."""


def short(name: str) -> str:
    return name if len(name) <= MAX_NAME else name[:20] + "…" + name[-(MAX_NAME - 21):]


# -- tables shared by HTML and Markdown ------------------------------------------------------
def summary_rows(report: Report) -> list[list[str]]:
    return [[k, v if isinstance(v, str) else fmt.num(v)] for k, v in report.summary.items()]


LAYER_HEADERS = ["layer", "op", "pattern", "α planned", "r", "r*", "impl.", "speedup",
                 "latency", "weights", "indices", "features"]


def layer_rows(report: Report) -> tuple[list[list[str]], list[str]]:
    """(rows, row classes) of the layer table."""
    rows, classes = [], []
    for l in report.layers:
        r_star = ratio_label(l["break_even"], fmt.num)
        if l.get("break_even_range"):
            r_star += f" ({ratio_label(l['break_even_range'][0], fmt.num)}–{ratio_label(l['break_even_range'][1], fmt.num)})"
        speed = fmt.times(l["speedup"])
        if l.get("speedup_range"):
            speed += f" ({fmt.span(*l['speedup_range'])})"
        flips = uncertainty.flips(l.get("decision_agreement"))
        impl = l["implementation"] + (" (flips)" if flips else "")
        before = fmt.bits(l["dense_weight_bits_total"])
        after = fmt.bits(l["weight_bits_total"])
        rows.append([short(l["name"]), l["op"], l["pattern"], fmt.num(l["alpha"]),
                     fmt.num(1.0 / l["alpha"]), r_star, impl, speed, fmt.seconds(l["latency_ns"] * 1e-9),
                     f"{before} → {after}", fmt.bits(l["index_bits_total"]),
                     fmt.bits(l["feature_bits_total"])])
        classes.append("flip" if flips else l["implementation"])
    return rows, classes


def search_rows(report: Report) -> tuple[list[str], list[list[str]]]:
    keys: list[str] = []
    for s in report.searches:
        keys += [k for k in s.summary if k not in keys]
    rows = [[s.algorithm] + [s.summary[k] if isinstance(s.summary.get(k), str) else fmt.num(s.summary.get(k))
                             for k in keys] for s in report.searches]
    return ["algorithm"] + keys, rows


def sweep_rows(report: Report, top: int = 10) -> tuple[list[str], list[list[str]]]:
    s = report.sweep
    order = sorted(range(len(s.latency_ns)), key=lambda i: s.latency_ns[i])[:top]
    headers = ["rank"] + s.keys + ["latency", "speedup", "median r*"]
    rows = [[str(n + 1)] + [str(s.grid[k][i]) for k in s.keys]
            + [fmt.seconds(s.latency_ns[i] * 1e-9), fmt.times(s.speedup[i]), ratio_label(s.median_r_star[i], fmt.num)]
            for n, i in enumerate(order)]
    return headers, rows


# -- figures -----------------------------------------------------------------------------------
def build_figures(report: Report) -> dict[str, tuple[str, bytes]]:
    """file name -> (caption, PNG bytes)."""
    from codesign.report import figures
    out: dict[str, tuple[str, bytes]] = {}
    if report.layers:
        out["speedup.png"] = ("Per-layer speedup; planned pruning ratio against break-even r*",
                              figures.speedup_bars(report.layers))
        out["storage.png"] = ("Storage per layer: weights, indices and features, dense and planned",
                              figures.storage_bars(report.layers))
    if report.curves:
        out["speedup_vs_r.png"] = ("Speedup against pruning ratio for the layers with the most latency",
                                   figures.speedup_curves(report.curves[:MAX_CURVES]))
    if report.searches:
        out["search.png"] = ("Accuracy and speedup per evaluated plan: accepted, rejected, final run",
                             figures.search_progress(report.searches))
    if report.sweep is not None:
        out["sweep.png"] = ("Planned latency, speedup and median r* over the swept keys",
                            figures.sweep_panels(report.sweep))
    return out


# -- HTML ---------------------------------------------------------------------------------------
def _html_table(headers, rows, row_classes=None, cls: str = "") -> str:
    e = html.escape
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    body = []
    for i, r in enumerate(rows):
        rc = f' class="{e(row_classes[i])}"' if row_classes else ""
        body.append(f"<tr{rc}>" + "".join(f"<td>{e(str(c))}</td>" for c in r) + "</tr>")
    c = f' class="{cls}"' if cls else ""
    return f"<table{c}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _verdict(report: Report) -> tuple[str, bool] | None:
    v = report.summary.get("verdict")
    return (v, report.summary.get("constraint met") is True) if isinstance(v, str) else None


def to_html(report: Report, figs: dict[str, tuple[str, bytes]]) -> str:
    e = html.escape
    parts = [f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
             f"<meta name=\"viewport\" content=\"width=device-width\"><title>{e(report.title)}</title>"
             f"<style>{CSS}</style></head><body>", f"<h1>{e(report.title)}</h1>",
             "<p class=\"meta\">" + " · ".join(f"{e(k)}: {e(str(v))}" for k, v in report.meta.items()) + "</p>"]
    verdict = _verdict(report)
    if verdict:
        parts.append(f"<p class=\"verdict {'ok' if verdict[1] else 'fail'}\">{e(verdict[0])}</p>")
    parts += ["<h2>Summary</h2>", _html_table(["quantity", "value"], summary_rows(report), cls="summary")]
    if report.searches:
        headers, rows = search_rows(report)
        parts += ["<h2>Search</h2>", _html_table(headers, rows)]
    if report.sweep is not None:
        headers, rows = sweep_rows(report)
        parts += ["<h2>Fastest designs</h2>", _html_table(headers, rows)]
    if report.layers:
        rows, classes = layer_rows(report)
        parts += ["<h2>Layers</h2>", _html_table(LAYER_HEADERS, rows, classes)]
    if figs:
        parts.append("<h2>Figures</h2>")
        for name, (caption, png) in figs.items():
            b64 = base64.b64encode(png).decode("ascii")
            parts.append(f"<figure><img alt=\"{e(caption)}\" src=\"data:image/png;base64,{b64}\">"
                         f"<figcaption class=\"note\">{e(caption)}</figcaption></figure>")
    if report.notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in report.notes) + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)


# -- Markdown -----------------------------------------------------------------------------------
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~])")


def md(text: str) -> str:
    """Text from a model made inert in Markdown: control characters and newlines removed,
    markup characters escaped (a layer name cannot open a link or an HTML tag)."""
    clean = "".join(ch if ch.isprintable() else " " for ch in str(text))
    return _MD_SPECIAL.sub(r"\\\1", clean)


def _md_table(headers, rows) -> str:
    lines = ["| " + " | ".join(md(h) for h in headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(md(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def to_markdown(report: Report, figs: dict[str, tuple[str, bytes]]) -> str:
    parts = [f"# {md(report.title)}", "", " · ".join(f"{md(k)}: {md(v)}" for k, v in report.meta.items()), ""]
    verdict = _verdict(report)
    if verdict:
        parts += [f"**{md(verdict[0])}**", ""]
    parts += ["## Summary", "", _md_table(["quantity", "value"], summary_rows(report))]
    if report.searches:
        headers, rows = search_rows(report)
        parts += ["", "## Search", "", _md_table(headers, rows)]
    if report.sweep is not None:
        headers, rows = sweep_rows(report)
        parts += ["", "## Fastest designs", "", _md_table(headers, rows)]
    if report.layers:
        rows, _ = layer_rows(report)
        parts += ["", "## Layers", "", _md_table(LAYER_HEADERS, rows)]
    if figs:
        parts += ["", "## Figures", ""] + [f"![{md(c)}](figures/{name})\n" for name, (c, _) in figs.items()]
    if report.notes:
        parts += ["", "## Notes", ""] + [f"- {md(n)}" for n in report.notes]
    return "\n".join(parts) + "\n"


# -- files --------------------------------------------------------------------------------------
def layers_csv(report: Report) -> str:
    buf = io.StringIO(newline="")
    names = list(report.layers[0])
    w = csv.writer(buf)
    w.writerow(names)
    for l in report.layers:
        w.writerow([json.dumps(l[n]) if isinstance(l[n], (dict, list)) else l[n] for n in names])
    return buf.getvalue()


def render(report: Report, out_dir: str | Path) -> dict[str, Path]:
    """Write every report file into out_dir (never through a link planted there); returns
    name -> path."""
    out = check_out_folder(out_dir, "report folder", REPORT_NAMES)
    figs = build_figures(report)
    folder = make_dir(out / "figures", within=out)
    paths: dict[str, Path] = {}
    for name, (_, png) in figs.items():
        paths[f"figures/{name}"] = write_file(folder / name, png, within=out)
    for old in list_dir(folder, within=out):           # stale figures of an earlier render
        if old.endswith(".png") and f"figures/{old}" not in paths:
            delete_file(folder / old, within=out)
    files = {"report.html": to_html(report, figs), "report.md": to_markdown(report, figs),
             DATA_FILE: json.dumps(report.to_dict(), indent=1)}
    if report.plan is not None:
        files["plan.json"] = json.dumps(report.plan, indent=1)
    if report.layers:
        files["layers.csv"] = layers_csv(report)
    for name, text in files.items():
        paths[name] = write_file(out / name, text, within=out)
    return paths


def load(run_dir: str | Path) -> Report:
    run = Path(run_dir)
    if not run.is_dir():
        raise ReportError(f"{run_dir} is not a directory; give the --report / --out directory of a "
                          "`codesign plan`, `sweep` or `search` run")
    p = run / DATA_FILE
    if not os.path.lexists(p):
        raise ReportError(f"{run_dir} holds no {DATA_FILE}, so it is not a report directory; give the "
                          "--report / --out directory of a `codesign plan`, `sweep` or `search` run")
    raw = read_file(p, MAX_DATA_BYTES)          # not a link, FIFO or device; size capped
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        raise ReportError(f"{p} is not valid report data ({type(exc).__name__}); re-run the command "
                          "that made it") from None
    return Report.from_dict(data, source=str(p))      # checked against the report's types first


def rerender(run_dir: str | Path, out_dir: str | Path | None = None) -> dict[str, Path]:
    return render(load(run_dir), out_dir or run_dir)
