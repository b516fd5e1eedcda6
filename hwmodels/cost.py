"""Per-layer cost of dense and sparse implementations: cycles, clock, latency, area, storage,
energy, for arrays of configs (C) x layers (L) x keep fractions alpha (A) in one numpy call.

Two evaluation modes (spec.EvaluationSettings.mode):
- isoarea (paper 001 section 5.1): per layer, the dense design that holds the layer (its PE
  array and SRAM for its weights, features and biases) fixes the area. The sparse design at
  each alpha gets exactly that area: SRAM for its stored entries, indices and features, and as
  many (bigger, slower) sparse PEs as the rest pays for, an area-equivalent real number. Weights above
  `onchip_weight_kb` get a buffer of that size and stream from DRAM once (roofline).
- fixed: one chip. The dense chip has `pes` PEs, the weight and feature buffers and a DRAM
  interface; data that do not fit stream from DRAM. The sparse-capable chip has the same
  buffers and area, hence as many sparse PEs as its PE area pays for, one clock, and runs each
  layer in dense or sparse mode (hwmodels.decide chooses).

Both designs map layers with SCALE-Sim's closed forms (hwmodels.mapping). A sparse design
walks the stored entries (padding included) of the slowest fiber of each column fold, its
streamed dimension stretched by `sparse_utilization`; load balance comes from the binomial
spread of a random mask or exactly from a real one. Layers pruned to whole output channels
run as smaller dense layers (dense PEs, no index), N:M layers need no pointers and are
perfectly balanced; the nm engine runs only the N:M patterns that fit its groups.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from hwmodels import arch, formats, mapping
from hwmodels.arch import KB_BITS, UM2_PER_MM2, PEArea, ceil_log2
from hwmodels.configs import ConfigArray
from hwmodels.errors import ConfigError, FitError
from hwmodels.formats import RELATIVE, MaskStats, Storage
from hwmodels.ties import clearly_less
from hwmodels.workload import LayerArray

NS_PER_GBPS_BIT = 8.0          # GB/s = bytes per ns: 8 bits per ns


@dataclass(frozen=True)
class DesignCost:
    """One implementation of every (config, layer[, alpha]). Times ns, areas um^2, pJ."""
    pes: np.ndarray
    cols: np.ndarray
    pe_area_um2: np.ndarray
    clock_ns: np.ndarray
    area_um2: np.ndarray
    sram_bits: np.ndarray
    cycles: np.ndarray
    time_ns: np.ndarray
    dram_bits: np.ndarray
    energy_pj: np.ndarray
    dataflow: np.ndarray        # mapping code used (hwmodels.mapping.OS/WS/IS)

    def broadcast(self, shape) -> "DesignCost":
        return DesignCost(*(np.broadcast_to(getattr(self, f.name), shape) for f in fields(self)))

    def where(self, pick, other: "DesignCost") -> "DesignCost":
        return DesignCost(*(np.where(pick, getattr(self, f.name), getattr(other, f.name))
                        for f in fields(self)))


@dataclass(frozen=True)
class LayerCosts:
    """Everything hwmodels knows about configs x layers x alphas. `dense` is the baseline
    (C, L, 1); `dense_mode` the dense implementation on the sparse-capable hardware (isoarea:
    the dense design itself; fixed: dense mode on the sparse-capable chip); `sparse` the
    implementation that exploits the layer's structure (C, L, A), `supported` False where the
    hardware cannot run that structure sparsely."""
    mode: str
    alphas: np.ndarray
    dense: DesignCost
    dense_mode: DesignCost
    sparse: DesignCost
    storage: Storage                 # of the sparse implementation
    dense_storage: Storage
    feature_bits_total: np.ndarray
    index_width_bits: np.ndarray
    balance: np.ndarray
    supported: np.ndarray
    sparse_pe: PEArea

    @property
    def shape(self) -> tuple[int, ...]:
        return self.sparse.time_ns.shape


@dataclass(frozen=True)
class MaskArrays:
    """Exact statistics of the layers that have masks, aligned with a LayerArray (in units:
    weights, or blocks for block-pruned layers)."""
    stats: tuple[MaskStats | None, ...]

    def entries(self, width: np.ndarray, relative: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(exact stored units, has-mask flag), both broadcast to (C, L, 1)."""
        shape = (width.shape[0], len(self.stats), 1)
        bits = np.broadcast_to(width, shape)
        rel = np.broadcast_to(relative, shape)
        out = np.full(shape, np.nan)
        for j, st in enumerate(self.stats):
            if st is None:
                continue
            b = bits[:, j, 0].astype(np.int64)
            uniq, inv = np.unique(b, return_inverse=True)
            out[:, j, 0] = np.where(rel[:, j, 0], st.relative_entries(uniq)[inv], st.nnz)
        return out, ~np.isnan(out)

    def balance(self, width, relative, lanes) -> np.ndarray:
        out = np.full(lanes.shape, np.nan)
        bits = np.broadcast_to(width, lanes.shape)
        rel = np.broadcast_to(relative, lanes.shape)
        for j, st in enumerate(self.stats):
            if st is None:
                continue
            for c in range(lanes.shape[0]):
                work = st.fiber_entries(int(bits[c, j, 0]), bool(rel[c, j, 0]))
                out[c, j] = formats.balance_exact(work, lanes[c, j])
        return out


