"""A search's chosen model exported: compressed.onnx (and the int8 QDQ model), checked in
onnxruntime against the trained module, and costed with its own masks (plan.json)."""
from __future__ import annotations

from pathlib import Path

from codesign.loop.job_spec import SearchJob
from codesign.loop.prepare import Prepared
from codesign.loop.records import SearchResult
from codesign.network_plan import plan_network
from pruning.safe_files import write_file


def export_model(final, prep: Prepared, out: Path, result: SearchResult, spec, job: SearchJob):
    """compressed.onnx (and, with --export qdq, compressed-qdq.onnx: int8 weights and
    DequantizeLinear), checked in onnxruntime, and the plan of the exported file with its own
    masks (plan.json)."""
    from codesign.graph import load_network
    from codesign.graph.inputs import sample_shapes
    from pruning.onnx.bridge import onnxruntime_metric, verify_onnx
    model, masks, intervals = final
    meta = {"alphas": result.alphas, "patterns": result.patterns, "algorithm": result.algorithm,
            "hardware": spec.name}
    proto = model.to_onnx(metadata=meta)          # the source's input shapes, batch included
    sample = prep.test_data.test_x[:64]
    masks = {n: m for n, m in masks.items() if not bool(m.all())}
    diff = verify_onnx(model, proto, sample, masks)
    files = {"compressed.onnx": write_file(out / "compressed.onnx", proto.SerializeToString(), within=out)}
    info = {"max_abs_diff": diff, "onnxruntime_test_accuracy": onnxruntime_metric(proto, prep.test_data)}
    if job.export == "qdq":
        from pruning.onnx.qdq import to_qdq
        qdq = to_qdq(proto, intervals, prep.bits)
        info["qdq_max_abs_diff"] = verify_onnx(model, qdq, sample, masks)
        info["qdq_test_accuracy"] = onnxruntime_metric(qdq, prep.test_data)
        files["compressed-qdq.onnx"] = write_file(out / "compressed-qdq.onnx", qdq.SerializeToString(), within=out)
    exported_net = load_network(proto, sample_shapes(prep.test_data.test_x))
    info["left_dense"], info["compressed_mac_share"] = _left_dense(model, proto, masks, prep, result)
    plan = plan_network(prep.network, spec, pruned=exported_net)
    files["plan.json"] = plan.save(out / "plan.json", within=out)
    info.update(speedup=float(plan.totals.speedup), plan=plan)
    return files, info


def _left_dense(model, proto, masks, prep, result):
    """What the exported model left dense and the MAC share of what it compressed
    (codesign.left_dense, as `prune` says it); unknown (empty, None) if the importer cannot
    read the exported file."""
    from codesign.errors import CodesignError
    from codesign.graph.inputs import sample_shapes
    from codesign.left_dense import left_dense
    from pruning.protocol import prunable_weights
    rows = [{"name": n, "weights": w.numel(), "bits": prep.bits.get(n),
             "kept": int(masks[n].sum()) if n in masks else w.numel()} for n, w in prunable_weights(model).items()]
    targeted = [n for n, a in result.alphas.items() if a < 1]
    try:
        return left_dense(proto, rows, targeted=targeted, method_rule="the search kept it dense",
                          input_shape=sample_shapes(prep.test_data.test_x))
    except CodesignError:
        return (), None
