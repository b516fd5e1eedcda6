"""Run folders are closed rooms (issue 26): a link planted in place of any file or folder a
command writes, a FIFO or /dev/zero in place of a file it reads, an empty or linked --out, a
full or read-only disk each end in exit 2 with one line, and nothing outside the folder is
written, truncated or deleted. The commands run on their cheapest settings."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from codesign import api
from codesign.cli import main
from pruning.errors import PruningError

PRUNE = ["prune", "lenet5", "--data", "digits", "--alpha", "0.5", "--epochs", "0.05",
         "--pretrain-epochs", "0", "--limit", "400", "--test-limit", "100", "--no-progress"]
SEARCH = ["search", "lenet5", "--data", "digits", "--pretrain-epochs", "0", "--train-epochs", "0.1",
          "--final-epochs", "0.1", "--train-limit", "300", "--test-limit", "100", "--quiet"]


@pytest.fixture
def outside(tmp_path):
    """A folder outside every run folder, with a file that nothing may touch."""
    d = tmp_path / "outside"
    d.mkdir()
    (d / "secret.png").write_bytes(b"keep me")
    return d


def untouched(outside: Path) -> bool:
    return os.listdir(outside) == ["secret.png"] and (outside / "secret.png").read_bytes() == b"keep me"


def plant(path: Path, outside: Path) -> None:
    """A link to the outside folder where a folder belongs ("x/"), to its file otherwise."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(outside if path.name in FOLDERS else outside / "secret.png")


FOLDERS = {"figures", "checkpoints", "final"}


def one_error(capsys, code: int) -> str:
    """The command's one error line, after checking exit 2 and no traceback."""
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("codesign: error:")]
    assert code == 2 and len(errors) == 1 and "Traceback" not in err, err
    return errors[0]


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "run"
    api.plan(api.load("lenet5"), "smic40-admmnn", alpha=0.2).report(out)
    return out


@pytest.mark.parametrize("name", ["figures", "report.html", "report.md", "plan.json", "layers.csv",
                                  "report-data.json", "figures/speedup.png"])
def test_report_refuses_a_link_in_place_of_any_file_or_folder_it_writes(report_dir, tmp_path, outside,
                                                                        capsys, name):
    run = tmp_path / "run"
    shutil.copytree(report_dir, run)
    target = run / name
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    plant(target, outside)
    line = one_error(capsys, main(["report", str(run)]))
    assert f"{Path(name).name} is a symbolic link" in line
    assert untouched(outside) and target.is_symlink()


def test_report_out_with_planted_links_and_stale_figure_links(report_dir, tmp_path, outside, capsys):
    out = tmp_path / "elsewhere"
    plant(out / "layers.csv", outside)
    assert "layers.csv is a symbolic link" in one_error(capsys, main(["report", str(report_dir), "--out", str(out)]))
    (out / "layers.csv").unlink()
    plant(out / "figures" / "old.png", outside)            # a stale figure: the link goes, not its target
    assert main(["report", str(report_dir), "--out", str(out)]) == 0
    assert not os.path.lexists(out / "figures" / "old.png") and untouched(outside)
    assert (out / "figures" / "speedup.png").read_bytes()[:4] == b"\x89PNG"


