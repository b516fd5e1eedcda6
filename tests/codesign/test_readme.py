"""The README's Python API example runs as written, and its two commands are the project's own."""
from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(), flags=re.S)


def test_the_api_example_runs_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (example,) = _blocks("python")
    exec(compile(example, "README.md", "exec"), {})
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "2.41x on the fixed chip"              # the number the comment promises
    assert out[3] == "2368"
    accuracy, samples, ratio = map(float, out[4].split())
    assert 0.0 < accuracy <= 1.0 and abs(ratio - 1 / 0.3) < 0.05
    assert samples == 359               # 20% of sklearn's 1,797 digits held out for testing (floor)


def test_the_two_commands_are_what_ci_runs():
    commands = [b.strip() for b in _blocks("bash")]
    assert commands[1] == "bash .ci/setup && .venv/bin/python -m pytest -q tests"
    ci = (README.parent / ".ci" / "run").read_text()
    assert "bash .ci/setup" in ci and ".venv/bin/python -m pytest -q tests" in ci
    assert commands[0].startswith("bash .ci/setup && .venv/bin/codesign plan alexnet")
