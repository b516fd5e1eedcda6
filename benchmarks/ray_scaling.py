"""Ray as the engine (issue 12): the probe phase of a real search with 1 and 2 Ray workers against
the local executor, and Ray's scheduling overhead per task.

The probe phase is what a search sends as one batch: one request per (layer, alpha) where the
layer can run sparse, each a real evaluation (LeNet-5 on MNIST-5k: one layer magnitude-pruned,
0.1 epoch of masked retraining, accuracy on the validation split). The same requests run on the
local executor and on a local Ray cluster of 1 and 2 CPUs (a fresh cluster each, start-up timed
apart); results must be identical. Overhead: 400 no-op tasks through RayExecutor.

Second table: why a Ray task used to be slower than the same evaluation in the driver. A
one-channel image batch can carry NCHW or channels-last strides (numpy's choice depends on how
the array was made; a pickled copy, as a Ray task gets, has NCHW strides), and torch picks its
convolution kernels by them. Timed: one pass over the validation split (inference) and 20
training steps of LeNet-5 and vgg7, with each layout (pruning.train.channels_last now lays every
batch out channels-last).

Run: .venv/bin/python benchmarks/ray_scaling.py (needs 2 idle cores to show the scaling)
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from _record import record  # noqa: E402


class NoOp:
    def evaluate(self, request):
        from codesign.executor import Outcome
        return Outcome(accuracy=0.5)


def probe_requests(module, data):
    from codesign.executor import EvalRequest
    from codesign.graph import load_network
    from codesign.specs import hardware
    from codesign.loop import SearchConfig, usable_alphas
    from codesign.loop.hwcost import HwCostModel
    import numpy as np
    net = load_network(module.to_onnx(), (1,) + tuple(data.input_shape))
    cost = HwCostModel(net.shapes, hardware("smic40-admmnn"))
    grid = np.array(sorted(SearchConfig().alpha_grid, reverse=True))
    from pruning.patterns import UNSTRUCTURED
    return [EvalRequest.make("probe", {n: float(a)}) for n in cost.layer_names()
            for a in usable_alphas(cost, n, UNSTRUCTURED, grid, 0.02)]


def layout_table() -> list[str]:
    """Inference over 2,000 images and 60 training steps, NCHW vs channels-last strides (best of 5,
    the two layouts timed in turn so that a busy moment of the machine hits both)."""
    import torch
    import torch.nn.functional as F
    from pruning.pipeline import prepare
    from pruning.train import channels_last
    rows = ["| model | data | inference NCHW s | inference channels-last s | ratio | 60 train steps NCHW s | "
            "channels-last s | ratio |", "|---|---|---|---|---|---|---|---|"]
    for model_name in ("lenet5", "vgg7"):
        module, data = prepare(model_name, "fashion-mnist", seed=0, limit=4000, test_limit=2000)
        x, y = torch.from_numpy(np.ascontiguousarray(data.test_x)), torch.from_numpy(data.test_y)
        nchw = torch.empty_strided(x.shape, tuple(torch.empty(x.shape).stride())).copy_(x)
        cl = channels_last(x)
        assert nchw.stride() != cl.stride() and torch.equal(nchw, cl)

        def infer(t):
            with torch.no_grad():
                for i in range(0, len(t), 1000):
                    module(t[i:i + 1000]).argmax(1)

        def train(t):
            for i in range(60):
                module.zero_grad()
                F.cross_entropy(module(t[(i * 64) % 1800:(i * 64) % 1800 + 128]), y[:128]).backward()
        cells = []
        for fn in (infer, train):
            fn(nchw), fn(cl)
            runs = [(_timed(fn, nchw), _timed(fn, cl)) for _ in range(5)]
            times = [min(r[0] for r in runs), min(r[1] for r in runs)]
            cells += [f"{times[0]:.2f}", f"{times[1]:.2f}", f"{times[0] / times[1]:.2f}x"]
        rows.append(f"| {model_name} | fashion-mnist, 2,000 images | " + " | ".join(cells) + " |")
    return rows


def _niceness() -> int:
    return os.nice(0)


def _timed(fn, arg) -> float:
    t0 = time.perf_counter()
    fn(arg)
    return time.perf_counter() - t0


def scaling_rows(label: str, oracle, requests) -> tuple[list[str], int]:
    """Local, then Ray with 1 and 2 workers (a fresh local cluster each) on the same requests."""
    import ray
    from codesign.executor import EvalRequest, InProcessExecutor
    from codesign.ray_engine import RayExecutor
    InProcessExecutor(oracle).run([EvalRequest.make("probe", {})])  # warm this process once too
    t0 = time.perf_counter()
    local = InProcessExecutor(oracle).run(requests)
    t_local = time.perf_counter() - t0
    rows = [f"| {label} | local | 1 | {t_local:.1f} | 1.00x | - | - |"]
    for workers in (1, 2):
        t0 = time.perf_counter()
        with RayExecutor(oracle, None, workers=workers) as ex:
            t_start = time.perf_counter() - t0
            ex.run([EvalRequest.make("probe", {})])                 # warm the workers once
            t0 = time.perf_counter()
            got = ex.run(requests)
            t_ray = time.perf_counter() - t0
            same = [(e.outcome.accuracy, e.outcome.correct) for e in local] == \
                [(g.outcome.accuracy, g.outcome.correct) for g in got]
            niceness = ray.get(ray.remote(num_cpus=1)(_niceness).remote())
        rows.append(f"| {label} | ray | {workers} | {t_ray:.1f} | {t_local / t_ray:.2f}x | {t_start:.1f} | "
                    f"{'yes' if same else 'NO'} |")
        assert not ray.is_initialized()
    return rows, niceness


def no_op_overhead(workers: int = 2, tasks: int = 400) -> float:
    from codesign.executor import EvalRequest
    from codesign.ray_engine import RayExecutor
    reqs = [EvalRequest.make("probe", {"w": round(0.01 + i / 500, 4)}) for i in range(tasks)]
    with RayExecutor(NoOp(), None, workers=workers) as noop:
        t0 = time.perf_counter()
        noop.run(reqs)
        return (time.perf_counter() - t0) / tasks


def main() -> int:
    import torch
    torch.set_num_threads(1)
    from codesign.loop.torch_oracle import OracleSettings, TorchOracle, search_split
    from pruning.pipeline import prepare
    from pruning.pretrain import pretrained
    rows = ["| probes | executor | workers | probe phase wall s | speedup vs local | cluster start s | same results |",
            "|---|---|---|---|---|---|---|"]
    workloads = (("lenet5", "mnist5k", None, 1000, None), ("vgg7", "fashion-mnist", 32000, 8000, 12))
    counts = []
    for model_name, data_name, limit, validation, first in workloads:
        module, data = prepare(model_name, data_name, seed=0, limit=limit)
        pretrained(module, model_name, data, 10.0, seed=0)
        search, test = search_split(data, validation, 0)
        oracle = TorchOracle(module, search, test, OracleSettings(probe_epochs=0.1, seed=0))
        requests = probe_requests(module, data)[:first]
        counts.append(f"{len(requests)} {model_name} probes ({data_name}, {len(search.train_y):,} training images, "
                      f"{len(search.test_y):,} validation)")
        more, niceness = scaling_rows(f"{len(requests)} {model_name}", oracle, requests)
        rows += more
    overhead = no_op_overhead()
    notes = (f"{' and '.join(counts)}: one layer magnitude-pruned, 0.1 epoch of masked retraining, accuracy on the "
             f"validation split, one torch thread per task. Scheduling overhead of RayExecutor on 2 workers: "
             f"{1e3 * overhead:.2f} ms per no-op task (400 tasks, submitted as one batch, logged as they finish). "
             f"Ray workers of the local cluster run at nice {niceness} (Ray's default is 15; codesign.ray_engine "
             "starts them at 0).\n\n" + "\n".join(layout_table()) +
             "\n\nSeconds, one torch thread, best of 5; ratio = NCHW / channels-last.")
    record("ray_scaling.py", "ray_scaling.py: the probe phase on Ray (issue 12)", "\n".join(rows), notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
