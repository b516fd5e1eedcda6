"""The API's search inputs held in memory saved into the run folder, so the run can resume: a
torch module as OUT/model.onnx, in-memory data as OUT/data.npz (kept when a rerun gives the
same, refused when it would replace the input of the run OUT holds)."""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Mapping

from codesign.errors import CodesignError
from codesign.loop.job import JobResult, run_job
from codesign.loop.job_spec import RUN_NAMES, SearchJob, StatusHook, check_numbers, default_out
from codesign.loop.records import SearchError
from codesign.refs import as_dataset, is_module
from hwmodels.presets import DEFAULT_PRESET
from pruning.methods import make_options
from pruning.safe_files import MIB, check_out_folder, make_dir, open_file, read_file, write_file

MAX_INPUT_BYTES = 2048 * MIB         # model.onnx saved by the API: protobuf's own limit


def search_api(model, data, *, out=None, hw=DEFAULT_PRESET, on_status: StatusHook | None = None,
               on_progress=None, **options) -> JobResult:
    """`codesign.search(...)`: MODEL (a built-in name, an ONNX path or a torch nn.Module, which
    is exported with its weights) on DATA (a dataset name or path, or any form codesign.prune
    accepts, saved as OUT/data.npz so the run can resume). Options are SearchJob's fields
    (max_drop=, patterns=, allocators=, executor="ray", workers=, ...). Returns the JobResult."""
    import numpy as np

    out = Path(out if out is not None else default_out(model))
    for key in ("patterns", "allocators", "hw_overrides"):
        if isinstance(options.get(key), str):
            options[key] = tuple(p.strip() for p in options[key].split(",") if p.strip())
        elif key in options:
            options[key] = tuple(options[key])
    try:       # model and data named for now: the numbers and options are checked before any file
        job = SearchJob(model="model", data="data", out=str(out), hw=str(hw), **options)
    except TypeError as exc:
        raise CodesignError(f"codesign.search: {exc}") from None
    check_numbers(job)
    make_options(job.method, job.method_options)
    if is_module(model) or not isinstance(data, (str, Path)):
        make_dir(check_out_folder(out, "out=", RUN_NAMES), within=out)
    if is_module(model):
        from pruning.onnx.torch_export import export_torch
        ds = as_dataset(data) if not isinstance(data, (str, Path)) else None
        shape = ds.input_shape if ds is not None else _input_shape_of(data)
        path = out / "model.onnx"
        exported = export_torch(model, tuple(shape)).SerializeToString()
        _write_input(path, os.path.lexists(path) and read_file(path, MAX_INPUT_BYTES, within=out) == exported,
                     lambda: write_file(path, exported, within=out))
        model = str(path)
    if not isinstance(data, (str, Path)):
        ds = as_dataset(data)
        path = out / "data.npz"
        arrays = {"x_train": ds.train_x, "y_train": ds.train_y, "x_test": ds.test_x, "y_test": ds.test_y}
        _write_input(path, _holds_arrays(path, arrays), lambda: write_file(path, lambda f: np.savez(f, **arrays),
                                                                           within=out))
        data = str(path)
    return run_job(replace(job, model=str(model), data=str(data)), on_status=on_status, on_progress=on_progress)


def _write_input(path: Path, same: bool, write: Callable[[], Any]) -> None:
    """An input the API saves into OUT: kept when a rerun gives the same (so the run resumes;
    np.savez stamps the time), written when new, refused when it would replace the input of
    the run OUT holds."""
    if same:
        return
    if path.exists() and (path.parent / "job.json").exists():
        raise SearchError(f"{path.parent} holds a run of another {path.stem}; use another out=, or the "
                          "same model and data to resume it")
    write()


def _holds_arrays(path: Path, arrays: Mapping[str, Any]) -> bool:
    """Whether the .npz file at `path` holds exactly these arrays (same names, dtypes, values)."""
    import zipfile

    import numpy as np
    if not os.path.lexists(path):
        return False
    try:
        with open_file(path, within=path.parent) as fh, np.load(fh, allow_pickle=False) as old:
            return set(old.files) == set(arrays) and all(
                old[k].dtype == np.asarray(v).dtype and np.array_equal(old[k], v) for k, v in arrays.items())
    except (OSError, ValueError, zipfile.BadZipFile):
        return False


def _input_shape_of(data) -> tuple[int, ...]:
    from pruning.data import load_dataset
    return tuple(load_dataset(str(data), limit=10, test_limit=10).input_shape)

