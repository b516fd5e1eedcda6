"""Command-line mistakes found in review: one line, exit code 2, nothing written."""
from codesign.cli import main


def one_line_error(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    return err


def test_prune_without_targets_refuses_instead_of_training(capsys, tmp_path):
    out = tmp_path / "p"
    assert "--alpha" in one_line_error(capsys, ["prune", "lenet5", "--data", "synthetic", "--out", str(out)])
    assert not out.exists()


def test_output_path_that_is_a_directory(capsys, tmp_path):
    assert str(tmp_path) in one_line_error(capsys, ["plan", "alexnet", "--alpha", "0.3", "--out", str(tmp_path)])


def test_breakeven_plot_with_unknown_extension(capsys, tmp_path):
    assert ".png" in one_line_error(capsys, ["breakeven", "alexnet", "--plot", str(tmp_path / "x.foo")])


def test_calibrate_row_missing_its_speedup(capsys, tmp_path):
    points = tmp_path / "points.csv"
    points.write_text("layer,pruning_ratio,speedup\nconv4_w_0,3\n")
    err = one_line_error(capsys, ["calibrate", str(points), "--model", "alexnet"])
    assert "points.csv:2" in err
