"""Reference data from paper 001 (ADMM-NN, ASPLOS'19, sections 5-6) used for calibration.

- AlexNet CONV1-5 as the hardware sees them at a 227x227 input (grouped CONV2/4/5).
- Fig. 4: break-even pruning ratio 2.22 (55% pruning portion) on AlexNet CONV4.
- Table 8: MACs per layer (the paper's counts are 2x ours for CONV2-5 and ~2x for CONV1: it
  counts ungrouped MACs / multiply+add; only the ratios are used) for the original model and
  each method; the ratio original/method is the per-layer pruning ratio.
- Table 9: synthesized per-layer speedups of each method (SMIC 40 nm, Design Compiler).
  "Ours2" is not in Table 8 (only its 25.5x overall / 40.5x CONV2-5 ratio is given), so it is
  not a calibration point.
"""
from __future__ import annotations

from hwmodels.workload import LayerShape

BREAK_EVEN_CONV4 = 2.22

ALEXNET_CONV = (
    LayerShape("conv1", "conv", 1, 3, 96, (11, 11), (227, 227), (55, 55), 1, (4, 4), (1, 1),
               (0, 0, 0, 0), True),
    LayerShape("conv2", "conv", 1, 96, 256, (5, 5), (27, 27), (27, 27), 2, (1, 1), (1, 1),
               (2, 2, 2, 2), True),
    LayerShape("conv3", "conv", 1, 256, 384, (3, 3), (13, 13), (13, 13), 1, (1, 1), (1, 1),
               (1, 1, 1, 1), True),
    LayerShape("conv4", "conv", 1, 384, 384, (3, 3), (13, 13), (13, 13), 2, (1, 1), (1, 1),
               (1, 1, 1, 1), True),
    LayerShape("conv5", "conv", 1, 384, 256, (3, 3), (13, 13), (13, 13), 2, (1, 1), (1, 1),
               (1, 1, 1, 1), True),
)

TABLE8_MACS_M = {        # million MACs, CONV1..CONV5, as printed in Table 8
    "AlexNet": (211, 448, 299, 224, 150),
    "Ours": (133, 31, 18, 16, 11),
    "Han [24]": (177, 170, 105, 83, 56),
    "Mao [36]": (175, 116, 67, 52, 35),
    "Wen [53]": (180, 107, 44, 42, 36),
}

TABLE9_SPEEDUP = {       # CONV1..CONV5
    "Ours": (1.0, 7.0, 7.5, 7.2, 7.1),
    "Han [24]": (0.16, 1.4, 1.6, 1.5, 1.5),
    "Mao [36]": (0.17, 2.6, 3.0, 3.0, 3.0),
    "Wen [53]": (0.15, 2.9, 4.6, 3.8, 2.9),
}


def table9_points() -> list[tuple[str, str, float, float]]:
    """(method, layer, pruning ratio implied by Table 8, Table 9 speedup) for every method in
    both tables. Ours CONV1 is kept dense by the paper (its r = 1.59 is below break-even), so its
    1x is the dense decision, not a sparse speedup: it is returned with ratio 1.59 too, and the
    caller decides how to score it."""
    base = TABLE8_MACS_M["AlexNet"]
    points = []
    for method, speedups in TABLE9_SPEEDUP.items():
        for i, (macs, s) in enumerate(zip(TABLE8_MACS_M[method], speedups)):
            points.append((method, f"conv{i + 1}", base[i] / macs, s))
    return points
