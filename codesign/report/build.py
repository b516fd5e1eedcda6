"""Builders: a plan, a search run or a sweep into a `Report`."""
from __future__ import annotations

import time
from dataclasses import asdict, replace
from typing import Iterable, Mapping, Sequence

from codesign.inspect import share_text
from codesign.report.fmt import bits as fmt_bits, num, percent, span
from codesign.report.model import Curve, Report, SearchTrace, SweepData


def _stamp() -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())


def plan_summary(plan) -> dict:
    t = plan.totals
    speed = num(t.speedup) + "×"
    if t.speedup_range is not None:
        speed += f" ({span(*t.speedup_range)}× over the preset's ranges)"
    out = {"whole-network speedup": speed, "conv-only speedup": num(t.conv_speedup) + "×",
           "pruning ratio (weights)": num(t.pruning_ratio) + "×",
           "layers run sparse": f"{t.sparse_layers} of {t.layers}",
           "weights, dense (hardware width)": fmt_bits(t.dense_weight_bits_total),
           "weights, planned": fmt_bits(t.weight_bits_total),
           "indices, planned": fmt_bits(t.index_bits_total),
           "weights + indices at each layer's smallest index width": fmt_bits(t.smallest_storage_bits_total),
           "features (inputs + outputs)": fmt_bits(t.feature_bits_total),
           "weights + indices vs 32-bit float": num(t.compression["dense_32bit"]) + "×",
           "weights + indices vs the hardware's dense weights": num(t.compression["dense_hardware_width"]) + "×",
           "energy, dense → planned": f"{num(t.dense_energy_pj * 1e-6)} → {num(t.energy_pj * 1e-6)} µJ"}
    if plan.coverage is not None:
        out["MACs modeled"] = share_text(plan.coverage) if "share" in plan.coverage else percent(1.0)
    if t.flipping_layers:
        out["decisions that flip inside the ranges"] = ", ".join(t.flipping_layers)
    return out


def plan_report(plan, *, curves: Sequence[Curve] = (), title: str | None = None,
                meta: Mapping[str, str] | None = None, notes: Iterable[str] = ()) -> Report:
    """The report of a plan; `curves`: its layers' speedup curves, computed by the caller
    (codesign.plans.layer_curves): a report never recomputes costs."""
    shape = "x".join(str(d) for d in plan.input_shape) if plan.input_shape else "–"
    meta = {"model": plan.model, "input": shape, "hardware": plan.hw_name,
            "mode": plan.hardware["evaluation"]["mode"], "plan from": plan.source,
            **dict(meta or {}), "generated": _stamp()}
    default = ["Speedups, storage and energy are simulated by hwmodels on this hardware preset; a "
               "layer runs sparse exactly when its sparse implementation is no slower than the dense "
               "one on the same hardware (its pruning ratio reaches r*)."]
    if plan.hardware["evaluation"]["mode"] == "fixed":
        default.append("Fixed chip: speedups are against the dense chip; r* compares sparse and dense "
                       "mode on the sparse-capable chip of the same area, which has fewer PEs, so a "
                       "layer that runs dense there is slower than on the dense chip.")
    return Report(kind="plan", title=title or f"Plan: {plan.model} on {plan.hw_name}", meta=meta,
                  summary=plan_summary(plan), layers=[asdict(l) for l in plan.layers],
                  curves=list(curves), plan=plan.to_dict(), notes=list(notes) or default)


def breakeven_report(result, *, title: str | None = None) -> Report:
    """The break-even table (codesign.break_even.BreakEvenResult): r* per layer and pattern, and
    each layer's sparse-over-dense speedup against the pruning ratio."""
    t = result.totals
    summary = {"layers": t["layers"], "sparse wins unpruned (r* = 1)": t["always"],
               "sparse never wins (r* = ∞)": t["never"], "median finite r*": t["median_finite"]}
    summary.update({f"r* of {l.name} ({l.pattern})": l.label for l in result.layers})
    curves = [Curve(f"{l.name} ({l.pattern})", list(l.curve["ratio"]),
                    [float("nan") if v is None else v for v in l.curve["speedup"]],
                    l.break_even) for l in result.layers]
    notes = ["Simulated by hwmodels: r* is the smallest pruning ratio at which a layer's sparse "
             "implementation is no slower than its dense one on the same hardware; gaps in a curve "
             "are ratios the pattern cannot reach or the engine cannot run."]
    return Report(kind="breakeven", title=title or f"Break-even: {result.model} on "
                  f"{result.hardware.get('name', 'custom')}",
                  meta={"model": result.model, "hardware": str(result.hardware.get("name", "custom")),
                        "generated": _stamp()}, summary=summary, curves=curves, notes=notes)


