"""The tensor-core GPU target: its time model, decisions, presets and measurement table."""
import dataclasses

import numpy as np
import pytest

from hwmodels.errors import ConfigError
from hwmodels.gpu import GemmArray, GpuSpec, evaluate, kernel_times, pays_from
from hwmodels.gpu.measured import read_measurements
from hwmodels.gpu.measured import predict as predict_rows
from hwmodels.presets import dump, read_preset
from hwmodels.workload import LayerShape


@pytest.fixture(scope="module")
def a100():
    return read_preset("a100")


def token_4096():
    return GemmArray.from_dims(1, 4096, 4096)


def test_one_token_through_4096x4096_is_slower_with_2to4_on_pytorch_eager_path(a100):
    # pytorch#111339: dense 0.022 ms, 2:4 0.196 ms (0.111x) on an A100
    costs = evaluate(a100, token_4096(), [1], path="torch-eager")
    assert costs.sparse_speedup[0, 0] < 0.5
    assert not costs.runs_sparse[0, 0]


def test_one_token_saves_at_most_the_weight_bytes_at_kernel_level(a100):
    # memory bound: 2:4 reads half the weights plus 2 bits of metadata per kept value
    costs = evaluate(a100, token_4096(), [1])
    assert not costs.dense.math_bound[0, 0]
    assert costs.sparse_speedup[0, 0] < 1 / (0.5 + 1 / 16)


@pytest.mark.parametrize("shape", [(4096, 4096), (1024, 4096), (4096, 1024), (3072, 10240)])
def test_large_fp16_linears_at_batch_64_and_more_are_faster(a100, shape):
    n, k = shape
    gemms = GemmArray.from_dims(128, n, k)         # 128 tokens per sample
    costs = evaluate(a100, gemms, [64, 256, 1024])
    assert np.all(costs.sparse_speedup[:, 0] > 1.05)
    assert costs.pays_from() == [64]


def test_speedup_never_exceeds_the_sparse_math_speedup():
    rng = np.random.default_rng(0)
    dims = rng.integers(1, 16384, size=(3, 300))
    for name in ("a100", "h100", "l4"):
        spec = read_preset(name)
        for dtype in ("fp16", "int8"):
            costs = evaluate(spec, GemmArray.from_dims(*dims), [1, 8, 64], dtype=dtype)
            assert costs.sparse_speedup.max() <= spec.sparse_math_speedup


def test_more_batch_is_more_math_bound(a100):
    n, k = np.array([768, 4096, 1024]), np.array([768, 4096, 4096])
    gemms = GemmArray.from_dims(1, n, k)
    batches = np.array([1, 4, 16, 64, 256, 1024, 4096])
    for sparse in (False, True):
        t = kernel_times(a100, gemms, batches, sparse=sparse)
        achieved = 2 * batches[:, None] * n * k / t.time_us       # useful FLOP per us
        assert np.all(np.diff(achieved, axis=0) >= -0.02 * achieved[1:])
    dense = kernel_times(a100, gemms, [1, 4096])
    assert not dense.math_bound[0, 1:].any() and dense.math_bound[1, 1]


def test_wave_quantization_a_partial_wave_costs_a_full_one(a100):
    sms = a100.sms
    gemms = GemmArray.from_dims([128 * sms, 128 * (sms + 1)], 128, 4096)
    t = kernel_times(a100, gemms, [1], tiles=[(128, 128)], splits=[1])
    assert t.math_us[0, 1] / t.math_us[0, 0] == pytest.approx(2.0, rel=0.01)


def test_tile_quantization_pads_rows_to_the_tile(a100):
    gemms = GemmArray.from_dims([1, 100, 128], 1024, 4096)
    t = kernel_times(a100, gemms, [1], tiles=[(128, 128)], splits=[1])
    assert t.math_us[0, 0] == pytest.approx(t.math_us[0, 2], rel=1e-12)
    assert t.math_us[0, 1] == pytest.approx(t.math_us[0, 2], rel=1e-12)


def test_conv_is_an_implicit_gemm_and_batch_grows_m():
    conv = LayerShape("w", "conv", batch=2, in_channels=64, out_channels=128, kernel=(3, 3),
                      in_spatial=(56, 56), out_spatial=(28, 28), groups=2, stride=(2, 2))
    gemms = GemmArray.from_shapes([conv], model_batch=2)
    assert (gemms.m[0], gemms.n[0], gemms.k[0], gemms.groups[0]) == (2 * 28 * 28, 64, 32 * 9, 2)
    assert gemms.rows([1, 2, 8])[:, 0].tolist() == [28 * 28, 2 * 28 * 28, 8 * 28 * 28]


def test_pays_from_is_the_start_of_the_final_run_of_paying_batches():
    pays = np.array([[True, False, False], [False, True, False], [True, True, False]])
    assert pays_from([1, 16, 256], pays) == [256, 16, None]
    assert pays_from([256, 1, 16], pays[[2, 0, 1]]) == [256, 16, None]


