"""Dense cycles equal SCALE-Sim v3's, measured on 181 runs (tests/hwmodels/data: OS, WS and IS,
layers narrower than the array and full size, five array shapes)."""
import csv
from pathlib import Path

import numpy as np
import pytest

from hwmodels import mapping
from hwmodels.configs import single
from hwmodels.cost import evaluate
from hwmodels.presets import read_preset
from hwmodels.workload import LayerArray, LayerShape

DATA = Path(__file__).with_name("data") / "scalesim_v3_cycles.csv"
CODES = {"os": mapping.OS, "ws": mapping.WS, "is": mapping.IS}


def rows():
    with DATA.open() as fh:
        return list(csv.DictReader(line for line in fh if not line.startswith("#")))


def test_the_measurements_cover_narrow_and_full_layers_on_every_dataflow():
    data = rows()
    assert len(data) >= 150
    assert {r["dataflow"] for r in data} == {"os", "ws", "is"}
    narrow = [r for r in data if int(r["filters"]) < int(r["array_cols"])]
    assert len(narrow) > 50 and any(r["layer"] == "alexnet_conv3" for r in data)


@pytest.mark.parametrize("row", rows(), ids=lambda r: f"{r['layer']}-{r['array_rows']}x{r['array_cols']}-{r['dataflow']}")
def test_closed_form_equals_scalesim(row):
    k = int(row["filt_h"]) * int(row["filt_w"]) * int(row["channels"])
    got, used = mapping.cycles(CODES[row["dataflow"]], float(row["array_rows"]), float(row["array_cols"]),
                               float(row["ofmap_px"]), float(row["filters"]), 1.0, k, k, k)
    assert got == int(row["total_cycles"])
    assert used == CODES[row["dataflow"]]


def test_the_dense_design_uses_these_cycles():
    """A layer's dense cycles in the cost model are the closed form (SCALE-Sim has no padding:
    the layer below is 11x11 outputs from a 13x13 input)."""
    shape = LayerShape("w", "conv", 1, 64, 4, (3, 3), (13, 13), (11, 11))
    for df, code in CODES.items():
        spec = read_preset("smic40").replace(dataflow=df)
        res = evaluate(single(spec), LayerArray.from_shapes([shape]), np.array([0.5]))
        want = [r for r in rows() if r["layer"] == "few_filters" and r["dataflow"] == df
                and r["array_rows"] == r["array_cols"] == "16"][0]
        assert float(res.dense.cycles[0, 0, 0]) == int(want["total_cycles"])


def test_auto_takes_the_fastest_of_the_three():
    args = (16.0, 16.0, 121.0, 4.0, 1.0, 576.0, 576.0, 576.0)
    each = {c: mapping.cycles(c, *args)[0] for c in (mapping.OS, mapping.WS, mapping.IS)}
    got, used = mapping.cycles(mapping.AUTO, *args)
    assert got == min(each.values()) and used == min(each, key=each.get)