@dataclass(frozen=True)
class _Workload:
    """What the sparse implementation of each layer stores and walks at one index width."""
    storage: Storage
    walk: np.ndarray             # mean entries a filter's PE walks per output
    spread: np.ndarray           # std of that walk across filters
    block_out: np.ndarray        # filters that walk in lockstep (a block's rows)
    filters: np.ndarray          # filters the sparse design computes (channel pruning: fewer)
    channel: np.ndarray          # bool: a smaller dense layer
    nm: np.ndarray               # bool: an N:M layer
    supported: np.ndarray
    width: np.ndarray            # index width in effect (N:M: log2 M)
    relative: np.ndarray         # bool: relative-index format in effect


def _stored_width(cfg, layers):
    return np.where(np.isnan(layers.weight_bits), cfg.weight_bits, layers.weight_bits)


def _workload(cfg, layers: LayerArray, alpha, width, masks: MaskArrays | None, wb) -> _Workload:
    K, N = layers.fibers, layers.fiber_len
    nm = layers.nm_group > 0
    channel = (layers.channel > 0) | (~nm & (layers.block_in >= N))    # a block spanning the reduction too
    bk = np.where(nm | channel, 1.0, layers.block_out)
    bl = np.where(nm | channel, 1.0, layers.block_in)
    unit_fibers, fiber_units = np.ceil(K / bk), np.ceil(N / bl)
    n_units = unit_fibers * fiber_units
    kept = n_units * alpha
    rel_units = n_units * alpha * formats.relative_entries_per_nonzero(alpha, width)
    relative = cfg.index_format == RELATIVE
    if masks is not None:
        exact, has = masks.entries(width, relative)
        rel_units = np.where(has & relative, exact, rel_units)
        kept = np.where(has & ~relative, exact, kept)
    coord = ceil_log2(unit_fibers) + ceil_log2(fiber_units)
    units, index = formats.index_storage(cfg.index_format, kept, rel_units, n_units, unit_fibers,
                                         fiber_units, coord, width)
    entries = units * bk * bl
    walk = units / unit_fibers * bl
    walk = np.where(cfg.index_format == formats.BITMASK,
                    np.maximum(walk, N / cfg.decoder_window), walk)
    padding = units / np.maximum(kept, 1e-300)
    spread = bl * np.sqrt(fiber_units * alpha * (1 - alpha)) * padding

    # N:M layers: on the index engine log2(M) bits per kept weight; on the nm engine the
    # engine's own groups (zeros stored where a layer keeps fewer than the engine's N)
    engine_nm = cfg.is_("sparse_engine", "nm")
    group = np.where(engine_nm, cfg.nm_group, layers.nm_group)
    keep = np.where(engine_nm, cfg.nm_keep, layers.nm_keep)
    nm_per_fiber = formats.nm_kept(N, keep, group)
    nm_entries = K * nm_per_fiber
    entries = np.where(nm, nm_entries, entries)
    index = np.where(nm, nm_entries * ceil_log2(group), index)
    walk = np.where(nm, nm_per_fiber, walk)

    kept_filters = np.clip(np.round(alpha * K), 1.0, K)
    entries = np.where(channel, kept_filters * N, entries)
    index = np.where(channel, 0.0, index)
    walk = np.where(channel, N, walk)
    spread = np.where(nm | channel, 0.0, spread)
    filters = np.where(channel, kept_filters, K)

    engine_index = cfg.is_("sparse_engine", "index")
    fits_nm = formats.nm_compatible(layers.nm_keep, layers.nm_group, cfg.nm_keep, cfg.nm_group)
    supported = (layers.prunable > 0) & (channel | engine_index | (engine_nm & nm & fits_nm))
    storage = Storage(entries, entries * wb, index)
    return _Workload(storage, walk, spread, bk, filters, channel, nm, supported,
                     np.where(nm, ceil_log2(group), width), relative & ~nm & ~channel)