def sweep_data(result) -> SweepData:
    best = int(result.ranking()[0])
    return SweepData(keys=list(result.keys),
                     grid={k: [v.item() if hasattr(v, "item") else v for v in result.grid[k]]
                           for k in result.keys},
                     latency_ns=result.latency_ns.tolist(), speedup=result.speedup.tolist(),
                     median_r_star=result.median_break_even.tolist(), alpha=result.alpha,
                     slice_values={k: result.config(best)[k] for k in result.keys[2:]})


def sweep_report(result, *, model: str, input_shape, base_name: str, title: str | None = None) -> Report:
    d = result.to_dict()
    b, s = d["best"], d["best_speedup"]
    summary = {"configurations": result.configs, "layers": len(result.layer_names),
               "objective": "planned network latency at alpha (lower is better)",
               "fastest design": ", ".join(f"{k}={b[k]}" for k in result.keys),
               "its latency": f"{num(b['latency_ns'] / 1e3)} µs",
               "its speedup over its dense twin": num(b["speedup"]) + "×",
               "largest sparse/dense ratio (reported separately)":
                   f"{num(s['speedup'])}× with " + ", ".join(f"{k}={s[k]}" for k in result.keys)}
    shape = "x".join(str(d) for d in input_shape) if input_shape else "–"
    notes = ["Simulated by hwmodels. Configs are ranked by planned latency: the fastest design "
             "first; the sparse/dense ratio rewards designs whose dense twin is slow, so it is "
             "shown separately."]
    if len(result.keys) > 2:
        notes.append("The heatmaps show the slice of the first two keys at the fastest config's "
                     "values of the others (named above the figure); configs.csv has every config.")
    return Report(kind="sweep", title=title or f"Sweep: {model} around {base_name}",
                  meta={"model": model, "input": shape, "base hardware": base_name,
                        "varied": ", ".join(result.keys), "generated": _stamp()},
                  summary=summary, sweep=sweep_data(result), notes=notes)


def search_trace(result, wall_seconds: float | None = None, max_drop: float | None = None) -> SearchTrace:
    h = result.history
    summary = {"speedup (own masks)": result.speedup,
               "speedup (search estimate)": result.speedup_estimate,
               "conv-only speedup (search estimate)": result.conv_speedup,
               "accuracy %": 100 * result.accuracy, "drop (points)": result.drop,
               "constraint met": result.constraint_met, "training runs": result.training_runs,
               "probes": result.counts.get("probe", 0)}
    seconds = result.oracle_seconds
    if seconds:        # replayed evaluations count at their recorded time
        summary["evaluation time (s)"] = sum(seconds.values())
    if wall_seconds is not None:
        summary["wall time, this run (s)"] = wall_seconds
    return SearchTrace(result.algorithm, [r.iteration for r in h], [r.phase for r in h],
                       [None if r.accuracy is None else 100 * r.accuracy for r in h],
                       [r.speedup for r in h], [r.accepted for r in h], summary,
                       accuracy_floor=None if max_drop is None else 100 * result.reference_accuracy - max_drop)


def search_report(plan, traces: Sequence[SearchTrace], *, curves: Sequence[Curve] = (), title: str,
                  meta: Mapping[str, str], summary: Mapping, notes: Iterable[str] = ()) -> Report:
    rep = plan_report(plan, curves=curves, title=title, meta=meta, notes=notes)
    plan_lines = {k: v for k, v in rep.summary.items()      # the search's summary names which
                  if k != "whole-network speedup"}             # speedup it is (own masks)
    return replace(rep, kind="search", summary={**dict(summary), **plan_lines}, searches=list(traces))
