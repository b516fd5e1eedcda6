"""Sweeps in chunks of config x layer pairs: the numbers and files do not depend on the chunks."""
import numpy as np

from codesign import sweeps
from codesign.cli import main
from codesign.specs import hardware
from hwmodels.paper001 import ALEXNET_CONV

HW = hardware("smic40-admmnn")
VARY = {"pes": [128, 256, 512], "index_width_bits": [3, 4, 6]}


def test_chunks_of_pairs_give_the_numbers_of_one_chunk():
    whole = sweeps.run_sweep(ALEXNET_CONV, HW, VARY)
    seen = []
    pieces = sweeps.run_sweep(ALEXNET_CONV, HW, VARY, chunk=2 * len(ALEXNET_CONV),
                              progress=lambda done, total: seen.append(done))
    assert seen == [2, 4, 6, 8, 9]                          # two configs per chunk
    for name in ("break_even", "latency_ns", "dense_latency_ns", "area_mm2"):
        assert np.array_equal(getattr(pieces, name), getattr(whole, name)), name


def test_break_even_csv_written_in_blocks_is_the_same_file(tmp_path, monkeypatch):
    result = sweeps.run_sweep(ALEXNET_CONV, HW, VARY)
    sweeps.write_csv(result, tmp_path)
    once = (tmp_path / "break_even.csv").read_text()
    monkeypatch.setattr(sweeps, "CSV_ROWS", 2)
    sweeps.write_csv(result, tmp_path)
    assert (tmp_path / "break_even.csv").read_text() == once
    rows = once.splitlines()
    assert len(rows) == 1 + 9 and rows[0].split(",")[:3] == ["config", "pes", "index_width_bits"]


def test_sweep_draws_its_png_only_when_asked(tmp_path, capsys):
    assert main(["sweep", "alexnet", "--vary", "pes=256,512", "--out", str(tmp_path), "--quiet"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["break_even.csv", "configs.csv"]
    assert "sweep.png" not in capsys.readouterr().out


def test_a_sweep_too_large_to_hold_is_refused_before_any_work(capsys):
    """1,000 x 1,000 configs of ResNet-50's 54 layers would hold 54 million results (about 1.9 GB)."""
    from codesign.cli import main
    values = ",".join(str(16 * i) for i in range(1, 1001))
    fo4 = ",".join(f"{13 + 12 * i / 999:.4f}" for i in range(1000))
    assert main(["sweep", "resnet50", "--vary", f"pes={values}", "--vary", f"fo4_ps={fo4}", "--out", "unused"]) == 2
    err = capsys.readouterr().err
    assert "54,000,000 results" in err and "split it" in err and len(err.strip().splitlines()) == 1
