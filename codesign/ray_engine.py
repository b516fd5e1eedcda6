"""Ray as the engine when one machine is not enough: search evaluations and sweep chunks as
Ray tasks, on a local cluster (`workers` CPUs) or an existing one (`address`).

Ray is an optional extra (`pip install '.[ray]'`); nothing imports it until a Ray executor is
asked for. Every task gets one CPU and one torch thread. A task whose worker process dies is
retried by Ray (`max_retries`); an exception raised by the evaluation itself is not (it would
fail again) and reaches the caller as that exception. On an existing cluster the nodes need
this package installed; run-directory files (final models, checkpoints) are written by the
driver only, which is why final runs stay in-process.

Ray starts its worker processes at nice 15 (ray-project/ray PR #24928: so that workers never
starve Ray's own processes), which suits a cluster whose nodes do nothing else. Here the
workers ARE the work: at nice 15 any other process on the machine takes their CPU first
(measured on this 2-core machine with two other busy processes: a LeNet-5 probe 30x slower in
a worker than in the driver). A local cluster started here runs its workers at nice 0
(`RAY_worker_niceness`, read by the raylet when it starts); an existing cluster keeps its own
setting (start it with `RAY_worker_niceness=0 ray start ...` for the same effect).
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Sequence

from codesign.errors import CodesignError
from codesign.executor import EvalRequest, Evaluation, InProcessExecutor, ResultHook, StartHook

INSTALL_HINT = "Ray is an optional extra: pip install '.[ray]' (ray==2.60.0, keeps torch pinned)"
RETRIES = 2                           # re-runs of a task whose worker process died
REMOTE_KINDS = ("probe", "train")     # the many independent runs; reference and final stay here


def _import_ray():
    try:
        import ray
    except ImportError:
        raise CodesignError(f"--executor ray needs Ray. {INSTALL_HINT}") from None
    return ray


@contextmanager
def ray_session(address: str | None = None, workers: int = 2):
    """Ray, initialized for the duration of the block (an already running session is reused
    and left running)."""
    ray = _import_ray()
    if workers < 1:
        raise CodesignError(f"--workers must be at least 1, got {workers}")
    started = not ray.is_initialized()
    if started:
        common = dict(include_dashboard=False, log_to_driver=False, configure_logging=False,
                      runtime_env={"env_vars": {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}})
        try:
            if address:
                ray.init(address=address, **common)
            else:
                with _environment(RAY_worker_niceness=os.environ.get("RAY_worker_niceness", "0")):
                    ray.init(num_cpus=workers, **common)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = f"the Ray cluster at {address!r}" if address else "a local Ray cluster"
            raise CodesignError(f"could not start or reach {where}: {str(exc).splitlines()[0][:200]}") from None
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


@contextmanager
def _environment(**values: str):
    """Environment variables set for the block only (the raylet inherits them at its start)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _evaluate_task(oracle, request: EvalRequest):
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:               # pragma: no cover (a torch-free oracle)
        pass
    return oracle.evaluate(request)


class RayExecutor(InProcessExecutor):
    """Runs the probes and training runs of a batch as parallel Ray tasks; outcomes are logged
    as they finish (a kill loses only the runs in flight) and returned in request order."""
    name = "ray"

    def __init__(self, oracle, checkpoint=None, on_result: ResultHook | None = None,
                 on_start: StartHook | None = None, *, address: str | None = None, workers: int = 2) -> None:
        super().__init__(oracle, checkpoint, on_result, on_start)
        self.address, self.workers = address, workers
        self._session = None
        self._ray = None
        self._oracle_ref = None
        self._task = None

    def __enter__(self) -> "RayExecutor":
        self._session = ray_session(self.address, self.workers)
        self._ray = self._session.__enter__()
        self._task = self._ray.remote(num_cpus=1, max_retries=RETRIES)(_evaluate_task)
        self._oracle_ref = self._ray.put(self.oracle)
        if self.address:
            self.workers = max(1, int(self._ray.cluster_resources().get("CPU", 1)))
        return self

    def __exit__(self, *exc) -> None:
        if self._session is not None:
            self._session.__exit__(*exc)
            self._session = None

    def run(self, requests: Sequence[EvalRequest]) -> list[Evaluation]:
        if self._ray is None:
            raise CodesignError("RayExecutor.run outside its `with` block")
        ray = self._ray
        results: dict[str, Evaluation] = {}
        pending: dict = {}                        # object ref -> request
        for req in requests:
            if req.key in results or any(r.key == req.key for r in pending.values()):
                continue
            hit = self.log.get(req)
            if hit is not None:
                results[req.key] = self._finish(req, hit, True)
            elif req.kind in REMOTE_KINDS:
                self.on_start(req)
                pending[self._task.remote(self._oracle_ref, req)] = req
        for req in requests:                      # while the workers run: the driver's own
            if req.key not in results and req.kind not in REMOTE_KINDS:
                hit = self.log.get(req)
                if hit is None:
                    self.on_start(req)
                results[req.key] = self._finish(req, hit or self.oracle.evaluate(req), hit is not None)
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            req = pending.pop(done[0])
            try:
                outcome = ray.get(done[0])
            except ray.exceptions.RayTaskError as err:
                for ref in pending:
                    ray.cancel(ref)
                cause = err.as_instanceof_cause()
                raise (cause.cause if getattr(cause, "cause", None) else cause) from None
            except (ray.exceptions.WorkerCrashedError, ray.exceptions.RayError) as err:
                raise CodesignError(f"a Ray worker failed {RETRIES + 1} times on a {req.kind} "
                                    f"evaluation ({type(err).__name__}); its neighbours' results are "
                                    "saved, rerun to resume") from None
            results[req.key] = self._finish(req, outcome, False)
        return [results[r.key] for r in requests]


def ray_chunk_runner(address: str | None = None, workers: int = 2):
    """A codesign.sweeps chunk runner that evaluates the chunks as Ray tasks."""
    from codesign.sweeps import sweep_chunk

    def run(tasks: list[tuple]) -> list:
        with ray_session(address, workers) as ray:
            fn = ray.remote(num_cpus=1, max_retries=RETRIES)(sweep_chunk)
            return ray.get([fn.remote(*t) for t in tasks])
    return run
