"""Builders: a plan on a hardware config, or a search run, into a `Report`."""
from __future__ import annotations

import time
from typing import Iterable, Mapping, Sequence

import numpy as np

from codesign.report.model import Curve, LayerRow, Report, SearchTrace
from codesign.search.records import SearchResult

CURVE_RATIOS = np.geomspace(1.0, 100.0, 41)
CURVE_LAYERS = 6
NS, PJ = 1e-9, 1e-12


def plan_totals(rows: Sequence[LayerRow]) -> dict[str, float]:
    def speed(sel):
        dense = sum(r.latency_dense for r in sel)
        return dense / sum(r.latency for r in sel) if sel else 1.0
    conv = [r for r in rows if r.op in ("conv", "conv_transpose")]
    weights = sum(r.weights for r in rows)
    kept = sum(round(r.weights * r.alpha) for r in rows)
    conv_w = sum(r.weights for r in conv)
    conv_kept = sum(round(r.weights * r.alpha) for r in conv)
    energy_ok = all(r.energy is not None and r.energy_dense is not None for r in rows)
    out = {
        "whole-network speedup": speed(rows),
        "conv-only speedup": speed(conv),
        "overall pruning ratio": weights / max(kept, 1),
        "conv pruning ratio": conv_w / max(conv_kept, 1) if conv else 1.0,
        "latency dense (s)": sum(r.latency_dense for r in rows),
        "latency planned (s)": sum(r.latency for r in rows),
        "weight storage dense (bits)": sum(r.weight_bits_before for r in rows),
        "weight + index storage planned (bits)": sum(r.weight_bits_after + r.index_bits_after
                                                     for r in rows),
        "sparse layers": sum(r.implementation == "sparse" for r in rows),
        "layers": len(rows),
    }
    if energy_ok:
        out["energy dense (J)"] = sum(r.energy_dense for r in rows)
        out["energy planned (J)"] = sum(r.energy for r in rows)
    return out


def layer_rows(plan, shapes, hw) -> list[LayerRow]:
    """Report rows from a codesign.plan.Plan (its evaluation) and the layers' shapes."""
    by_name = {s.name: s for s in shapes}
    rows = []
    for lp, ev in zip(plan.layers, plan.evaluation.layers):
        s = by_name[lp.name]
        sparse = ev.implementation == "sparse"
        rows.append(LayerRow(
            name=ev.name, op=s.op, macs=int(ev.macs), weights=int(ev.weights),
            alpha=ev.alpha if sparse else 1.0,
            r_star=float("inf") if ev.break_even is None else float(ev.break_even),
            implementation=ev.implementation, speedup=ev.speedup,
            sparse_speedup=ev.sparse_speedup, latency_dense=ev.dense_latency_ns * NS,
            latency=ev.latency_ns * NS, weight_bits_before=int(round(ev.dense_storage_bits)),
            # the same on-chip feature buffer the iso-area design holds: input + output maps
            feature_bits=int((s.in_elements + s.out_elements) * hw.act_bits),
            weight_bits_after=int(round(ev.storage_bits - ev.index_bits)),
            index_bits_after=int(round(ev.index_bits)),
            energy_dense=ev.dense_energy_pj * PJ, energy=ev.energy_pj * PJ,
            alpha_planned=lp.alpha))
    return rows


def plan_report(shapes, hw, alphas: Mapping[str, float], *, title: str,
                meta: Mapping[str, str], model: str = "model",
                input_shape: tuple[int, ...] | None = None, notes: Iterable[str] = (),
                weight_bits: Mapping[str, int] | None = None) -> Report:
    """Cost-only report of per-layer keep fractions on a hardware config, evaluated by
    codesign.plan (the same numbers `codesign plan` prints)."""
    from codesign.plan import build_plan
    plan = build_plan(shapes, hw, dict(alphas), model=model, source="sparsity",
                      input_shape=input_shape, weight_bits=dict(weight_bits or {}))
    return report_from_plan(plan, shapes, hw, title=title, meta=meta, notes=notes)


