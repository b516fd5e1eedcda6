"""Fit `smic40-admmnn` to paper 001 (ADMM-NN) inside physical ranges, and record every point.

Targets (issue 9): break-even 2.22 on AlexNet CONV4 (Fig. 4) within +-5%; Table 9's per-layer
speedups of CONV2-5 at the pruning ratios implied by Table 8 within +-25% on CONV4's design
("measured on a representative CONV layer (CONV4 of AlexNet)", paper 001 section 6.2); CONV1
below 1x at the baselines' ratios and r* of CONV1 above Ours' 1.59 (it stays dense).

Fitted: only keys with a sourced physical range, each inside it (codesign.calibrate):
sparse_utilization (stalled sparse-PE cycles, EIE Table IV 0.65-0.96) and
decoder_fo4_per_level (the select mux's delay per 2:1 level, 2-6 FO4 by logical effort: it sets
the sparse clock where the mux path is longer than the SRAM access). Searched as a design
choice: the on-chip weight buffer. Everything else is `smic40` as sourced.

Also recorded: r* of CONV4 against the index width 2..8 with the reason for its shape (the PE
parts and the stored entries at each width), and the sparse/dense PE area ratio.

Run: .venv/bin/python benchmarks/calibrate_admmnn.py [--write]   (--write updates the preset)
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _record import record  # noqa: E402
from codesign.break_even import break_even_table  # noqa: E402
from codesign.calibrate import BreakEvenTarget, CalibrationPoint, fit, predict, predict_break_even  # noqa: E402
from codesign.specs import hardware  # noqa: E402
from hwmodels import paper001  # noqa: E402
from hwmodels.formats import relative_entries_per_nonzero  # noqa: E402

PARAMS = ("sparse_utilization", "decoder_fo4_per_level")
CHOICES = {"onchip_weight_kb": (256.0, 512.0, 1024.0)}
BREAK_EVEN_WEIGHT = 10.0
WIDTHS = range(2, 9)


def main() -> int:
    base = hardware("smic40")
    shapes = {s.name: s for s in paper001.ALEXNET_CONV}
    all_points = paper001.table9_points()
    fit_points = [CalibrationPoint(shapes["conv4"], r, s, f"{method} {layer}")
                  for method, layer, r, s in all_points if layer != "conv1"]
    own_points = [CalibrationPoint(shapes[layer], r, s, method)
                  for method, layer, r, s in all_points if layer != "conv1"]
    conv1_points = [CalibrationPoint(shapes[layer], r, s, method)
                    for method, layer, r, s in all_points if layer == "conv1"]
    targets = [BreakEvenTarget(shapes["conv4"], paper001.BREAK_EVEN_CONV4, BREAK_EVEN_WEIGHT)]
    t0 = time.perf_counter()
    result = fit(base, fit_points, targets, params=PARAMS, choices=CHOICES)
    seconds = time.perf_counter() - t0
    spec = result.spec
    preset = hardware("smic40-admmnn")

    conv1 = predict(spec, conv1_points)
    own = predict(spec, own_points)
    r_star = predict_break_even(spec, [BreakEvenTarget(s, 1.0) for s in paper001.ALEXNET_CONV])
    rows = ["| point | evaluated on | pruning ratio r | paper | model | error | on its own layer (info) |",
            "|---|---|---|---|---|---|---|"]
    be = result.break_even[0]
    rows.append(f"| Fig. 4 break-even r* | conv4 | - | {paper001.BREAK_EVEN_CONV4:.2f} | "
                f"{be.predicted:.3f} | {be.rel_error:+.1%} | - |")
    for p, v in zip(result.points, own):
        rows.append(f"| Table 9 {p.label} | conv4 | {p.ratio:.2f} | {p.target:.2f} | {p.predicted:.2f} | "
                    f"{p.rel_error:+.1%} | {v:.2f} ({v / p.target - 1:+.0%}) |")
    for p, v in zip(conv1_points, conv1):
        rows.append(f"| Table 9 {p.label} conv1 (target: < 1) | conv1 | {p.ratio:.2f} | {p.speedup:.2f} | "
                    f"{v:.2f} | {'ok' if v < 1 else 'FAILS'} | - |")
    worst = max(abs(p.rel_error) for p in result.points)
    fitted = ", ".join(f"{k} = {v:.4g} (range {spec.ranges[k][0]:g}-{spec.ranges[k][1]:g})"
                       for k, v in result.params.items())
    in_preset = ", ".join(f"{k} = {getattr(preset, k):.4g}" for k in (*PARAMS, *CHOICES))
    notes = [f"Fitted (all else from preset smic40): {fitted}; chosen {result.choices}; fit time {seconds:.1f} s. "
             f"The shipped preset has {in_preset}.",
             f"Model r* per layer (conv1..conv5): {', '.join(f'{r:.2f}' for r in r_star)} "
             f"(Ours keeps conv1 dense at r = 1.59: {'yes' if r_star[0] > 1.59 else 'NO'}).",
             f"Worst CONV2-5 error on CONV4's design {worst:.1%} (target 25%); r* CONV4 error "
             f"{be.rel_error:+.1%} (target 5%)."]

    # r* of CONV4 against the index width, on the shipped preset, with the PE parts behind it
    width_rows = ["| index width (bits) | r* CONV4 | sparse PE um2 | select | index | queue | pointer | "
                  "sparse/dense PE | sparse clock ns | stored entries per kept weight at r = 2.22 |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
    conv4 = shapes["conv4"]
    for w in WIDTHS:
        at = preset.replace("index width", index_width_bits=w)
        be_w = break_even_table([conv4], at, "alexnet")
        layer = be_w.layers[0]
        parts = layer.sparse_pe_parts_um2
        dense_pe = layer.designs["dense"]["pe_area_um2"]
        sparse = layer.designs["sparse"]
        entries = float(relative_entries_per_nonzero(1 / paper001.BREAK_EVEN_CONV4, w))
        width_rows.append(
            f"| {w} | {layer.break_even:.2f} | "
            f"{sparse['pe_area_um2']:.0f} | {parts.get('select', 0):.0f} | {parts.get('index', 0):.0f} | "
            f"{parts.get('queue', 0):.0f} | {parts.get('pointer', 0):.0f} | "
            f"{sparse['pe_area_um2'] / dense_pe:.2f} | {sparse['clock_ns']:.3f} | {entries:.3f} |")
    ratio4 = next(r for r in width_rows if r.startswith("| 4 |")).split("|")[8].strip()
    notes.append(
        f"r* of CONV4 against the relative-index width on smic40-admmnn (16-bit weights). Why it has "
        f"this shape: below 3 bits the padding entries of the relative format (one per run of 2^w - 1 "
        f"zeros) outgrow the saved weights, so r* rises; above 4 bits every kept weight carries a wider "
        f"index through the index adder, the nonzero queue and the pointer logic (the PE grows) while "
        f"the banked operand select does not grow with the width, so r* rises slowly. Sparse/dense PE "
        f"area at 16-bit weights and a 4-bit index: {ratio4} (published range 1.34-1.73: Eyeriss v2 "
        f"p. 303, 1.5x/1.73x; SCNN 1.34x chip-level).")
    record("calibrate_admmnn.py", "calibrate_admmnn.py: smic40-admmnn against paper 001 (issue 9)",
           "\n".join(rows) + "\n\n" + "\n".join(width_rows), "\n\n".join(notes))
    if "--write" in sys.argv:
        print("note: --write is not implemented for the sectioned presets; edit "
              "hwmodels/presets/smic40-admmnn.toml with the fitted values above")
    ok = worst <= 0.25 and abs(be.rel_error) <= 0.05 and r_star[0] > 1.59 and all(v < 1 for v in conv1)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
