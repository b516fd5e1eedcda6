"""Technology tables for a 40 nm-class process: MAC units (Horowitz ISSCC'14 anchors scaled to
40 nm) and SRAM macros (a CACTI 7 sweep at 40 nm). Sources are ids of hwmodels/data/sources.toml.

Cell areas (register, mux, adder, counter, comparator), the FO4 delay and the scale factors that
carry each table's uncertainty are keys of hwmodels.spec.Technology, set by the presets; this
module holds only the fixed anchor points and the interpolation. Every function takes numpy
arrays and broadcasts; nothing here loops over configs.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from hwmodels.spec import MAC_KINDS, SRAM_CELLS

DATA_DIR = Path(__file__).with_name("data")
KB_BITS = 8192.0            # bits per KB (1024 bytes) of an SRAM macro or a buffer

AREA_SCALE_45_TO_40 = 0.79     # stillmaker17: 45->32 nm 0.46 and 65->45 nm 0.66, interpolated

# horowitz14, 45 nm: (energy pJ, area um^2)
_MULT_INT = {8: (0.2, 282.0), 32: (3.1, 3495.0)}     # integer multiply
_ADD_INT_32 = (0.1, 137.0)                            # 32-bit integer add
_FP_MAC = {"fp16": (1.1 + 0.4, 1640.0 + 1360.0),      # fp multiply + fp add
           "fp32": (3.7 + 0.9, 7700.0 + 4184.0)}
# An unpipelined MAC's depth grows with log2 of the operand width (Wallace tree + final adder);
# 0.5 per doubling is an estimate, the 8-bit point is the Technology key mac_delay_8b_ns.
MAC_DELAY_PER_DOUBLING = 0.5
FP_MAC_DELAY_X8B = {"fp16": 1.8, "fp32": 2.7}         # fp MAC delay relative to 8-bit int [estimate]


def accumulator_bits(bits):
    """Product width plus 8 guard bits, the usual accumulator sizing."""
    return 2 * np.asarray(bits, dtype=float) + 8


def _int_mult(bits, column: int):
    """Power law through Horowitz's 8-bit and 32-bit multiply (exponent ~2 energy, ~1.8 area)."""
    lo, hi = _MULT_INT[8][column], _MULT_INT[32][column]
    expo = np.log(hi / lo) / np.log(4.0)
    return lo * (np.asarray(bits, dtype=float) / 8.0) ** expo


def _by_kind(kind_code, int_value, fp_values: dict):
    out = np.asarray(int_value, dtype=float)
    for code, kind in enumerate(MAC_KINDS[1:], start=1):
        out = np.where(np.asarray(kind_code) == code, fp_values[kind], out)
    return out


def mac_energy_pj(bits, kind_code=0):
    """Energy of one multiply-accumulate (multiplier + accumulator add), pJ (45 nm Horowitz)."""
    add = _ADD_INT_32[0] / 32 * accumulator_bits(bits)
    return _by_kind(kind_code, _int_mult(bits, 0) + add, {k: v[0] for k, v in _FP_MAC.items()})


def mac_area_um2(bits, kind_code=0):
    """Area of one MAC unit at 40 nm, um^2 (Horowitz 45 nm area scaled by 0.79)."""
    add = _ADD_INT_32[1] / 32 * accumulator_bits(bits)
    fp = {k: v[1] * AREA_SCALE_45_TO_40 for k, v in _FP_MAC.items()}
    return _by_kind(kind_code, (_int_mult(bits, 1) + add) * AREA_SCALE_45_TO_40, fp)


def mac_delay_ns(bits, kind_code, delay_8b_ns):
    """Unpipelined MAC critical path, ns."""
    doublings = np.log2(np.asarray(bits, dtype=float) / 8.0)
    int_delay = delay_8b_ns * (1.0 + MAC_DELAY_PER_DOUBLING * doublings)
    fp = {k: v * np.asarray(delay_8b_ns, dtype=float) for k, v in FP_MAC_DELAY_X8B.items()}
    return _by_kind(kind_code, int_delay, fp)


# --- SRAM (CACTI table) --------------------------------------------------------------------
@dataclass(frozen=True)
class CactiTable:
    size_kb: np.ndarray      # sorted unique macro sizes
    ports: np.ndarray        # sorted unique port widths
    # value[cell][column] -> array (ports, sizes)
    values: dict


