"""Fit the `smic40-admmnn` preset to paper 001 (ADMM-NN) and record every point's error.

Targets (issue 3): break-even 2.22 on AlexNet CONV4 (Fig. 4) within +-5%; Table 9's per-layer
speedups of CONV2-5 at the per-layer pruning ratios implied by Table 8 within +-25%; CONV1
speedup < 1 at the baselines' ratios (and r* of CONV1 above Ours' 1.59, so it stays dense).
Table 9 was measured "on a representative CONV layer (CONV4 of AlexNet)" (paper 001 section
6.2), so its points are fitted on CONV4's design at each layer's ratio; the table also shows
each point on its own layer's design, for information. CONV1 is checked on its own design.
Fitted: the decoder area scale (continuous, least squares on log errors) for each dense array
in ARRAY_ROWS x PES (physical array sizes; fitting the PE count and PE overhead freely drives
them to unphysical corners, e.g. 96 PEs with no PE overhead); the best is written to
hwmodels/presets/smic40-admmnn.toml. Everything else comes from the `smic40` preset.

Run: .venv/bin/python benchmarks/calibrate_admmnn.py
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _record import record  # noqa: E402
from codesign.calibrate import BreakEvenTarget, CalibrationPoint, fit  # noqa: E402
from codesign.hwconfig import PRESET_DIR, dump_preset, read_preset  # noqa: E402
from hwmodels import paper001  # noqa: E402

ARRAY_ROWS = (8, 16)
PES = (256, 512, 1024)
PARAMS = ("decoder_area_scale",)
BREAK_EVEN_WEIGHT = 10.0


def main() -> int:
    base, sources = read_preset("smic40")
    shapes = {s.name: s for s in paper001.ALEXNET_CONV}
    all_points = paper001.table9_points()
    fit_points = [CalibrationPoint(shapes["conv4"], r, s, f"{method} {layer}")
                  for method, layer, r, s in all_points if layer != "conv1"]
    own_points = [CalibrationPoint(shapes[layer], r, s, method)
                  for method, layer, r, s in all_points if layer != "conv1"]
    conv1_points = [CalibrationPoint(shapes[layer], r, s, method)
                    for method, layer, r, s in all_points if layer == "conv1"]
    targets = [BreakEvenTarget(shapes["conv4"], paper001.BREAK_EVEN_CONV4, BREAK_EVEN_WEIGHT),
               ]
    t0 = time.perf_counter()
    best = None
    for rows in ARRAY_ROWS:
        for pes in PES:
            result = fit(base.replace(array_rows=rows, pes=pes), fit_points, targets, params=PARAMS,
                         starts=[[1.0], [4.0]])
            print(f"array_rows={rows}, pes={pes}: cost {result.cost:.4f}, {result.params}", flush=True)
            if best is None or result.cost < best.cost:
                best = result
    seconds = time.perf_counter() - t0
    cfg = best.config.replace(name="smic40-admmnn")

    from codesign.calibrate import predict, predict_break_even
    conv1 = predict(cfg, conv1_points)
    own = predict(cfg, own_points)
    r_star = predict_break_even(cfg, [BreakEvenTarget(s, 1.0) for s in paper001.ALEXNET_CONV])

    rows_md = ["| point | evaluated on | pruning ratio r | paper | model | error | on its own layer (info) |",
               "|---|---|---|---|---|---|---|"]
    rows_md.append(f"| Fig. 4 break-even r* | conv4 | - | {paper001.BREAK_EVEN_CONV4:.2f} | "
                   f"{best.break_even[0].predicted:.3f} | {best.break_even[0].rel_error:+.1%} | - |")
    for p, q, v in zip(best.points, own_points, own):
        rows_md.append(f"| Table 9 {p.label} | conv4 | {p.ratio:.2f} | {p.target:.2f} | "
                       f"{p.predicted:.2f} | {p.rel_error:+.1%} | {v:.2f} ({v / p.target - 1:+.0%}) |")
    for p, v in zip(conv1_points, conv1):
        rows_md.append(f"| Table 9 {p.label} conv1 (target: < 1) | conv1 | {p.ratio:.2f} | {p.speedup:.2f} | "
                       f"{v:.2f} | {'ok' if v < 1 else 'FAILS'} | - |")
    worst = max(abs(p.rel_error) for p in best.points)
    notes = (f"Fitted (all else from preset smic40): decoder_area_scale = {cfg.decoder_area_scale:.4f}; "
             f"best array of {ARRAY_ROWS} rows x {PES} PEs: {cfg.array_rows} x {cfg.array_cols}; fit time {seconds:.1f} s.\n"
             f"Model r* per layer (conv1..conv5): {', '.join(f'{r:.2f}' for r in r_star)} "
             f"(Ours keeps conv1 dense at r = 1.59: {'yes' if r_star[0] > 1.59 else 'NO'}).\n"
             f"Worst CONV2-5 error {worst:.1%} (target 25%); r* CONV4 error "
             f"{best.break_even[0].rel_error:+.1%} (target 5%). Every design is a same-area dense/sparse pair "
             f"of {cfg.array_rows}-row arrays, {cfg.dataflow.upper()} (index: relative, {cfg.index_bits} bits, "
             f"{cfg.weight_bits}-bit weights).")
    record("calibrate_admmnn.py", "Calibration of smic40-admmnn to paper 001 (issue 3)",
           "\n".join(rows_md), notes)

    fitted_sources = dict(sources)
    fitted_sources["pes"] = ("CHOSEN (best fit of 256/512/1024) by benchmarks/calibrate_admmnn.py; "
                             "sets the PE-to-SRAM area share")
    fitted_sources["array_rows"] = "CHOSEN (best fit of 8/16) by benchmarks/calibrate_admmnn.py"
    fitted_sources["decoder_area_scale"] = ("FITTED to paper 001 Fig. 4 + Table 9; lumps the sparse "
                                            "PE's area, clock and efficiency penalty")
    header = ("smic40-admmnn: the smic40 preset with its free parameters fitted to paper 001\n"
              "(ADMM-NN, ASPLOS'19): r* = 2.22 on AlexNet CONV4 and Table 9's CONV2-5 speedups.\n"
              "Written by benchmarks/calibrate_admmnn.py; see benchmarks/RESULTS.md for every point's error.")
    (PRESET_DIR / "smic40-admmnn.toml").write_text(dump_preset(cfg, fitted_sources, header))
    return 0


if __name__ == "__main__":
    sys.exit(main())
