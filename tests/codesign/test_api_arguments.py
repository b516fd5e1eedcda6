"""The Python API's arguments: a bad value of any argument of any public function (and of the
results' methods) ends in one of the project's error types, one line, or the call succeeds;
never a TypeError from numpy, pathlib or torch. prune and search refuse bad values before any
training, so their calls end in seconds. Also: explicit signatures whose defaults are the job
dataclasses', the progress callback, and data that does not fit a torch module named as data."""
import inspect
import math
import os
import time
from dataclasses import MISSING, fields
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st

import codesign
from codesign.errors import CodesignError
from hwmodels.errors import HardwareModelError
from pruning.errors import DatasetError, PruningError
from fuzz.api_calls import NOT_DRAWN, TINY_PRUNE, TINY_SEARCH, call_replacing, calls, loader, torch_net as net

torch.set_num_threads(1)
PROJECT_ERRORS = (CodesignError, PruningError, HardwareModelError)

# Names without "/", "." or "~": a drawn text is never a path outside the test's folder.
NAME = st.text(st.characters(blacklist_characters="/\\.~", blacklist_categories=("Cs",)), max_size=6)
FIXED_BAD = st.sampled_from([None, True, 0, -1, 2 ** 64, -(10 ** 30), 1.5, math.nan, math.inf, -math.inf, "", " ",
                     "\x00", "a\nb", "\x1b[2J", "no/such/dir/file.onnx", "missing.json", (-1, 3),
                     (1, -1, 28, 28), (), [], {}, b"bytes", object(), Path("no/such/file"), 1j])
NOT_NUMBERS = st.one_of(FIXED_BAD, NAME, st.lists(st.integers(-3, 3), max_size=3).map(tuple),
                        st.dictionaries(NAME, st.integers(-2, 2), max_size=2))
BAD = st.one_of(NOT_NUMBERS, st.integers(), st.floats())
# prune and search take any number in range as real work (878 pretraining epochs is valid and
# slow): there, only values that are never a valid setting, or cheap ones, are drawn
BAD_UP_FRONT = NOT_NUMBERS


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """The fuzz table of each public function and result method with valid arguments, run in a
    folder of its own (output paths and drawn names become files there)."""
    folder = tmp_path_factory.mktemp("api")
    old = os.getcwd()
    os.chdir(folder)
    yield Api(calls(folder), folder)
    os.chdir(old)


class Api(tuple):
    """(calls by name, their folder), shown short in Hypothesis's reports."""
    def __new__(cls, table, folder):
        return super().__new__(cls, (table, folder))

    def __repr__(self) -> str:
        return "api"


def call_with_bad_argument(api, name: str, data, values=BAD) -> float:
    """One drawn argument of `name` replaced by a drawn bad value; only the project's errors
    (one line) may escape. Returns the seconds the call took."""
    table, folder = api
    arg = data.draw(st.sampled_from(sorted(set(table[name][1]) - NOT_DRAWN)), label="argument")
    call = call_replacing(name, arg, data.draw(values, label="value"), folder)
    start = time.perf_counter()
    try:
        call()
    except PROJECT_ERRORS as exc:
        assert "\n" not in str(exc), str(exc)
    return time.perf_counter() - start


CHEAP = ["load", "hardware", "breakeven", "plan", "sweep", "Plan.layer", "Plan.to_json", "Plan.save",
         "Plan.to_csv", "BreakEvenResult.to_csv", "SweepResult.ranking", "SweepResult.config",
         "SweepResult.slice", "SweepResult.to_csv", "PruneResult.to_csv", "PruneResult.save", "pruner"]
REPORTS = ["Plan.report", "SweepResult.report", "PruneResult.report"]
RUNS = ["prune", "search"]


@pytest.mark.parametrize("name", CHEAP)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_bad_arguments_of_the_cost_api_and_results_raise_project_errors(api, name, data):
    call_with_bad_argument(api, name, data)


@pytest.mark.parametrize("name", REPORTS)
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_bad_arguments_of_reports_raise_project_errors(api, name, data):
    call_with_bad_argument(api, name, data)


@pytest.mark.parametrize("name", RUNS)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_prune_and_search_refuse_bad_arguments_before_training(api, name, data):
    assert call_with_bad_argument(api, name, data, BAD_UP_FRONT) < 5


def test_every_parameter_of_every_public_function_is_drawn(api):
    """A new parameter must join fuzz.api_calls's table (hardware's **changes: by pes=)."""
    table, _ = api
    assert sorted(CHEAP + REPORTS + RUNS) == sorted(table)
    for name, (fn, good) in table.items():
        params = {p.name for p in inspect.signature(fn).parameters.values() if p.kind != p.VAR_KEYWORD}
        assert params == set(good) - ({"pes"} if name == "hardware" else set()), name
    exported = {n for n in codesign.__all__ if n[0].islower()}
    assert exported <= set(table), exported - set(table)