def test_a_linked_run_folder_is_read_but_not_written_through(report_dir, tmp_path, capsys):
    linked = tmp_path / "linked-run"
    linked.symlink_to(report_dir)
    before = {p.name: p.stat().st_mtime_ns for p in report_dir.iterdir()}
    line = one_error(capsys, main(["report", str(linked)]))
    assert "linked-run is a symbolic link" in line and "give the folder itself" in line
    assert {p.name: p.stat().st_mtime_ns for p in report_dir.iterdir()} == before
    assert main(["report", str(linked), "--out", str(tmp_path / "copy")]) == 0
    assert (tmp_path / "copy" / "report.html").is_file()


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_report_data_as_fifo_or_dev_zero_ends_quickly(report_dir, tmp_path, kind):
    run = tmp_path / "run"
    shutil.copytree(report_dir, run)
    (run / "report-data.json").unlink()
    if kind == "fifo":
        os.mkfifo(run / "report-data.json")
    else:
        (run / "report-data.json").symlink_to("/dev/zero")
    done = subprocess.run([sys.executable, "-m", "codesign", "report", str(run)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert ("a FIFO" if kind == "fifo" else "symbolic link (to /dev/zero)") in done.stderr


def test_plan_outputs_refuse_links_and_empty_names_before_any_work(tmp_path, outside, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plant(tmp_path / "plan.json", outside)
    plant(tmp_path / "linked-report", outside)
    base = ["plan", "lenet5", "--alpha", "0.5"]
    for extra, message in ((["--out", "plan.json"], "--out plan.json is a symbolic link"),
                           (["--csv", "plan.json"], "--csv plan.json is a symbolic link"),
                           (["--report", "linked-report"], "--report linked-report is a symbolic link"),
                           (["--out", ""], "--out is empty"), (["--csv", ""], "--csv is empty"),
                           (["--report", str(outside / "secret.png")], "is a file, not a folder")):
        assert message in one_error(capsys, main(base + extra))
    assert untouched(outside)


def test_sweep_out_is_checked_before_the_sweep_runs(tmp_path, outside, capsys, monkeypatch):
    import codesign.sweeps

    def no_work(*a, **k):
        raise AssertionError("the sweep ran before --out was checked")
    monkeypatch.setattr(codesign.sweeps, "run_sweep", no_work)
    base = ["sweep", "lenet5", "--vary", "pes=64,128"]
    plant(tmp_path / "linked", outside)
    (tmp_path / "run").mkdir()
    plant(tmp_path / "run" / "configs.csv", outside)
    for out, message in (("", "--out is empty"), (str(outside / "secret.png"), "is a file, not a folder"),
                         (str(tmp_path / "linked"), "is a symbolic link"),
                         (str(tmp_path / "run"), "configs.csv is a symbolic link")):
        assert message in one_error(capsys, main(base + ["--out", out]))
    assert untouched(outside)


@pytest.mark.parametrize("name", ["model.onnx", "layers.json", "layers.csv", "sparsity.json", "masks.npz",
                                  "checkpoints", ".codesign.lock"])
def test_prune_refuses_a_planted_link_before_any_work(tmp_path, outside, capsys, name):
    run = tmp_path / "run"
    plant(run / name, outside)
    assert f"{name} is a symbolic link" in one_error(capsys, main(PRUNE + ["--out", str(run)]))
    assert untouched(outside)


@pytest.mark.parametrize("name", ["checkpoints/phase-admm-prune.pt.tmp", "checkpoints/phase-admm-prune.json"])
def test_prune_refuses_a_link_among_its_checkpoints(tmp_path, outside, capsys, name):
    torch.set_num_threads(1)
    run = tmp_path / "run"
    plant(run / name, outside)
    assert f"{Path(name).name} is a symbolic link" in one_error(capsys, main(PRUNE + ["--out", str(run)]))
    assert untouched(outside)


def test_the_api_refuses_a_linked_out_before_any_work(tmp_path, outside):
    (tmp_path / "linked").symlink_to(outside)
    with pytest.raises(PruningError, match="out= .*linked is a symbolic link"):
        api.prune("lenet5", "digits", alpha=0.5, epochs=0.05, pretrain_epochs=0, out=tmp_path / "linked")
    with pytest.raises(PruningError, match="out= .*linked is a symbolic link"):
        api.search(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)), "digits",
                   out=tmp_path / "linked")
    assert untouched(outside)


@pytest.mark.parametrize("name", ["job.json", "evaluations.jsonl", "summary.json", "final", "compressed.onnx",
                                  "report-data.json"])
def test_search_refuses_a_planted_link_before_any_work(tmp_path, outside, capsys, name):
    run = tmp_path / "run"
    plant(run / name, outside)
    assert f"{name} is a symbolic link" in one_error(capsys, main(SEARCH + ["--out", str(run)]))
    assert untouched(outside)


@pytest.fixture
def tmpfs(mount_tmpfs):
    """A 3 MiB tmpfs: the first prune checkpoint (2.6 MB) fits, the second does not."""
    return mount_tmpfs("3m")


def test_a_full_disk_during_prune_is_one_line_and_a_rerun_with_space_resumes(tmpfs, tmp_path, capsys):
    torch.set_num_threads(1)
    run = tmpfs / "run"
    line = one_error(capsys, main(PRUNE + ["--out", str(run)]))
    assert "no space left; free space on the disk of" in line
    assert not [p for p in run.rglob("*") if p.name.endswith(".tmp")]
    kept = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert kept == ["phase-admm-prune.json", "phase-admm-prune.pt"]
    assert isinstance(torch.load(run / "checkpoints" / "phase-admm-prune.pt", weights_only=True), dict)

    subprocess.run(["mount", "-o", "remount,size=32m", str(tmpfs)], check=True)
    assert main(PRUNE + ["--out", str(run)]) == 0
    assert "resuming" in capsys.readouterr().err
    reference = tmp_path / "uninterrupted"
    assert main(PRUNE + ["--out", str(reference)]) == 0
    for name in ("model.onnx", "sparsity.json", "layers.csv"):
        assert (run / name).read_bytes() == (reference / name).read_bytes(), name


def test_a_read_only_disk_is_refused_before_any_work(tmpfs, capsys):
    (tmpfs / "runs").mkdir()
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    assert "is not writable" in one_error(capsys, main(PRUNE + ["--out", str(tmpfs / "runs")]))
    line = one_error(capsys, main(["plan", "lenet5", "--alpha", "0.5", "--report", str(tmpfs / "runs" / "new")]))
    assert "cannot be made" in line and "not writable" in line