def _macs_walked(layers: LayerArray, w: _Workload) -> np.ndarray:
    """MACs the sparse design issues: the layer's MACs scaled by the weight entries it walks
    (kept and padding) over its K x N weight positions. Not over `layers.weights`: an
    activation x activation product stores none, and its MACs / 0 overflowed (issue 26)."""
    return layers.macs * w.storage.entries / (layers.fibers * layers.fiber_len)


def _balance(w: _Workload, lanes, masks: MaskArrays | None) -> np.ndarray:
    """Expected load-balance efficiency of a column fold: mean / E[max] over its independent
    lanes (a block's filters walk together), or exact from a mask."""
    independent = np.maximum(lanes / w.block_out, 1.0)
    eff = w.walk / (w.walk + w.spread * formats.expected_max_lookup(independent))
    if masks is not None:
        exact = masks.balance(w.width, w.relative, np.broadcast_to(lanes, eff.shape))
        eff = np.where(np.isnan(exact) | w.nm | w.channel, eff, exact)
    return eff


def _cycles(cfg, layers, rows, cols, w: _Workload | None, eff=None, dense_cols=None):
    """Cycles and mapping of a design of rows x cols PEs: dense when `w` is None;
    `dense_cols` for an iso-area sparse design (area-equivalent columns, see mapping)."""
    groups = layers.groups
    if w is None:
        return mapping.cycles(cfg.dataflow, rows, cols, layers.pixels, layers.fibers / groups,
                              groups, layers.fiber_len, layers.fiber_len, layers.fiber_len)
    walk = w.walk / eff
    stall = np.where(w.channel | w.nm | cfg.is_("sparse_engine", "nm"), 1.0,
                     arch.operand_rate(cfg, cols))
    return mapping.cycles(cfg.dataflow, rows, cols, layers.pixels, w.filters / groups, groups,
                          walk, walk, layers.fiber_len, stall, dense_cols)


def _time(cycles, clock, dram_bits, cfg):
    return np.maximum(cycles * clock, dram_bits / (cfg.dram_gbps * NS_PER_GBPS_BIT))


def _energy(cfg, layers, macs_done, gated_macs, weight_store_bits, buf, time_ns, dataflow,
            cols, mac_bits, dram_bits, enabled: bool):
    """SRAM reads: weights once (WS/IS) or once per row fold (OS); inputs once per column;
    leakage over the run; DRAM per bit streamed. Per-access accounting, not calibrated."""
    if not enabled:
        return np.float64(np.nan)
    e_mac = arch.mac_energy(cfg, mac_bits)
    weight_passes = np.where(dataflow == mapping.OS, np.ceil(layers.pixels / cfg.array_rows), 1.0)
    feature_bits = (macs_done / np.maximum(cols, 1.0) + layers.out_elements) * cfg.act_bits
    t = np.where(np.isfinite(time_ns), time_ns, 0.0)
    return (macs_done * e_mac + gated_macs * e_mac * cfg.gated_mac_energy
            + (weight_store_bits * weight_passes + feature_bits) * buf.pj_per_bit
            + buf.leakage_mw * t + dram_bits * cfg.dram_pj_per_bit)


