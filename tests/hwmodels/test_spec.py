"""Typed specs and presets: sections, bounds, modes, ranges, sources, TOML round trips."""
import math

import pytest

from hwmodels.errors import ConfigError
from hwmodels.presets import (available_presets, dump, load, preset_path, read_preset, sources)
from hwmodels.spec import KEYS, HardwareSpec, coerce


def test_every_builtin_preset_loads_and_cites_sources_inside_the_repository():
    table = sources()
    assert set(available_presets()) >= {"smic40", "smic40-admmnn", "nm-2of4"}
    for name in available_presets():
        spec = read_preset(name)
        for key, (lo, hi) in spec.ranges.items():
            assert lo <= getattr(spec, key) <= hi, (name, key)
            assert spec.sources.get(key) in table, (name, key, spec.sources.get(key))
        for key, source in spec.sources.items():
            assert source in table, (name, key, source)


def test_flat_keys_are_unique_and_read_through_their_section(smic40):
    assert len(KEYS) == len({k for k in KEYS})
    assert smic40.pes == smic40.architecture.pes and smic40.fo4_ps == smic40.technology.fo4_ps
    assert smic40.flat()["index_width_bits"] == 4


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e400", True, "0", "-3", "4.5"])
def test_int_keys_refuse_non_finite_non_integral_and_out_of_bounds(value):
    with pytest.raises(ConfigError, match="pes"):
        coerce("pes", value)


@pytest.mark.parametrize("value", ["1e-320", "inf", "nan", "-1"])
def test_float_keys_refuse_non_finite_and_out_of_bounds(value):
    with pytest.raises(ConfigError, match="dram_gbps"):
        coerce("dram_gbps", value)


def test_a_key_of_the_other_mode_is_an_error_naming_key_and_mode(smic40):
    with pytest.raises(ConfigError, match="weight_sram_kb.*mode fixed.*'isoarea'"):
        smic40.replace(weight_sram_kb=256)
    fixed = smic40.replace(mode="fixed", weight_sram_kb=256)
    assert fixed.weight_sram_kb == 256 and fixed.mode == "fixed"
    with pytest.raises(ConfigError, match="onchip_weight_kb"):
        fixed.replace(onchip_weight_kb=1024)
    with pytest.raises(ConfigError, match="index_width_policy"):
        smic40.replace(mode="fixed", index_width_policy="fastest")


def test_a_changed_key_loses_its_range_and_unknown_keys_name_themselves(smic40):
    assert "fo4_ps" in smic40.ranges
    assert "fo4_ps" not in smic40.replace(fo4_ps=18.0).ranges
    with pytest.raises(ConfigError, match="unknown hardware key 'fo4'"):
        smic40.replace(fo4=18)
    with pytest.raises(ConfigError, match="pes"):
        smic40.replace(pes=250)                 # not a multiple of array_rows
    with pytest.raises(ConfigError, match="twice"):
        load("smic40", ["pes=512", "pes=1024"])


def test_dump_and_read_round_trip(tmp_path, admmnn):
    path = tmp_path / "copy.toml"
    path.write_text(dump(admmnn.renamed("copy")))
    back = read_preset(path)
    assert back.flat() == admmnn.flat()
    assert dict(back.ranges) == dict(admmnn.ranges) and dict(back.sources) == dict(admmnn.sources)


def test_a_partial_file_inherits_its_base(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('base = "smic40-admmnn"\n[architecture]\npes = 512\n'
                    '[evaluation.fixed]\nweight_sram_kb = 1024.0\n')
    spec = read_preset(path)
    assert spec.pes == 512 and spec.sparse_utilization == read_preset("smic40-admmnn").sparse_utilization
    assert spec.mode == "isoarea" and spec.weight_sram_kb == 1024.0
    assert read_preset(path).replace(mode="fixed").weight_sram_kb == 1024.0


@pytest.mark.parametrize("text, message", [
    ('[architecture]\nfo4_ps = 20.0\n', "belongs in \\[technology\\]"),
    ('[evaluation]\nweight_sram_kb = 2.0\n', "evaluation.fixed"),
    ('[architecture]\npes = { value = 256, min = 1 }\n', "one end of its range"),
    ('[technology]\nfo4_ps = { value = 30.0, min = 13.0, max = 25.0 }\n', "outside its range"),
    ('[architecture]\nbogus = 1\n', "unknown key 'bogus'"),
    ('base = "smic40"\nbase2 = 1\n', "top-level"),
    ('[[architecture]]\n', "must be a table"),
])
def test_bad_preset_files_name_the_problem(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        read_preset(path)


def test_unreadable_files_are_one_clear_error(tmp_path):
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe\x00 pes = 3")
    with pytest.raises(ConfigError, match="UTF-8"):
        read_preset(binary)
    deep = tmp_path / "deep.toml"
    deep.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError):
        read_preset(deep)
    with pytest.raises(ConfigError, match="does not exist"):
        preset_path(str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match="unknown hardware preset"):
        preset_path("no-such-preset")


def test_to_dict_shows_only_the_keys_of_the_mode(smic40):
    d = smic40.to_dict()
    assert "onchip_weight_kb" in d["evaluation"] and "weight_sram_kb" not in d["evaluation"]
    assert math.isfinite(d["technology"]["fo4_ps"])
    assert isinstance(HardwareSpec().architecture.pes, int)