@lru_cache(maxsize=1)
def cacti_table() -> CactiTable:
    path = DATA_DIR / "cacti40.csv"
    with path.open() as fh:
        rows = list(csv.DictReader(line for line in fh if not line.startswith("#")))
    sizes = np.array(sorted({float(r["size_kb"]) for r in rows}))
    ports = np.array(sorted({float(r["port_bits"]) for r in rows}))
    columns = ("access_ns", "cycle_ns", "read_pj", "write_pj", "leakage_mw", "area_mm2")
    values: dict = {}
    for cell in SRAM_CELLS:
        values[cell] = {c: np.full((len(ports), len(sizes)), np.nan) for c in columns}
        for r in rows:
            if r["cell"] != cell:
                continue
            i = int(np.searchsorted(ports, float(r["port_bits"])))
            j = int(np.searchsorted(sizes, float(r["size_kb"])))
            for c in columns:
                values[cell][c][i, j] = float(r[c])
    return CactiTable(sizes, ports, values)


@lru_cache(maxsize=1)
def _log_grid():
    """log of every CACTI column as an array [cell, port, size], for gathers."""
    t = cacti_table()
    columns = ("access_ns", "cycle_ns", "read_pj", "write_pj", "leakage_mw", "area_mm2")
    return {c: np.log(np.stack([t.values[cell][c] for cell in SRAM_CELLS])) for c in columns}


def sram_lookup(size_kb, port_bits, cell_code, columns: tuple[str, ...]) -> dict[str, np.ndarray]:
    """CACTI columns at arbitrary macro sizes: piecewise-linear in log(size) and log(port width)
    between table points, clamped to the table (2 KB-2 MB, 64-256 bit). cell_code 0 = hp,
    1 = lstp. Port width and cell are per config, so each config's table row is blended first
    and the big (configs x layers x alphas) arrays only need one flat gather per column."""
    t = cacti_table()
    lsz = np.log(t.size_kb)
    n = lsz.size
    size = np.asarray(size_kb, dtype=float)
    lx = np.log(np.clip(size, t.size_kb[0], t.size_kb[-1]))
    j = np.clip(np.searchsorted(lsz, lx) - 1, 0, n - 2)
    frac = (lx - lsz[j]) / (lsz[j + 1] - lsz[j])
    lports = np.log(t.ports)
    port = np.asarray(port_bits, dtype=float)
    cell = np.asarray(cell_code).astype(np.intp)
    lead = np.broadcast_shapes(port.shape, cell.shape)
    lp = np.log(np.clip(np.broadcast_to(port, lead), t.ports[0], t.ports[-1])).reshape(-1)
    wp = ((lp - lports[0]) / (lports[-1] - lports[0]))[:, None]
    cells = np.broadcast_to(cell, lead).reshape(-1)
    # flat position of (config row, size bracket): row index broadcast like `lead`
    rows = np.arange(cells.size).reshape(lead) if lead else np.int64(0)
    flat = rows * n + j
    grid = _log_grid()
    out = {}
    for c in columns:
        g = grid[c]
        table = (g[cells, 0, :] * (1 - wp) + g[cells, -1, :] * wp).reshape(-1)   # (rows * n,)
        out[c] = np.exp(table[flat] * (1 - frac) + table[flat + 1] * frac)
    return out


def sram_macro(size_kb, port_bits, cell_code) -> dict[str, np.ndarray]:
    """One macro of `size_kb` (clamped to the table): um^2 per stored bit (periphery
    included), access ns, read pJ per bit read and leakage mW, from one table lookup."""
    t = cacti_table()
    size = np.clip(np.asarray(size_kb, dtype=float), t.size_kb[0], t.size_kb[-1])
    v = sram_lookup(size, port_bits, cell_code, ("area_mm2", "access_ns", "read_pj", "leakage_mw"))
    return {"um2_per_bit": v["area_mm2"] * 1e6 / (size * KB_BITS), "access_ns": v["access_ns"],
            "pj_per_bit": v["read_pj"] / np.asarray(port_bits, dtype=float),
            "leakage_mw": v["leakage_mw"]}
