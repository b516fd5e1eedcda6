"""The fast subset of the fuzz suite (the full campaign is benchmarks/fuzz_campaign.py): seeded hostile
inputs of every family through the CLI's main, each either working with finite numbers or
refused with one clear line and exit 2; plus Hypothesis on the free-text arguments."""
from __future__ import annotations

import functools

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from fuzz.generators import FAMILIES, vary_strings
from fuzz.harness import problems, run_in_process

FAST = {"set": 40, "hardware": 30, "input-shape": 30, "sparsity": 30, "onnx": 60, "data": 6}


@pytest.mark.parametrize("family", sorted(FAST))
def test_every_case_of_the_family_is_handled(family, tmp_path):
    generate = FAMILIES[family] if family != "vary" else functools.partial(vary_strings, long_list=40)
    failures = []
    for label, argv in generate(FAST[family], 1, tmp_path):
        found = problems(run_in_process(argv))
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
