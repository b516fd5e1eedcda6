import numpy as np
import pytest

from hwmodels import tech


def test_cacti_interpolation_reproduces_every_table_point():
    t = tech.cacti_table()
    for cell_code, cell in enumerate(tech.SRAM_CELLS):
        for i, port in enumerate(t.ports):
            for j, size in enumerate(t.size_kb):
                got = tech.sram_macro(size, port, cell_code)
                assert got["access_ns"] == pytest.approx(t.values[cell]["access_ns"][i, j], rel=1e-12)
                area = got["um2_per_bit"] * size * 8192 / 1e6
                assert area == pytest.approx(t.values[cell]["area_mm2"][i, j], rel=1e-12)


def test_sram_grows_with_macro_size_and_lstp_is_slower():
    sizes = np.array([2, 8, 64, 512, 2048.0])
    lstp, hp = tech.sram_macro(sizes, 64, 1), tech.sram_macro(sizes, 64, 0)
    assert np.all(np.diff(lstp["access_ns"]) > 0) and np.all(np.diff(lstp["pj_per_bit"]) > 0)
    assert np.all(lstp["access_ns"] > hp["access_ns"])
    mid = tech.sram_macro(100.0, 64, 1)["access_ns"]
    assert tech.sram_macro(64.0, 64, 1)["access_ns"] < mid < tech.sram_macro(128.0, 64, 1)["access_ns"]


def test_mac_cost_grows_with_operand_width():
    bits = np.array([4, 8, 16, 32])
    assert np.all(np.diff(tech.mac_area_um2(bits)) > 0)
    assert np.all(np.diff(tech.mac_energy_pj(bits)) > 0)
    assert np.all(np.diff(tech.mac_delay_ns(bits, 0, 1.1)) > 0)
    # Horowitz anchors: 8-bit multiply 0.2 pJ + accumulator add
    assert tech.mac_energy_pj(8) == pytest.approx(0.2 + 0.1 / 32 * 24)
    assert tech.mac_area_um2(16, 2) > tech.mac_area_um2(16, 1) > tech.mac_area_um2(16)