def _weight_buffer(cfg, weight_bits):
    """(on-chip weight SRAM bits, DRAM bits streamed) of an isoarea design: weights above
    onchip_weight_kb get a buffer of that size and stream in once."""
    cap = np.where(cfg.onchip_weight_kb > 0, cfg.onchip_weight_kb * KB_BITS, np.inf)
    stream = weight_bits > cap
    return np.where(stream, cap, weight_bits), np.where(stream, weight_bits, 0.0)


def _index_widths(cfg):
    """The configured width, or every candidate where the policy is `fastest`."""
    fastest = cfg.is_("index_width_policy", "fastest")
    if not np.any(fastest):
        return [cfg.index_width_bits]
    return [np.where(fastest, float(b), cfg.index_width_bits) for b in formats.WIDTH_CANDIDATES]


def _features(cfg, layers):
    return (layers.in_elements + layers.out_elements) * cfg.act_bits + layers.bias * cfg.act_bits * 2


@dataclass(frozen=True)
class Baseline:
    """The alpha-independent part of an evaluation: the dense design (and, on a fixed chip,
    the sparse-capable chip), computed once for the configs and layers it names. The break-
    even solver and plans that evaluate many alphas pass it back to `evaluate`."""
    config_names: tuple[str, ...]
    layer_names: tuple[str, ...]
    dense: DesignCost
    dense_mode: DesignCost
    stored_width: np.ndarray          # bits per stored weight, per layer
    mac_bits: np.ndarray              # MAC width of the designs
    feature_bits: np.ndarray
    area_budget_um2: np.ndarray       # what each sparse design may spend
    dense_pe: PEArea
    sram_area_um2: np.ndarray         # fixed chip: its buffers (isoarea: unused, 0)
    access_ns: np.ndarray             # fixed chip: its buffers' access time
    weight_buffer: arch.SramBuffer | None


def _baseline_isoarea(cfg, layers, names, energy) -> Baseline:
    wb = _stored_width(cfg, layers)                # each layer's designs compute at its width
    rows, control = cfg.array_rows, cfg.control_area_mm2 * UM2_PER_MM2
    feat = _features(cfg, layers)
    onchip_d, dram_d = _weight_buffer(cfg, layers.weights * wb)
    buf_d = arch.sram_buffer(cfg, onchip_d + feat)
    pe_d = arch.dense_pe(cfg, wb)
    area_d = cfg.pes * pe_d.total + buf_d.area_um2 + control
    clk_d = arch.clock_ns(cfg, wb, buf_d.access_ns)
    cyc_d, df_d = _cycles(cfg, layers, rows, cfg.pes / rows, None)
    time_d = _time(cyc_d, clk_d, dram_d, cfg)
    dense = DesignCost(cfg.pes, cfg.pes / rows, pe_d.total, clk_d, area_d, buf_d.bits, cyc_d, time_d,
                   dram_d, _energy(cfg, layers, layers.macs, 0.0, onchip_d, buf_d, time_d, df_d,
                                   cfg.pes / rows, wb, dram_d, energy), df_d)
    return Baseline(names, layers.names, dense, dense, wb, wb, feat, area_d, pe_d,
                    np.zeros(1), np.zeros(1), None)


