"""Builders: a plan on a hardware config, or a search run, into a `Report`."""
from __future__ import annotations

import time
from typing import Iterable, Mapping, Sequence

import numpy as np

from codesign.report.model import Curve, LayerRow, Report, SearchTrace
from codesign.search.hwcost import HwCostModel
from codesign.search.records import SearchResult

CURVE_RATIOS = np.geomspace(1.0, 100.0, 41)
CURVE_LAYERS = 6
PLAN_SCHEMA = 1


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


def plan_dict(rows: Sequence[LayerRow], meta: Mapping[str, str], totals: Mapping) -> dict:
    """plan.json: `alphas` is the sparsity-file format `codesign plan --sparsity` reads."""
    return {"schema_version": PLAN_SCHEMA, "kind": "codesign-plan", **dict(meta),
            "alphas": {r.name: r.alpha for r in rows if r.implementation == "sparse"},
            "layers": [{"name": r.name, "alpha": r.alpha, "implementation": r.implementation,
                        "break_even": r.r_star, "speedup": r.speedup,
                        "sparse_speedup": r.sparse_speedup,
                        "storage_bits": r.weight_bits_after + r.index_bits_after,
                        "index_bits": r.index_bits_after} for r in rows],
            "totals": dict(totals)}


def plan_report(cost: HwCostModel, alphas: Mapping[str, float], *, title: str,
                meta: Mapping[str, str], notes: Iterable[str] = ()) -> Report:
    rows = [LayerRow(**r) for r in cost.layer_table(dict(alphas))]
    totals = plan_totals(rows)
    slow = sorted(rows, key=lambda r: -r.latency_dense)[:CURVE_LAYERS]
    curves = [Curve(r.name, CURVE_RATIOS.tolist(),
                    cost.speedup_curve(r.name, CURVE_RATIOS).tolist(), r.r_star,
                    r.ratio if r.implementation == "sparse" else None) for r in slow]
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
    return Report(title=title, meta=meta, summary=summary, layers=rows, curves=curves,
                  plan=plan_dict(rows, meta, totals), notes=list(notes))


def search_trace(result: SearchResult, wall_seconds: float | None = None) -> SearchTrace:
    h = result.history
    summary = {"speedup": result.speedup, "conv-only speedup": result.conv_speedup,
               "accuracy %": 100 * result.accuracy, "drop (points)": result.drop,
               "constraint met": result.constraint_met, "training runs": result.training_runs,
               "probes": result.counts.get("probe", 0)}
    if wall_seconds is not None:
        summary["wall time (s)"] = wall_seconds
    return SearchTrace(result.algorithm, [r.iteration for r in h], [r.phase for r in h],
                       [None if r.accuracy is None else 100 * r.accuracy for r in h],
                       [r.speedup for r in h], [r.accepted for r in h], summary)


def search_report(cost: HwCostModel, chosen: SearchResult, traces: Sequence[SearchTrace], *,
                  title: str, meta: Mapping[str, str], extra_summary: Mapping | None = None,
                  notes: Iterable[str] = ()) -> Report:
    rep = plan_report(cost, chosen.alphas, title=title, meta=meta, notes=notes)
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
