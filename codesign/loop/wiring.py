"""What a search evaluates with: the hardware's cost view of the prunable layers, the cost of a
trained candidate's own masks, the accuracy oracle, and the executor (local or Ray) whose log
makes the run resumable."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from codesign.executor import InProcessExecutor
from codesign.loop.hwcost import HwCostModel, MaskCost
from codesign.loop.job_spec import EVALUATIONS, SearchJob, StatusHook
from codesign.loop.prepare import Prepared, prepare
from codesign.loop.validate import validate


def cost_and_oracle(job: SearchJob, spec, prep: Prepared, on_progress=None):
    """The hardware's cost view of the prunable layers and the accuracy oracle of the job."""
    from codesign.loop.torch_oracle import OracleSettings, TorchOracle
    network, module = prep.network, prep.module
    # the layers the search may prune: weights the bridge trains (a weight folded from others,
    # e.g. a dynamo LSTM's sliced gates, is costed but cannot be pruned)
    layouts = module.onnx_weight_layouts()
    prunable = [l.name for l in network.layers if l.shape.prunable and l.name in layouts]
    cost = HwCostModel(network.shapes, spec, prunable, weight_bits=prep.bits)
    mask_cost = MaskCost(network.shapes, spec, prep.bits, layouts)
    settings = OracleSettings(method=job.method, method_options=dict(job.method_options),
                              train_epochs=job.train_epochs, final_epochs=job.final_epochs,
                              probe_epochs=job.probe_epochs, bits=prep.bits, lr=job.lr, seed=job.seed,
                              device=job.device)
    fingerprint = json.dumps(job.fingerprint(), sort_keys=True)
    oracle = TorchOracle(module, prep.search_data, prep.test_data, settings, job.out, on_progress,
                         mask_cost, fingerprint=hashlib.sha256(fingerprint.encode()).hexdigest()[:16])
    return cost, oracle


def oracle_for(job: SearchJob, on_status: StatusHook | None = None):
    """The accuracy oracle a run of `job` evaluates with (data, validation split, the dense
    model pretrained or loaded from the cache): to recompute a run folder's evaluations."""
    spec, _, _ = validate(job)
    prep = prepare(job, on_status or (lambda _m: None), None)
    return cost_and_oracle(job, spec, prep)[1]


def make_executor(job: SearchJob, oracle, on_result, on_start):
    """The executor of the job's evaluations, logging to OUT/evaluations.jsonl."""
    log = Path(job.out) / EVALUATIONS
    if job.executor == "ray":
        from codesign.ray_engine import RayExecutor
        return RayExecutor(oracle, log, on_result, on_start, address=job.address, workers=job.workers)
    return InProcessExecutor(oracle, log, on_result, on_start)