def _isoarea(cfg, layers, alpha, masks, energy, base: Baseline) -> LayerCosts:
    wb, feat, pe_d = base.stored_width, base.feature_bits, base.dense_pe
    rows, control = cfg.array_rows, cfg.control_area_mm2 * UM2_PER_MM2
    best = None
    for width in _index_widths(cfg):
        w = _workload(cfg, layers, alpha, width, masks, wb)
        onchip_s, dram_s = _weight_buffer(cfg, w.storage.total_bits)
        buf = arch.sram_buffer(cfg, onchip_s + feat)
        sparse_pe = arch.sparse_pe(cfg, wb, wb, w.width)
        pe = PEArea(*(np.where(w.channel, getattr(pe_d, f.name), getattr(sparse_pe, f.name))
                      for f in fields(PEArea)))
        # area-equivalent columns: the same-area trade is continuous (see mapping)
        cols = np.maximum(base.area_budget_um2 - buf.area_um2 - control, 0.0) / (pe.total * rows)
        levels = np.where(w.channel, 0.0, arch.select_levels(cfg, w.width))
        clk = arch.clock_ns(cfg, wb, buf.access_ns, levels)
        eff = _balance(w, np.clip(cols, 1.0, w.filters / layers.groups), masks)
        with np.errstate(divide="ignore", invalid="ignore"):
            cyc, df = _cycles(cfg, layers, rows, np.maximum(cols, 1e-9), w, eff, cfg.pes / rows)
        cyc = np.where((cols > 0) & w.supported, cyc, np.inf)
        time = _time(cyc, clk, dram_s, cfg)
        macs = _macs_walked(layers, w)
        nnz = np.where(w.channel | w.nm, macs, layers.macs * alpha)
        design = DesignCost(cols * rows, cols, pe.total, clk,
                        buf.area_um2 + cols * rows * pe.total + control, buf.bits, cyc, time,
                        np.broadcast_to(dram_s, time.shape),
                        _energy(cfg, layers, nnz, macs - nnz, onchip_s, buf, time, df, cols, wb,
                                dram_s, energy), df)
        cand = (design, w, eff, pe)
        if best is None:
            best = cand
        else:
            faster = clearly_less(design.time_ns, best[0].time_ns)   # a tie keeps the narrower width
            best = (design.where(faster, best[0]), _pick_workload(faster, w, best[1]),
                    np.where(faster, eff, best[2]),
                    PEArea(*(np.where(faster, getattr(pe, f.name), getattr(best[3], f.name))
                             for f in fields(PEArea))))
    design, w, eff, pe = best
    return _costs("isoarea", alpha, base, design, w, eff, pe, layers)


def _pick_workload(pick, a: _Workload, b: _Workload) -> _Workload:
    st = Storage(*(np.where(pick, getattr(a.storage, f.name), getattr(b.storage, f.name))
                   for f in fields(Storage)))
    rest = {f.name: np.where(pick, getattr(a, f.name), getattr(b, f.name))
            for f in fields(_Workload) if f.name != "storage"}
    return _Workload(storage=st, **rest)


def _costs(mode, alpha, base: Baseline, sparse, w, eff, pe, layers) -> LayerCosts:
    shape = np.broadcast_shapes(sparse.time_ns.shape, np.shape(alpha))
    dshape = shape[:2] + (1,)
    wb, feat = base.stored_width, base.feature_bits
    dense_storage = Storage(np.broadcast_to(layers.weights, dshape),
                            np.broadcast_to(layers.weights * wb, dshape), np.zeros(dshape))
    return LayerCosts(
        mode=mode, alphas=np.broadcast_to(alpha, shape),
        dense=base.dense.broadcast(dshape), dense_mode=base.dense_mode.broadcast(dshape),
        sparse=sparse.broadcast(shape),
        storage=Storage(*(np.broadcast_to(getattr(w.storage, f.name), shape) for f in fields(Storage))),
        dense_storage=dense_storage, feature_bits_total=np.broadcast_to(feat, dshape),
        index_width_bits=np.broadcast_to(w.width, shape), balance=np.broadcast_to(eff, shape),
        supported=np.broadcast_to(w.supported, shape),
        sparse_pe=PEArea(*(np.broadcast_to(getattr(pe, f.name), shape) for f in fields(PEArea))))


