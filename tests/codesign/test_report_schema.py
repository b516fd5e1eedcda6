"""`codesign report RUN` on tampered report-data.json: one line, exit 2, nothing rendered.

Real report data (a plan with uncertainty ranges, a three-key sweep, the committed vgg7
search) is mutated into invalid data: wrong types, extra nesting, NaN/inf where a number must
be finite, strings and lists beyond the limits, missing and unknown keys, lists of unequal
length, numbers out of their range."""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import io
import json
import math
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from codesign import api
from codesign.cli import main
from codesign.plans import LayerPlan, Plan
from codesign.report.model import Curve, Report, SearchTrace, SweepData
from codesign.report.renderer import DATA_FILE, load
from codesign.report.schema import MAX_ITEMS, MAX_TEXT
from hwmodels.decide import ratio_label

REPO = Path(__file__).resolve().parents[2]
SHOWN = ("meta", "summary", "grid", "slice_values")       # any scalar goes (text, number, bool, null)
UNBOUNDED = ("r_star", "speedups", "median_r_star")        # may be inf or nan
NEVER = ("break_even", "break_even_range")                 # r*: inf (null in the file) is "never"
SHAPES = {"": Report, "layers": LayerPlan, "curves": Curve, "searches": SearchTrace, "sweep": SweepData}


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """kind -> parsed report-data.json written by the tool itself."""
    base = tmp_path_factory.mktemp("real")
    net = api.load("alexnet", "1x3x227x227")
    hw = api.hardware("smic40-admmnn")
    api.plan(net, hw, alpha=0.15, uncertainty=10).report(base / "plan")
    api.sweep(net, hw, vary={"pes": [128, 256], "sram_macro_kb": [32, 64], "weight_bits": [8, 16]}).report(
        base / "sweep", network=net, base=hw)
    out = {kind: json.loads((base / kind / DATA_FILE).read_text()) for kind in ("plan", "sweep")}
    out["search"] = json.loads((REPO / "reports" / "vgg7-search" / DATA_FILE).read_text())
    return out


def _leaves(x, path=()):
    """(path, value) of every scalar, outside the free-form plan JSON."""
    if isinstance(x, dict):
        for k, v in x.items():
            if not (path == () and k == "plan"):
                yield from _leaves(v, path + (k,))
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from _leaves(v, path + (i,))
    else:
        yield path, x


def _objects(data):
    """(path, dataclass) of every dict that is one of the report's records."""
    yield (), Report
    for key in ("layers", "curves", "searches"):
        for i in range(len(data.get(key) or [])):
            yield (key, i), SHAPES[key]
    if data.get("sweep"):
        yield ("sweep",), SweepData


def _at(data, path):
    for p in path:
        data = data[p]
    return data


def _set(data, path, value):
    _at(data, path[:-1])[path[-1]] = value


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _typed(path):
    return not any(p in SHOWN for p in path if isinstance(p, str))


