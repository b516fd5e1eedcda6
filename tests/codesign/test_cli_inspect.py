"""`codesign inspect` as a user runs it: table, JSON document, CSV file."""
import csv
import json
import subprocess
import sys
from pathlib import Path

from codesign.cli import main
from golden import ALEXNET_224_MACS, ALEXNET_224_PARAMS, ALEXNET_227_MACS


def test_table(capsys):
    assert main(["inspect", "alexnet"]) == 0
    out = capsys.readouterr().out
    assert "8 compute layers" in out and "conv1_w_0" in out and "101,616,768" in out
    assert "one multiply-add = one MAC" in out
    assert "654,560,384" in out                               # the total row


def test_json_document(capsys):
    assert main(["inspect", "alexnet", "--input-shape", "1x3x227x227", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["model"] == "alexnet" and doc["input_shape"] == [1, 3, 227, 227]
    assert [l["macs"] for l in doc["layers"]] == ALEXNET_227_MACS
    assert {"name", "op", "weight_shape", "groups", "output_shape", "params", "macs"} <= set(doc["layers"][0])
    assert doc["totals"]["params"] == sum(ALEXNET_224_PARAMS)
    assert doc["totals"]["macs"] == sum(ALEXNET_227_MACS)


def test_csv(tmp_path, capsys):
    path = tmp_path / "out" / "alexnet.csv"
    assert main(["inspect", "alexnet", "--csv", str(path)]) == 0
    rows = list(csv.DictReader(path.open()))
    assert [int(r["macs"]) for r in rows] == ALEXNET_224_MACS
    assert rows[1]["weight_shape"] == "256x48x5x5" and rows[1]["groups"] == "2"


def test_console_script_runs():
    script = Path(sys.executable).parent / "codesign"          # installed by pyproject's [project.scripts]
    proc = subprocess.run([str(script), "inspect", "squeezenet"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "26 compute layers" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "codesign", "inspect", "missing.onnx"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.startswith("codesign: error: model 'missing.onnx' not found")