def check_fits_chip(cfg: ConfigArray, layers: LayerArray) -> None:
    """A fixed chip must hold one fold's working set even when everything streams from DRAM:
    an array's worth of weights in the weight buffer, and the partial sums of one fold plus one
    input column in the feature buffer. Raises FitError naming the layer and the key."""
    c = cfg if cfg.pes.ndim == 3 else cfg.expanded()
    weight_tile = c.pes * c.weight_bits + 0 * layers.weights
    feature_tile = (c.pes * 2 + c.array_rows) * c.act_bits + 0 * layers.weights
    for tile, what, key in ((weight_tile, "weight", "weight_sram_kb"),
                            (feature_tile, "feature", "feature_sram_kb")):
        have = getattr(c, key) * KB_BITS
        bad = np.broadcast_to(tile > have, np.broadcast(tile, have).shape)
        if bad.any():
            ci, li = (int(i) for i in np.argwhere(bad)[0][:2])
            need_kb = float(np.broadcast_to(tile, bad.shape)[ci, li, 0]) / KB_BITS
            have_kb = float(np.broadcast_to(have, bad.shape)[ci, li, 0]) / KB_BITS
            raise FitError(f"layer {layers.names[li]!r} does not fit the fixed chip even from "
                           f"DRAM: one {what} tile needs {need_kb:.3g} KB but {key} = "
                           f"{have_kb:.3g} KB; raise {key} or use fewer PEs")


def _dram_fixed(cfg, layers, weight_bits, feature_bits):
    """Weights stream in once (in tiles of the weight buffer); inputs are re-read once per
    weight tile and outputs written once when the features do not fit the feature buffer."""
    tiles = np.ceil(weight_bits / (cfg.weight_sram_kb * KB_BITS))
    spill = feature_bits > cfg.feature_sram_kb * KB_BITS
    feat = np.where(spill, (layers.in_elements * np.maximum(tiles, 1) + layers.out_elements)
                    * cfg.act_bits, 0.0)
    return weight_bits + feat


def _baseline_fixed(cfg, layers, names, energy) -> Baseline:
    check_fits_chip(cfg, layers)
    wb = _stored_width(cfg, layers)
    wide = np.broadcast_to(wb > cfg.weight_bits, np.broadcast(wb, cfg.weight_bits).shape)
    if np.any(wide):
        j = int(np.argwhere(wide)[0][1])
        raise ConfigError(f"layer {layers.names[j]!r} stores {int(np.max(wb))}-bit weights but the fixed "
                          f"chip's MACs are {int(np.min(cfg.weight_bits))}-bit (hardware key 'weight_bits')")
    mac_bits, rows = cfg.weight_bits, cfg.array_rows
    control = cfg.control_area_mm2 * UM2_PER_MM2
    wbuf = arch.sram_buffer(cfg, cfg.weight_sram_kb * KB_BITS)
    fbuf = arch.sram_buffer(cfg, cfg.feature_sram_kb * KB_BITS)
    sram_area = wbuf.area_um2 + fbuf.area_um2
    access = np.maximum(wbuf.access_ns, fbuf.access_ns)
    pe_d = arch.dense_pe(cfg, mac_bits)
    area = cfg.pes * pe_d.total + sram_area + control
    feat = _features(cfg, layers)
    clk_d = arch.clock_ns(cfg, mac_bits, access)
    cyc_d, df_d = _cycles(cfg, layers, rows, cfg.pes / rows, None)
    dense_store = layers.weights * wb
    dram_d = _dram_fixed(cfg, layers, dense_store, feat)
    time_d = _time(cyc_d, clk_d, dram_d, cfg)
    sram_bits = np.broadcast_to(wbuf.bits + fbuf.bits, time_d.shape)
    dense = DesignCost(cfg.pes, cfg.pes / rows, pe_d.total, clk_d, area, sram_bits, cyc_d, time_d, dram_d,
                   _energy(cfg, layers, layers.macs, 0.0, dense_store, wbuf, time_d, df_d,
                           cfg.pes / rows, mac_bits, dram_d, energy), df_d)
    # the sparse-capable chip: the same buffers and area, its PEs sized by their parts
    spe = arch.sparse_pe(cfg, mac_bits, mac_bits, cfg.index_width_bits)
    cols_s = np.floor(np.maximum(area - sram_area - control, 0.0) / (spe.total * rows))
    if np.any(cols_s < 1):
        raise FitError("the sparse-capable chip has no room for one column of sparse PEs at the "
                       "dense chip's area; give the chip more PEs (pes) or smaller buffers")
    clk_s = arch.clock_ns(cfg, mac_bits, access, arch.select_levels(cfg, cfg.index_width_bits))
    cyc_m, df_m = _cycles(cfg, layers, rows, cols_s, None)
    time_m = _time(cyc_m, clk_s, dram_d, cfg)
    dense_mode = DesignCost(cols_s * rows, cols_s, spe.total, clk_s, area, sram_bits, cyc_m, time_m,
                        dram_d, _energy(cfg, layers, layers.macs, 0.0, dense_store, wbuf, time_m,
                                        df_m, cols_s, mac_bits, dram_d, energy), df_m)
    return Baseline(names, layers.names, dense, dense_mode, wb, mac_bits, feat, area, pe_d,
                    sram_area, access, wbuf)