def _mutations(data):
    """(label, function that makes `data` invalid), every one of them."""
    leaves = list(_leaves(data))
    out = []
    for path, v in leaves:
        out.append((f"{path} nested in a list", lambda d, p=path: _set(d, p, [_at(d, p)])))
        out.append((f"{path} nested in an object", lambda d, p=path: _set(d, p, {"v": _at(d, p)})))
        if isinstance(v, str):
            out.append((f"{path} huge string", lambda d, p=path: _set(d, p, "x" * (MAX_TEXT + 1))))
        if _is_number(v) and _typed(path):
            out.append((f"{path} as text", lambda d, p=path: _set(d, p, "12")))
            if not any(p in UNBOUNDED for p in path if isinstance(p, str)):
                for bad in (math.nan, -math.inf) + ((math.inf,) if not any(p in NEVER for p in path) else ()):
                    out.append((f"{path} = {bad}", lambda d, p=path, b=bad: _set(d, p, b)))
    for path, cls in _objects(data):
        required = [f.name for f in dataclasses.fields(cls)
                    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        for name in required:
            out.append((f"{path} without {name}", lambda d, p=path, n=name: _at(d, p).pop(n)))
        out.append((f"{path} with an unknown key", lambda d, p=path: _at(d, p).update(bogus=1)))
    for i, layer in enumerate(data.get("layers", [])):
        out.append((f"layer {i} alpha 0", lambda d, i=i: d["layers"][i].update(alpha=0)))
        out.append((f"layer {i} negative latency", lambda d, i=i: d["layers"][i].update(latency_ns=-1.0)))
        out.append((f"layer {i} implementation", lambda d, i=i: d["layers"][i].update(implementation='x" onload="')))
    for i, _ in enumerate(data.get("curves", [])):
        out.append((f"curve {i} one speedup short", lambda d, i=i: d["curves"][i]["speedups"].pop()))
    for i, _ in enumerate(data.get("searches", [])):
        out.append((f"search {i} one phase short", lambda d, i=i: d["searches"][i]["phases"].pop()))
    if data.get("sweep"):
        out.append(("sweep key not in the grid", lambda d: d["sweep"]["keys"].append("nope")))
        out.append(("sweep grid column short", lambda d: next(iter(d["sweep"]["grid"].values())).pop()))
        out.append(("sweep slice on an unknown key", lambda d: d["sweep"]["slice_values"].update(nope=1)))
        out.append(("sweep without keys", lambda d: d["sweep"].update(keys=[])))
    out.append(("a report of another kind", lambda d: d.update(kind="poem")))
    out.append(("a title in a list", lambda d: d.update(title=["t"])))
    return out


def _report_fails(data) -> str:
    """Run `codesign report` on `data`; the error line (asserting exit 2, one line, no
    traceback and no rendered file)."""
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        run.mkdir()
        (run / DATA_FILE).write_text(json.dumps(data, allow_nan=True))
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(["report", str(run), "--out", str(Path(tmp) / "out")])
        lines = err.getvalue().strip().splitlines()
        assert code == 2 and len(lines) == 1 and "Traceback" not in err.getvalue(), err.getvalue()
        assert not (Path(tmp) / "out").exists() or not any((Path(tmp) / "out").rglob("report.*"))
        return lines[0]


def test_real_report_data_passes_and_reads_back(real, tmp_path):
    for kind, data in real.items():
        (tmp_path / kind).mkdir()
        (tmp_path / kind / DATA_FILE).write_text(json.dumps(data))
        report = load(tmp_path / kind)
        assert report.kind == kind
    curves = load(tmp_path / "search").curves
    assert any(math.isinf(c.r_star) for c in curves)        # "inf" read back as a number


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(pick=st.data())
def test_tampered_report_data_is_one_line_never_a_report(real, pick):
    kind = pick.draw(st.sampled_from(sorted(real)))
    data = copy.deepcopy(real[kind])
    mutations = _mutations(data)
    label, mutate = pick.draw(st.sampled_from(mutations), label="mutation")
    mutate(data)
    err = _report_fails(data)
    assert DATA_FILE in err, (label, err)


@pytest.mark.parametrize("label,mutate,expected", [
    ("speedup as text", lambda d: d["layers"][3].update(speedup="x"), 'layers[3].speedup must be a number, found "x"'),
    ("NaN latency", lambda d: d["layers"][0].update(latency_ns=math.nan), "layers[0].latency_ns must be a finite number"),
    ("a million and one notes", lambda d: d.update(notes=["n"] * (MAX_ITEMS + 1)), "notes must hold at most 1,000,000"),
    ("a summary value that is a list", lambda d: d["summary"].update(x=[1]), "summary.x must be text, a number"),
    ("no layers key but a bogus one", lambda d: d.update(lay=[]), "lay is not a field of Report"),
])
def test_the_error_names_the_json_path(real, label, mutate, expected):
    data = copy.deepcopy(real["plan"])
    mutate(data)
    assert expected in _report_fails(data), label


def test_every_mutation_of_one_layer_is_refused(real):
    """All mutations of the first layer row and the top level, not only sampled ones."""
    data = real["plan"]
    for label, mutate in _mutations(data):
        if "'layers', 0" in label or label.startswith("()") or "layer 0" in label:
            copied = copy.deepcopy(data)
            mutate(copied)
            _report_fails(copied)


def test_a_valid_rerender_still_writes_the_report(real, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / DATA_FILE).write_text(json.dumps(real["sweep"]))
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["report", str(run), "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "report.html").exists()
    shutil.rmtree(tmp_path / "out")


def test_never_is_inf_in_python_and_null_in_the_committed_files():
    """r* "never" is inf once read (report rows and plans alike) and written null again, as the
    committed report-data.json and its plan JSON hold it."""
    data = json.loads((REPO / "reports" / "vgg7-search" / DATA_FILE).read_text())
    never = [i for i, l in enumerate(data["layers"]) if l["break_even"] is None]
    assert never
    report = Report.from_dict(copy.deepcopy(data))
    assert all(math.isinf(report.layers[i]["break_even"]) for i in never)
    assert report.to_dict()["layers"] == data["layers"]
    plan = Plan.from_dict(data["plan"])
    assert all(math.isinf(plan.layers[i].break_even) for i in never)
    assert plan.to_dict()["layers"] == data["plan"]["layers"]
    assert ratio_label(plan.layers[never[0]].break_even) == "never"