def report_from_plan(plan, shapes, hw, *, title: str, meta: Mapping[str, str],
                     notes: Iterable[str] = ()) -> Report:
    """A Report of an evaluated codesign.plan.Plan (from α, a sparsity file or exact masks)."""
    from codesign.plan import layer_curves
    rows = layer_rows(plan, shapes, hw)
    totals = plan_totals(rows)
    slow = sorted(rows, key=lambda r: -r.latency_dense)[:CURVE_LAYERS]
    slow_names = {r.name for r in slow}
    ratios, speedups = layer_curves([s for s in shapes if s.name in slow_names], hw, CURVE_RATIOS)
    curves = [Curve(r.name, ratios.tolist(), speedups[r.name].tolist(), r.r_star,
                    1.0 / r.alpha_planned if r.alpha_planned else None) for r in slow]
    meta = {**dict(meta), "generated": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    summary = {"whole-network speedup": totals["whole-network speedup"],
               "conv-only speedup": totals["conv-only speedup"],
               "overall pruning ratio": totals["overall pruning ratio"],
               "sparse layers": f"{totals['sparse layers']} of {totals['layers']}",
               "weights dense": _bytes(totals["weight storage dense (bits)"]),
               "weights + indices planned": _bytes(totals["weight + index storage planned (bits)"])}
    if "energy dense (J)" in totals:
        summary["energy dense (J)"] = totals["energy dense (J)"]
        summary["energy planned (J)"] = totals["energy planned (J)"]
    plan_json = plan.to_dict()
    # `alphas` of the layers that run sparse: the file doubles as `codesign plan --sparsity`
    plan_json["alphas"] = {r.name: r.alpha for r in rows if r.implementation == "sparse"}
    return Report(title=title, meta=meta, summary=summary, layers=rows, curves=curves,
                  plan=plan_json, notes=list(notes))


def search_trace(result: SearchResult, wall_seconds: float | None = None,
                 max_drop: float | None = None) -> SearchTrace:
    h = result.history
    summary = {"speedup": result.speedup, "conv-only speedup": result.conv_speedup,
               "accuracy %": 100 * result.accuracy, "drop (points)": result.drop,
               "constraint met": result.constraint_met, "training runs": result.training_runs,
               "probes": result.counts.get("probe", 0)}
    if wall_seconds is not None:
        summary["wall time (s)"] = wall_seconds
    return SearchTrace(result.algorithm, [r.iteration for r in h], [r.phase for r in h],
                       [None if r.accuracy is None else 100 * r.accuracy for r in h],
                       [r.speedup for r in h], [r.accepted for r in h], summary,
                       accuracy_floor=None if max_drop is None else
                       100 * result.reference_accuracy - max_drop)


def search_report(shapes, hw, chosen: SearchResult, traces: Sequence[SearchTrace], *,
                  title: str, meta: Mapping[str, str], model: str = "model",
                  input_shape: tuple[int, ...] | None = None,
                  extra_summary: Mapping | None = None, notes: Iterable[str] = (),
                  weight_bits: Mapping[str, int] | None = None) -> Report:
    rep = plan_report(shapes, hw, chosen.alphas, title=title, meta=meta, model=model,
                      input_shape=input_shape, notes=notes, weight_bits=weight_bits)
    head = {"algorithm": chosen.algorithm,
            "accuracy (search split)": f"{100 * chosen.accuracy:.2f}%",
            "dense accuracy (search split)": f"{100 * chosen.reference_accuracy:.2f}%",
            "accuracy drop (points)": chosen.drop,
            "constraint met": chosen.constraint_met}
    rep.summary = {**head, **dict(extra_summary or {}), **rep.summary}
    rep.searches = list(traces)
    rep.plan = {**(rep.plan or {}), "search": {"algorithm": chosen.algorithm,
                                               "accuracy": chosen.accuracy,
                                               "reference_accuracy": chosen.reference_accuracy,
                                               "counts": chosen.counts}}
    return rep


def _bytes(bits: float) -> str:
    from codesign.report.fmt import bits as fmt_bits
    return fmt_bits(bits)
