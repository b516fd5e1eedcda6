"""Technology tables for a 40 nm-class process: arithmetic units, registers, SRAM macros, DRAM.

Every constant names its source (see /work/shared/notes/hardware.md for the digests):
- Horowitz, "Computing's Energy Problem", ISSCC 2014, 45 nm, 0.9 V: integer/fp add and
  multiply energy; area column [recall, verify].
- Stillmaker & Baas, Integration 2017 (as used by accelergy-library-plug-in scaling.py):
  area factor 45 -> 40 nm ~ 0.79.
- Aladdin 40 nm functional-unit tables (accelergy-aladdin-plug-in data/*.csv): register,
  comparator, crossbar.
- CACTI 7.0 at 40 nm: SRAM macros (hwmodels/data/cacti40.csv, interpolated log-log).
- Accelergy CactiDRAM LPDDR4: 8 pJ/bit.
All functions take numpy arrays (or scalars) and broadcast; nothing here loops over configs.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

DATA_DIR = Path(__file__).with_name("data")

# --- scaling -----------------------------------------------------------------------------
AREA_SCALE_45_TO_40 = 0.79     # Stillmaker & Baas 45->32 nm 0.46 and 65->45 0.66, interpolated

# --- Horowitz 45 nm anchors (energy pJ, area um^2) -------------------------------------------
_MULT_INT = {8: (0.2, 282.0), 32: (3.1, 3495.0)}     # Horowitz int multiply
_ADD_INT_32 = (0.1, 137.0)                            # Horowitz 32-bit int add
FP_MAC = {                                            # Horowitz fp mult + fp add
    "fp16": (1.1 + 0.4, (1640.0 + 1360.0)),
    "fp32": (3.7 + 0.9, (7700.0 + 4184.0)),
}
# Unpipelined MAC delay at 40 nm LP [estimate, notes section 2.4: 8-bit MAC ~0.9-1.2 ns; a
# Wallace-tree multiplier's depth grows with log2 of the operand width].
MAC_DELAY_8B_NS = 1.1
MAC_DELAY_PER_DOUBLING = 0.5          # relative growth per doubling of the width [estimate]
FP_MAC_DELAY_NS = {"fp16": 2.0, "fp32": 3.0}          # unpipelined fp MAC [estimate]

# --- Aladdin 40 nm small cells ------------------------------------------------------------
REGISTER_UM2_PER_BIT = 5.98           # Aladdin reg.csv, 1-bit register
REGISTER_PJ_PER_BIT = 0.009           # Aladdin reg.csv
MUX_UM2_PER_INPUT_BIT = 570.0 / (4 * 32)   # Aladdin 1->4 x 32b crossbar = 570 um^2
ADDER_UM2_PER_BIT = 137.0 / 32 * AREA_SCALE_45_TO_40  # Horowitz 32b add, scaled

DRAM_PJ_PER_BIT_LPDDR4 = 8.0          # Accelergy CactiDRAM LPDDR4 (512 pJ / 64 bit)

MAC_KINDS = ("int", "fp16", "fp32")
SRAM_CELLS = ("hp", "lstp")


def _accumulator_bits(bits):
    # product width plus 8 guard bits, the usual accumulator sizing
    return 2 * np.asarray(bits, dtype=float) + 8


def _int_mult(bits, column: int):
    """Power law through Horowitz's 8-bit and 32-bit multiply (exponent ~2 energy, ~1.8 area)."""
    lo, hi = _MULT_INT[8][column], _MULT_INT[32][column]
    expo = np.log(hi / lo) / np.log(4.0)
    return lo * (np.asarray(bits, dtype=float) / 8.0) ** expo


def mac_energy_pj(bits, kind: str = "int"):
    """Energy of one multiply-accumulate (multiplier + accumulator add), pJ."""
    if kind in FP_MAC:
        return np.full_like(np.asarray(bits, dtype=float), FP_MAC[kind][0])
    add = _ADD_INT_32[0] / 32 * _accumulator_bits(bits)
    return _int_mult(bits, 0) + add


def mac_area_um2(bits, kind: str = "int"):
    """Area of one MAC unit at 40 nm, um^2 (Horowitz 45 nm area scaled by 0.79)."""
    if kind in FP_MAC:
        return np.full_like(np.asarray(bits, dtype=float), FP_MAC[kind][1] * AREA_SCALE_45_TO_40)
    add = _ADD_INT_32[1] / 32 * _accumulator_bits(bits)
    return (_int_mult(bits, 1) + add) * AREA_SCALE_45_TO_40


def mac_delay_ns(bits, kind: str = "int"):
    """Unpipelined MAC critical path, ns [estimate]."""
    if kind in FP_MAC_DELAY_NS:
        return np.full_like(np.asarray(bits, dtype=float), FP_MAC_DELAY_NS[kind])
    doublings = np.log2(np.asarray(bits, dtype=float) / 8.0)
    return MAC_DELAY_8B_NS * (1.0 + MAC_DELAY_PER_DOUBLING * doublings)


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


def _one(column, size_kb, port_bits, cell_code):
    return sram_lookup(size_kb, port_bits, cell_code, (column,))[column]


def sram_access_ns(size_kb, port_bits, cell_code):
    return _one("access_ns", size_kb, port_bits, cell_code)


def sram_read_pj(size_kb, port_bits, cell_code):
    """Dynamic energy of one read access of `port_bits` bits."""
    return _one("read_pj", size_kb, port_bits, cell_code)


def sram_write_pj(size_kb, port_bits, cell_code):
    return _one("write_pj", size_kb, port_bits, cell_code)


def sram_leakage_mw(size_kb, port_bits, cell_code):
    return _one("leakage_mw", size_kb, port_bits, cell_code)


def sram_um2_per_bit(size_kb, port_bits, cell_code):
    """Macro area per stored bit (periphery included), um^2."""
    return sram_area_and_access(size_kb, port_bits, cell_code)[0]


def sram_area_and_access(size_kb, port_bits, cell_code):
    """(um^2 per bit, access ns) from one table lookup."""
    t = cacti_table()
    size = np.clip(np.asarray(size_kb, dtype=float), t.size_kb[0], t.size_kb[-1])
    v = sram_lookup(size, port_bits, cell_code, ("area_mm2", "access_ns"))
    return v["area_mm2"] * 1e6 / (size * 8192.0), v["access_ns"]
