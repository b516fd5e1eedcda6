import numpy as np
import pytest

from hwmodels import tech


def test_cacti_interpolation_reproduces_every_table_point():
    t = tech.cacti_table()
    for cell_code, cell in enumerate(tech.SRAM_CELLS):
        for i, port in enumerate(t.ports):
            for j, size in enumerate(t.size_kb):
                got = tech.sram_access_ns(size, port, cell_code)
                assert got == pytest.approx(t.values[cell]["access_ns"][i, j], rel=1e-12)
                area = tech.sram_um2_per_bit(size, port, cell_code) * size * 8192 / 1e6
                assert area == pytest.approx(t.values[cell]["area_mm2"][i, j], rel=1e-12)


def test_sram_grows_with_macro_size_and_lstp_is_slower():
    sizes = np.array([2, 8, 64, 512, 2048.0])
    access = tech.sram_access_ns(sizes, 64, 1)
    energy = tech.sram_read_pj(sizes, 64, 1)
    assert np.all(np.diff(access) > 0) and np.all(np.diff(energy) > 0)
    assert np.all(tech.sram_access_ns(sizes, 64, 1) > tech.sram_access_ns(sizes, 64, 0))
    # between table points the interpolation stays between the neighbours
    mid = tech.sram_access_ns(100.0, 64, 1)
    assert tech.sram_access_ns(64.0, 64, 1) < mid < tech.sram_access_ns(128.0, 64, 1)


def test_mac_cost_grows_with_operand_width():
    bits = np.array([4, 8, 16, 32])
    for fn in (tech.mac_area_um2, tech.mac_energy_pj, tech.mac_delay_ns):
        assert np.all(np.diff(fn(bits)) > 0)
    # Horowitz anchors: 8-bit multiply 0.2 pJ + accumulator add
    assert tech.mac_energy_pj(8) == pytest.approx(0.2 + 0.1 / 32 * 24)
    assert tech.mac_area_um2(16, "fp32") > tech.mac_area_um2(16, "fp16") > tech.mac_area_um2(16)
