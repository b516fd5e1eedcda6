"""Ray as the engine: the same plan as the local executor, a dead worker's evaluation retried,
sweep chunks as tasks. One local Ray cluster (2 CPUs) for the module."""
from __future__ import annotations

import json
import os

import pytest
import ray

from codesign.cli import main
from codesign.executor import EvalRequest, InProcessExecutor, Outcome
from codesign.ray_engine import RayExecutor, ray_session

SEARCH = ["search", "lenet5", "--data", "digits", "--max-drop", "1.0", "--validation", "300",
          "--train-limit", "900", "--pretrain-epochs", "3", "--train-epochs", "0.5",
          "--final-epochs", "0.5", "--quiet"]


@pytest.fixture(scope="module", autouse=True)
def cluster():
    with ray_session(workers=2):                 # the local cluster the CLI would start
        yield


def _niceness():
    return os.nice(0)


def test_workers_of_a_local_cluster_are_not_niced():
    # Ray's default (nice 15) lets any other busy process take the workers' CPU.
    assert ray.get(ray.remote(num_cpus=1)(_niceness).remote()) == os.nice(0)


def _records(path):
    return sorted((r["key"], r["accuracy"], r["correct"]) for r in map(json.loads, path.read_text().splitlines()))


def test_ray_gives_the_same_plan_and_evaluations_as_local(tmp_path):
    local, remote = tmp_path / "local", tmp_path / "ray"
    assert main(SEARCH + ["--out", str(local)]) == 0
    assert main(SEARCH + ["--out", str(remote), "--executor", "ray", "--workers", "2"]) == 0
    a, b = (json.loads((d / "summary.json").read_text()) for d in (local, remote))
    assert a["executor"] == {"name": "local", "workers": 1}
    assert b["executor"] == {"name": "ray", "workers": 2}
    for key in ("alphas", "patterns", "constraint", "speedup", "training_runs"):
        assert a[key] == b[key], key
    assert _records(local / "evaluations.jsonl") == _records(remote / "evaluations.jsonl")
    assert (local / "plan.json").read_text() == (remote / "plan.json").read_text()


class DiesOnce:
    """An oracle whose worker process dies the first time it sees each request."""

    def __init__(self, marker_dir):
        self.marker_dir = str(marker_dir)

    def evaluate(self, request: EvalRequest) -> Outcome:
        marker = os.path.join(self.marker_dir, str(request.seed(0)))
        if not os.path.exists(marker):
            open(marker, "w").close()
            os._exit(1)                          # the worker process dies mid-evaluation
        return Outcome(accuracy=0.5 + sum(a for _, a in request.alphas) / 10)


def test_a_dead_workers_evaluation_is_retried_and_logged_once(tmp_path):
    log = tmp_path / "evaluations.jsonl"
    requests = [EvalRequest.make("train", {"w": a}) for a in (0.2, 0.4, 0.6)]
    with RayExecutor(DiesOnce(tmp_path), log, workers=2) as ex:
        results = ex.run(requests)
    assert [r.accuracy for r in results] == pytest.approx([0.52, 0.54, 0.56])
    lines = log.read_text().splitlines()
    assert len(lines) == 3
    replay = InProcessExecutor(None, log).run(requests)         # resume: nothing recomputed
    assert all(r.cached for r in replay)


def test_an_error_in_an_evaluation_reaches_the_caller_as_itself(tmp_path):
    class Broken:
        def evaluate(self, request):
            raise ValueError("bad candidate")
    with RayExecutor(Broken(), None, workers=2) as ex:
        with pytest.raises(ValueError, match="bad candidate"):
            ex.run([EvalRequest.make("probe", {"w": 0.5})])


def test_sweep_chunks_as_ray_tasks_equal_the_local_sweep(tmp_path):
    common = ["sweep", "alexnet", "--vary", "pes=64,128,256", "--vary", "sram_macro_kb=32,64",
              "--chunk", "2"]
    outs = []
    for i, extra in enumerate(([], ["--executor", "ray", "--workers", "2"])):
        assert main(common + ["--out", str(tmp_path / str(i))] + extra) == 0
        outs.append(sorted(p.name for p in (tmp_path / str(i)).glob("*.csv")))
        outs.append([(tmp_path / str(i) / n).read_text() for n in outs[-1]])
    assert outs[0] == outs[2] and outs[1] == outs[3]