# ---- signatures -------------------------------------------------------------------------------

def _job_defaults(job_class) -> dict:
    return {f.name: None if f.default is MISSING else f.default for f in fields(job_class)}


@pytest.mark.parametrize("fn, job_class, own", [
    ("prune", "pruning.prune_job.PruneJob", {"pretrain_epochs"}),        # None: by the model's kind
    ("search", "codesign.loop.job_spec.SearchJob", set())])
def test_signature_defaults_are_the_job_dataclass_defaults(fn, job_class, own):
    import importlib
    module, _, cls = job_class.rpartition(".")
    defaults = _job_defaults(getattr(importlib.import_module(module), cls))
    params = inspect.signature(getattr(codesign, fn)).parameters
    assert all(p.kind == p.KEYWORD_ONLY for p in list(params.values())[2:])
    shared = [n for n in list(params)[2:] if n in defaults and n not in own]      # after model, data
    assert len(shared) >= 15
    assert {n: params[n].default for n in shared} == {n: defaults[n] for n in shared}
    assert params["pretrain_epochs"].default is None


def test_a_misspelt_option_is_a_type_error_at_the_call(tmp_path):
    with pytest.raises(TypeError, match="alpah"):
        codesign.prune(net(), loader(), alpah=0.5)
    with pytest.raises(TypeError, match="max_dorp"):
        codesign.search(net(), loader(), out=tmp_path / "s", max_dorp=1.0)
    assert not (tmp_path / "s").exists()


# ---- the named cases --------------------------------------------------------------------------

def test_a_negative_dimension_in_a_tuple_shape_is_refused_as_a_shape():
    with pytest.raises(CodesignError, match="positive integers") as info:
        codesign.load("lenet5", input_shape=(1, -1, 28, 28))
    assert "reshape" not in str(info.value)


@pytest.mark.parametrize("run", ["prune", "search"])
def test_a_dataloader_of_the_wrong_sample_shape_is_named_as_data(tmp_path, run):
    options = dict(TINY_PRUNE) if run == "prune" else dict(TINY_SEARCH, out=tmp_path / "s")
    with pytest.raises(DatasetError, match=r"samples of shape \(1, 7, 7\).*do not fit the module") as info:
        getattr(codesign, run)(net(), loader(torch.rand(60, 1, 7, 7)), **options)
    assert "export" not in str(info.value)
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("data, message", [
    (loader(torch.rand(60, 1, 8, 8, dtype=torch.complex64)), "must hold numbers"),
    (torch.utils.data.DataLoader([(torch.rand(1, 8, 8), 1, 2)] * 8), r"not list of 3"),
    (loader(torch.rand(0, 1, 8, 8)), "is empty"),
    (loader(y=torch.arange(60) % 12), "labels go up to 11 but the model has 10 outputs"),
    (loader(y=-(torch.arange(60) % 10)), "negative label"),
    (torch.utils.data.DataLoader([("text", 1)] * 8), "cannot be read as .input, label. pairs of numbers"),
    (torch.utils.data.DataLoader([(torch.rand(1, 8, 8 + i % 2), i % 10) for i in range(20)], batch_size=1),
     "several shapes"),
])
def test_torch_data_problems_are_dataset_errors(data, message):
    with pytest.raises(DatasetError, match=message):
        codesign.prune(net(), data, **TINY_PRUNE)


def test_an_unbatched_dataloader_is_read_sample_by_sample():
    x, y = torch.rand(40, 1, 8, 8), torch.arange(40) % 10
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=None)
    result = codesign.prune(net(), data, **TINY_PRUNE)
    assert result.totals["test_samples"] == 8                   # 20% of 40


# ---- progress ---------------------------------------------------------------------------------

def test_search_reports_progress_and_status_lines(tmp_path):
    steps, lines = [], []
    data = loader(torch.rand(200, 1, 8, 8), torch.arange(200) % 10)
    codesign.search(net(), data, out=tmp_path / "s", **dict(TINY_SEARCH, train_epochs=0.5),
                    progress=lambda done, total, message: steps.append((done, total, message)),
                    on_status=lines.append)
    assert steps and all(isinstance(d, int) and isinstance(t, int) and 0 <= d <= t for d, t, _ in steps)
    assert any(m.startswith("admm") for _, _, m in steps)
    assert any("search with the dp allocator" in line for line in lines)
