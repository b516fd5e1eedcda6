"""One CLI vocabulary: shared flag names (former names still parse, hidden), defaults read from
the job dataclasses, typo suggestions, short help with a method's options on request."""
from __future__ import annotations

import dataclasses

import pytest

from codesign.cli import build_parser, main
from codesign.loop.job import SearchJob
from pruning.prune_job import PruneJob


def _help(capsys, *argv) -> str:
    with pytest.raises(SystemExit):
        main([*argv, "--help"])
    return capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["plan", "lenet5", "--alpah", "0.1"], "unknown option --alpah; did you mean --alpha?"),
    (["prune", "lenet5", "--epocs", "1", "--out", "x"], "unknown option --epocs; did you mean --epochs?"),
    (["search", "lenet5", "--admm-rhoo", "1"], "unknown option --admm-rhoo; did you mean --admm-rho?"),
    (["prune", "lenet5", "--zzzz"], "unknown option --zzzz (see"),
])
def test_a_misspelt_flag_is_named_before_anything_else(capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_an_abbreviation_still_works():
    assert build_parser().parse_args(["plan", "lenet5", "--alph", "0.1"]).alpha == 0.1


@pytest.mark.parametrize("command", ["prune", "search"])
def test_help_is_short_and_shows_one_methods_options_on_request(capsys, command):
    text = _help(capsys, command)
    assert len(text.splitlines()) < 120 and "--admm-rho" not in text
    assert f"`codesign {command} --method M --help`" in " ".join(text.split())
    ltp = _help(capsys, command, "--method", "ltp")
    assert "ltp options" in ltp and "--ltp-lam-n" in ltp and "--admm-rho" not in ltp


def test_former_names_still_parse_and_are_hidden(capsys):
    parser = build_parser()
    prune = parser.parse_args(["prune", "m", "--alphas", "p.json", "--limit", "50", "--no-progress", "--out", "o"])
    assert (prune.sparsity, prune.limit, prune.quiet) == ("p.json", 50, True)
    search = parser.parse_args(["search", "m", "--initial", "s.json", "--batch", "3"])
    assert (search.sparsity, search.batch) == ("s.json", 3)
    for command, old in (("prune", "--alphas"), ("prune", "--no-progress"), ("search", "--initial"),
                         ("search", "--batch")):
        assert old not in _help(capsys, command).replace("--batch-size", "")
    with pytest.raises(SystemExit):          # still one of --alpha / --sparsity
        parser.parse_args(["prune", "m", "--alpha", "0.5", "--alphas", "p.json", "--out", "o"])


@pytest.mark.parametrize("job, argv", [(PruneJob, ["prune", "m", "--alpha", "0.5", "--out", "o"]),
                                       (SearchJob, ["search", "m"])])
def test_cli_defaults_are_the_job_dataclasses(job, argv):
    args = vars(build_parser().parse_args(argv))
    checked = 0
    for f in dataclasses.fields(job):
        if f.name in args and f.name not in ("model", "alpha", "out", "pretrain_epochs") \
                and f.default is not dataclasses.MISSING:
            comma_list = isinstance(f.default, tuple)              # --patterns a,b
            assert args[f.name] == (",".join(f.default) if comma_list else f.default), f.name
            checked += 1
    assert checked >= 10
    assert args["pretrain_epochs"] is None               # picked by the model's kind (pruning.models)


def test_quiet_is_one_flag_across_commands(tmp_path, capsys):
    argv = ["sweep", "lenet5", "--vary", "pes=64,128", "--out", str(tmp_path / "s")]
    assert main(argv) == 0 and "sweep: " in capsys.readouterr().err        # progress lines in a log
    assert main(argv + ["--quiet"]) == 0 and capsys.readouterr().err == ""
