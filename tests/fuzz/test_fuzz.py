"""The fast subset of the fuzz suite (the full campaign is benchmarks/fuzz_campaign.py): seeded hostile
inputs of every family through the CLI's main (or the Python API), each either working with
finite numbers or refused with one clear line and exit 2 (a project error), and changing nothing
outside its run folder; plus Hypothesis on the free-text arguments."""
from __future__ import annotations

import functools

import pytest
import torch
from hypothesis import HealthCheck, example, given, settings, strategies as st

from fuzz.generators import FAMILIES, vary_strings
from fuzz.harness import Scene, problems, run_in_process, time_limit_for

FAST = {"set": 40, "hardware": 30, "input-shape": 30, "sparsity": 30, "onnx": 60, "data": 6}
# issue 26's families, on their cheaper cases: report folders (no training run to tamper with),
# resources that take no seconds to make, and links planted where cost-only commands write
NEW = {"run-folder": (functools.partial(FAMILIES["run-folder"], kinds=("plan", "sweep")), 8),
       "symlinks": (functools.partial(FAMILIES["symlinks"], commands=("report", "plan", "sweep", "inspect",
                                                                      "breakeven")), 12),
       "resources": (functools.partial(FAMILIES["resources"], cheap=True), 12),
       "api": (FAMILIES["api"], 12)}


@pytest.mark.parametrize("family", sorted(FAST))
def test_every_case_of_the_family_is_handled(family, tmp_path):
    generate = FAMILIES[family] if family != "vary" else functools.partial(vary_strings, long_list=40)
    failures = []
    for label, argv in generate(FAST[family], 1, tmp_path):
        found = problems(run_in_process(argv))
        if found:
            failures.append(f"{label}: {found}")
    assert not failures, "\n".join(failures[:10])


@pytest.mark.parametrize("family", sorted(NEW))
def test_every_case_of_the_new_families_is_handled(family, tmp_path):
    """Also: nothing changes outside the run folder (in the working folder, its parent or the
    folder planted links point to)."""
    torch.set_num_threads(1)
    generate, n = NEW[family]
    scene = Scene(tmp_path, watch_cwd=not getattr(FAMILIES[family], "writes_in_cwd", False))
    failures = []
    for label, case in generate(n, 1, tmp_path):
        found = problems(scene.run(case, forked=False), time_limit_for(case))
        if found:
            failures.append(f"{label}: {found}")
    assert not failures, "\n".join(failures[:10])


def test_vary_strings(tmp_path):
    failures = [f"{label}: {found}" for label, argv in vary_strings(25, 1, tmp_path, long_list=40)
                for found in [problems(run_in_process(argv))] if found]
    assert not failures, "\n".join(failures[:10])


TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(["pes", "weight_bits", "dram_gbps", "mode", "index_format", "fo4_ps", "bogus"]),
       value=TEXT)
def test_any_set_value_is_handled(key, value):
    assert problems(run_in_process(["plan", "alexnet", "--alpha", "0.2", "--set", f"{key}={value}"])) == []


@settings(max_examples=60, deadline=None)
@given(shape=TEXT)
def test_any_input_shape_is_handled(shape):
    assert problems(run_in_process(["inspect", "squeezenet", "--input-shape", shape])) == []


@settings(max_examples=40, deadline=None)
@given(alpha=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=10)))
@example(alpha=2.2250738585e-313)          # subnormal: its pruning ratio 1/α was inf in the table
def test_any_alpha_is_handled(alpha):
    assert problems(run_in_process(["plan", "alexnet", "--alpha", str(alpha)])) == []


def test_the_judge_catches_what_it_must(monkeypatch):
    """The harness itself: a traceback, a second error line, a non-finite number and a wrong
    exit code are each reported (a fuzz suite whose judge cannot fail proves nothing)."""
    import codesign.cli as cli
    from fuzz.harness import Outcome
    monkeypatch.setattr(cli, "main", lambda argv: 1 / 0)
    assert problems(run_in_process(["x"]))[0].startswith("crash: ZeroDivisionError")
    assert problems(Outcome(2, err="codesign: error: a\ncodesign: error: b\n")) == ["2 error lines"]
    assert problems(Outcome(0, out="speedup nanx\n"))[0].startswith("non-finite number")
    assert problems(Outcome(1)) == ["exit 1"]
    assert problems(Outcome(2, err="codesign: error: " + "x" * 500)) != []
    assert problems(Outcome(0, out="speedup 1.5x, infinity-free"), ) == []


def test_the_judge_catches_writes_outside_and_stray_api_errors(tmp_path):
    from codesign.errors import CodesignError
    scene = Scene(tmp_path)
    assert problems(scene.run(["plan", "lenet5", "--alpha", "0.3", "--csv", "x.csv"], forked=False)) == [
        "write outside the run folder: new cwd/case/x.csv, changed cwd/case"]
    secret = scene.outside / "secret.txt"
    found = problems(scene.run(lambda: secret.write_text("changed"), forked=False))
    assert found == ["write outside the run folder: changed outside/secret.txt"]

    def two_lines():
        raise CodesignError("a\nb")
    assert problems(scene.run(lambda: int("x"), forked=False))[0].startswith("crash: ValueError")
    assert problems(scene.run(two_lines, forked=False)) == ["CodesignError message of 2 lines"]
    assert problems(scene.run(lambda: None, forked=False)) == []


def _api_examples():
    """Calls the campaign's `api` family found ending in a multi-line or unbounded message, or in
    a ValueError (an array compared with a list of names)."""
    import numpy as np
    from fuzz.api_calls import cost_objects
    import codesign
    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    network, hw, plan, sweep, _ = cost_objects()
    return {"hardware(pes=<module>)": lambda: codesign.hardware(pes=module),
            "ranking(objective=<array>)": lambda: sweep.ranking(objective=np.zeros((2, 2))),
            "ranking(objective=<5,000 characters>)": lambda: sweep.ranking(objective="x" * 5000),
            "to_json(indent=<array>)": lambda: plan.to_json(indent=np.zeros((2, 2))),
            "save(path=<module>)": lambda: plan.save(path=module),
            "prune(data=<array>)": lambda: codesign.prune(module, np.zeros((2, 2)))}


@pytest.mark.parametrize("name", ["hardware(pes=<module>)", "ranking(objective=<array>)", "to_json(indent=<array>)",
                                  "ranking(objective=<5,000 characters>)", "save(path=<module>)", "prune(data=<array>)"])
def test_api_examples_found_by_the_campaign_end_in_one_line(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    o = run_in_process(_api_examples()[name])
    assert o.code == 2 and problems(o) == [], (o.err, o.crash, o.notes)
