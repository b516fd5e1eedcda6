"""Import the whole fixture set of issue 11 and compare with the independent counts.

The tests/zoo models exported by torch's legacy (opsets 13, 17) and dynamo (opset 18, one
symbolic-batch case) exporters, and the three rapidocr-onnxruntime PaddleOCR models: per model
the import time (median of 3, after the export is cached), compute layers, MACs, the count made
without ONNX (tests/zoo/counts.py; onnx-tool for the OCR models) and the coverage. Exports are
cached under .cache/zoo, so the first run also exports (about a minute here).
Writes the section "## import_zoo.py" of benchmarks/RESULTS.md (replaced when it exists).
Usage: .venv/bin/python benchmarks/import_zoo.py
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT / "tests")]
from _record import RESULTS, provenance  # noqa: E402

from codesign.graph import load_network  # noqa: E402
from codesign.inspect import share_text  # noqa: E402
from zoo.counts import OCR_COUNTS, independent_counts  # noqa: E402
from zoo.export import ZOO, ExportFailed, export, info  # noqa: E402
from zoo.ocr import INPUT_SHAPES, locate_ocr_models  # noqa: E402

SECTION = "## import_zoo.py"


def cases():
    """(model, exporter, opset, export seconds, path or failure reason, input shape, independent MACs)."""
    for name, exporter, opset in ZOO:
        counts = independent_counts(name)
        shape = "x".join(map(str, counts["inputs"][0]["shape"]))
        try:
            path = export(name, exporter, opset)
        except ExportFailed as exc:
            path = exc.reason
        seconds = info(name, exporter, opset, run=False).get("export_seconds")
        yield name, exporter, opset, seconds, path, shape, counts["macs"]
    paths, why = locate_ocr_models()
    for key in sorted(OCR_COUNTS):
        found = paths[key] if paths else f"not available: {why}"
        yield (f"ocr_{key}", "PaddleOCR", "-", None, found, "x".join(map(str, INPUT_SHAPES[key])),
               OCR_COUNTS[key]["macs"])


def row(name, exporter, opset, export_s, path, shape, expected) -> tuple[str, bool]:
    exported = "-" if export_s is None else f"{export_s:.1f}"
    if not isinstance(path, Path):
        return f"| {name} | {exporter} | {opset} | {exported} | - | - | - | {expected:,} | {path[:80]} |", False
    times = []
    for _ in range(3):
        start = time.perf_counter()
        network = load_network(path, shape)
        times.append(time.perf_counter() - start)
    cov = network.coverage_dict()
    coverage = share_text(cov) + (f" ({len(cov['unmodeled'])} gaps)" if cov["unmodeled"] else "")
    ok = abs(network.total_macs - expected) <= 0.01 * expected and cov["share"] == 1.0
    return (f"| {name} | {exporter} | {opset} | {exported} | {statistics.median(times):.3f} | "
            f"{len(network.layers)} | {network.total_macs:,} | {expected:,} | {coverage} |"), ok


def write_section(block: str) -> None:
    """Replace this script's section of RESULTS.md (or append it), leaving the rest intact."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    start = text.find(f"\n{SECTION}\n")
    end = text.find("\n## ", start + 1) if start >= 0 else -1
    head = text[:start] if start >= 0 else text
    tail = text[end:] if end >= 0 else ""
    RESULTS.write_text(head.rstrip("\n") + "\n" + block.rstrip("\n") + "\n" + tail)


def main() -> int:
    start = time.perf_counter()
    rows, bad = [], 0
    for case in cases():
        line, ok = row(*case)
        rows.append(line)
        bad += not ok
        print(line, flush=True)
    table = ("| model | exporter | opset | export s | import s | layers | MACs | independent MACs | coverage |\n"
             "|---|---|---|---|---|---|---|---|---|\n" + "\n".join(rows))
    block = (f"\n{SECTION}\n\nIssue 11's fixture set: `benchmarks/import_zoo.py`, {provenance()}; "
             f"{len(rows)} models, {bad} off by more than 1% or below 100% coverage; whole run "
             f"{time.perf_counter() - start:.0f} s. Export s: the torch export, as recorded when it was "
             "made (cached under .cache/zoo since). Import s: median of 3 imports (load, shape inference, constant folding "
             "when needed, layers). MACs: one multiply-add = one MAC, batch 1.\n\n" + table + "\n")
    write_section(block)
    print(block)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
