"""Everything about a search job that can be checked before any work: names, numbers, files,
and whether its run folder holds a run of the same settings (to resume) or of others."""
from __future__ import annotations

import json
import os
from pathlib import Path

from codesign.loop import ALGORITHMS
from codesign.loop.job_spec import EXECUTORS, MAX_JOB_BYTES, RUN_NAMES, SearchJob, check_numbers
from codesign.loop.records import SearchError
from codesign.plans import read_sparsity
from codesign.specs import hardware
from pruning.methods import make_options
from pruning.patterns import parse_pattern
from pruning.prune_job import TASKS
from pruning.safe_files import check_out_folder, read_file


def validate(job: SearchJob):
    """Everything that can be checked before any work: names, numbers, files. Returns
    (hardware spec, patterns, initial sparsity or None)."""
    from pruning.pipeline import check_trainable     # torch: a search run imports it anyway
    check_numbers(job)
    unknown = [a for a in job.allocators if a not in ALGORITHMS]
    if unknown or not job.allocators:
        raise SearchError(f"unknown allocator(s) {unknown}; choose from {sorted(ALGORITHMS)}")
    if job.export not in ("float", "qdq"):
        raise SearchError(f"export {job.export!r} is not float or qdq")
    if job.export == "qdq" and not job.bits:
        raise SearchError("--export qdq stores quantized weights as int8: give --bits (e.g. --bits 8)")
    if job.task not in TASKS:
        raise SearchError(f"task {job.task!r} is not one of {', '.join(TASKS)}")
    if job.executor not in EXECUTORS:
        raise SearchError(f"executor {job.executor!r} is not one of {', '.join(EXECUTORS)}")
    make_options(job.method, job.method_options)
    check_device(job.device, job.executor)
    patterns = tuple(parse_pattern(p) for p in job.patterns)
    if not patterns:
        raise SearchError("give at least one pattern, e.g. --patterns unstructured,2:4")
    spec = hardware(job.hw, list(job.hw_overrides))
    initial = read_sparsity(job.initial) if job.initial else None
    check_trainable(job.model)             # a missing model file: refused before any work
    check_out_folder(job.out, "--out", RUN_NAMES)
    return spec, patterns, initial



def check_device(device: str, executor: str) -> None:
    """A search's device: one torch sees (pruning.device), and not cuda on Ray, whose evaluation
    tasks ask for no GPU and so see none."""
    from pruning.device import resolve_device
    if device == "cuda" and executor == "ray":
        raise SearchError("--device cuda with --executor ray: Ray hides GPUs from its evaluation tasks (CPU "
                          "tasks); use --device auto (the driver's runs on the GPU, the workers' on their CPUs) "
                          "or --executor local")
    resolve_device(device)                 # cuda without a GPU: refused before any work


def check_same_job(out: Path, job: SearchJob) -> None:
    """A run folder holds no job, or this one (then the run resumes); else a SearchError."""
    p = out / "job.json"
    fp = job.fingerprint()
    if os.path.lexists(p):                       # a link or FIFO there is refused, not followed
        try:
            old = json.loads(read_file(p, MAX_JOB_BYTES, within=out).decode("utf-8"))
            if not isinstance(old, dict):
                raise ValueError("not an object")
        except (ValueError, OSError, RecursionError):
            raise SearchError(f"{p} is not a codesign job file; use another --out") from None
        old = {k: v for k, v in old.items() if v is not None}
        if old != fp:
            diff = sorted(k for k in set(old) | set(fp) if old.get(k) != fp.get(k))
            raise SearchError(f"{out} holds a run with other settings ({', '.join(diff)[:120]}); "
                              f"use another --out, or the same settings to resume it")

