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


import signal
import subprocess
import sys
import time

import pytest


def _sigint_default():
    # A test run started in the background of a non-interactive shell inherits SIGINT ignored,
    # and so would the child; a user's terminal delivers it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("moment", [0.3, 0.4, 0.5, "working"])
def test_ctrl_c_at_any_moment_is_one_line_and_exit_130(tmp_path, moment):
    """During start-up (imports: a delay) and in the middle of the work (after the sweep's
    first progress line of 30: a fixed delay raced the sweep on a fast machine)."""
    values = ",".join(str(16 * i) for i in range(1, 1500))
    proc = subprocess.Popen([sys.executable, "-m", "codesign", "sweep", "alexnet", "--vary", f"pes={values}",
                             "--vary", "index_width_bits=1,2,3,4,5,6,7,8,9,10", "--chunk", "4000",
                             "--out", str(tmp_path / "s")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_sigint_default)
    first = ""
    if moment == "working":
        first = proc.stderr.readline()
        assert first.startswith("sweep: ") and not first.startswith("sweep: 14990/"), first
    else:
        time.sleep(moment)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    err = first + err
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("sweep:")]
    assert proc.returncode == 130, err
    assert len(lines) == 1 and "interrupted" in lines[0] and "Traceback" not in err


def test_progress_lines_in_a_log_start_again_for_each_phase(capsys):
    """Not a terminal: one line per 10% of each phase (pretraining, then the method's phases)."""
    from codesign.cli.common import progress
    with progress("prune") as update:
        for done in range(0, 101, 5):
            update(done, 100, "pretrain")
        for done in range(0, 41, 4):
            update(done, 40, "admm")
        for done in range(0, 41, 4):
            update(done, 40, "masked")
    lines = capsys.readouterr().err.splitlines()
    assert sum("pretrain" in line for line in lines) == 11
    assert sum("admm" in line for line in lines) == 11 and sum("masked" in line for line in lines) == 11


def test_output_piped_into_a_reader_that_stops_early_is_not_an_error():
    """`codesign inspect vgg19 | head -1`: the closed pipe ends the command quietly, exit 0."""
    import subprocess
    import sys
    proc = subprocess.Popen([sys.executable, "-m", "codesign", "inspect", "vgg19", "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.read(10)
    proc.stdout.close()                                         # the reader goes away
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0 and "error" not in err, err