def test_a_tie_runs_sparse_by_the_one_rule(a100):
    costs = evaluate(a100, token_4096(), [1])
    tied = dataclasses.replace(costs, sparse=dataclasses.replace(
        costs.sparse, time_us=costs.dense.time_us * (1 + 1e-12)))
    assert tied.runs_sparse[0, 0]


def test_unsupported_2to4_and_activation_products_never_run_sparse(a100):
    attn = LayerShape("qk", "dynamic_matmul", batch=128, in_channels=64, out_channels=128)
    odd = LayerShape("odd", "gemm", batch=128, in_channels=6, out_channels=64)
    costs = evaluate(a100, GemmArray.from_shapes([attn, odd]), [1, 64])
    assert not costs.runs_sparse.any()
    assert np.all(costs.sparse_speedup == 0)


def test_int8_halves_weight_bytes_pays_on_large_gemms_and_not_on_launch_bound_ones(a100):
    costs = evaluate(a100, GemmArray.from_dims([8, 4096, 1], [256, 8192, 4096], [256, 8192, 4096]), [1])
    assert costs.lowbit_dtype == "int8"
    tiny, large, token = costs.lowbit_speedup[0]
    assert tiny < 1.05 < large and token > 1.5


def test_presets_state_published_numbers_with_sources():
    for name, sms, tflops in (("a100", 108, 312.0), ("h100", 132, 989.4), ("l4", 58, 121.0)):
        spec = read_preset(name)
        assert (spec.sms, spec.fp16_tflops) == (sms, tflops)
        assert all(spec.sources.get(k) for k in spec.flat())
        assert read_preset(name) == spec
    text = dump(read_preset("h100"))
    assert 'target = "gpu"' in text and "[kernels]" in text


def test_fp8_on_a100_and_bad_keys_are_one_line_errors(a100):
    with pytest.raises(ConfigError, match="no fp8 tensor cores"):
        evaluate(a100, token_4096(), [1], dtype="fp8")
    with pytest.raises(ConfigError, match="unknown GPU key"):
        a100.replace("--set", pes=4)
    with pytest.raises(ConfigError, match="outside"):
        a100.replace("--set", sms=0)
    with pytest.raises(ConfigError, match="batches must be positive integers"):
        evaluate(a100, token_4096(), [0])


def test_unit_slips_and_a_sparse_kernel_better_than_dense_are_refused(a100):
    with pytest.raises(ConfigError, match="check the units"):
        a100.replace("--set", fp16_tflops=3.12)
    with pytest.raises(ConfigError, match="exceeds eff_fp16_dense"):
        a100.replace("--set", eff_fp16_sparse=0.99, eff_fp16_dense=0.5)


def test_a_gpu_preset_without_base_gives_every_device_key(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('target = "gpu"\n[device]\nsms = 10\n')
    with pytest.raises(ConfigError, match="missing boost_clock_mhz"):
        read_preset(path)
    path.write_text('target = "gpu"\nbase = "a100"\n[device]\nsms = 54\n[kernels]\npes = 3\n')
    with pytest.raises(ConfigError, match="unknown GPU key"):
        read_preset(path)
    path.write_text('target = "gpu"\nbase = "a100"\n[device]\nsms = 54\n')
    assert read_preset(path).sms == 54


def test_the_shipped_measurements_read_and_predict():
    rows = read_measurements()
    gemm = [r for r in rows if r.predictable and r.gpu == "a100"]
    assert len(gemm) >= 10 and any(r.speedup < 1 for r in gemm) and any(r.speedup > 1.2 for r in gemm)
    pred = predict_rows(read_preset("a100"), gemm)
    assert np.all(np.isfinite(pred.speedup)) and np.all(pred.speedup > 0)


def test_a_bad_measurement_row_is_named(tmp_path):
    path = tmp_path / "m.csv"
    head = "id,gpu,comparison,dtype,scope,path,m,n,k,dense_us,other_us,speedup,source\n"
    path.write_text(head + "x,a100,2:4,fp16,gemm,kernel,1,4096,,10,20,,me\n")
    with pytest.raises(ConfigError, match=r"m.csv:2: a gemm row needs integer m, n and k"):
        read_measurements(path)
    path.write_text(head + "x,a100,2:4,fp16,gemm,kernel,1,4096,4096,10,-2,,me\n")
    with pytest.raises(ConfigError, match="other_us"):
        read_measurements(path)


def test_gpu_spec_default_is_valid():
    assert GpuSpec().sms > 0


def test_asic_evaluation_refuses_a_gpu_target_in_one_line(a100):
    from hwmodels.configs import single
    with pytest.raises(ConfigError, match="'a100' is a GPU target"):
        single(a100)