def _fixed(cfg, layers, alpha, masks, energy, base: Baseline) -> LayerCosts:
    rows, mac_bits, wb = cfg.array_rows, base.mac_bits, base.stored_width
    mode = base.dense_mode
    width = cfg.index_width_bits                   # the decoder is fixed in silicon on one chip
    w = _workload(cfg, layers, alpha, width, masks, wb)
    spe = arch.sparse_pe(cfg, mac_bits, mac_bits, width)
    eff = _balance(w, np.minimum(mode.cols, w.filters / layers.groups), masks)
    cyc_s, df_s = _cycles(cfg, layers, rows, mode.cols, w, eff)
    cyc_s = np.where(w.supported, cyc_s, np.inf)
    dram_s = _dram_fixed(cfg, layers, w.storage.total_bits, base.feature_bits)
    time_s = _time(cyc_s, mode.clock_ns, dram_s, cfg)
    macs = _macs_walked(layers, w)
    nnz = np.where(w.channel | w.nm, macs, layers.macs * alpha)
    sparse = DesignCost(mode.pes, mode.cols, spe.total, mode.clock_ns, mode.area_um2, mode.sram_bits,
                    cyc_s, time_s, dram_s,
                    _energy(cfg, layers, nnz, macs - nnz, w.storage.total_bits, base.weight_buffer,
                            time_s, df_s, mode.cols, mac_bits, dram_s, energy), df_s)
    return _costs("fixed", alpha, base, sparse, w, eff, spe, layers)


def baseline(configs: ConfigArray, layers: LayerArray, energy: bool = True) -> Baseline:
    """The dense designs (and the fixed chip's sparse-capable twin) of configs x layers."""
    cfg = configs.expanded()
    make = _baseline_fixed if configs.mode == "fixed" else _baseline_isoarea
    return make(cfg, layers, configs.names, energy)


def evaluate(configs: ConfigArray, layers: LayerArray, alphas, masks: MaskArrays | None = None,
             energy: bool = True, base: Baseline | None = None) -> LayerCosts:
    """Evaluate configs x layers x alphas. `alphas` broadcasts to (C, L, A) (an (A,) grid, or
    (1, L, 1) per-layer keep fractions); layers with no prunable weight stay at alpha 1.
    energy=False skips the energy terms (NaN), which the break-even solver does not need.
    `base`: the Baseline of these configs and layers, when the caller already has it."""
    cfg = configs.expanded()
    if base is None:
        base = baseline(configs, layers, energy)
    elif base.config_names != configs.names or base.layer_names != layers.names:
        raise ConfigError("evaluate: the baseline was computed for other configs or layers")
    alpha = np.asarray(alphas, dtype=float)
    if alpha.ndim <= 1:
        alpha = alpha.reshape(1, 1, -1)
    if not np.all((alpha > 0) & (alpha <= 1)):
        raise ConfigError("keep fractions alpha must be in (0, 1]")
    alpha = np.where(layers.prunable > 0, alpha, 1.0)
    if configs.mode == "fixed":
        return _fixed(cfg, layers, alpha, masks, energy, base)
    return _isoarea(cfg, layers, alpha, masks, energy, base)
