import gzip
import zipfile

import numpy as np
import pytest

from pruning.data import FASHION_MNIST_DIR, load_dataset, read_idx, read_raw, subset, to_dataset
from pruning.errors import DatasetError


def _write_idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


def test_digits_split_is_seeded_stratified_and_scaled():
    a, b = load_dataset("digits", seed=3), load_dataset("digits", seed=3)
    assert a.train_x.shape[1:] == (1, 8, 8) and a.num_classes == 10
    assert np.array_equal(a.test_y, b.test_y) and 0.0 <= a.train_x.min() and a.train_x.max() <= 1.0
    assert len(a.train_y) + len(a.test_y) == 1797
    assert np.bincount(a.test_y).min() >= 34 and np.bincount(a.test_y).max() == 36


def test_limit_keeps_classes_balanced():
    ds = load_dataset("synthetic", limit=100, test_limit=50, seed=1)
    assert len(ds.train_y) == 100 and len(ds.test_y) == 50
    assert set(np.bincount(ds.train_y)) == {10}


def test_mnist5k_is_4000_1000():
    ds = load_dataset("mnist5k")
    assert (len(ds.train_y), len(ds.test_y)) == (4000, 1000) and ds.input_shape == (1, 28, 28)
    assert set(np.bincount(ds.test_y)) == {100}


@pytest.mark.skipif(not FASHION_MNIST_DIR.exists(), reason="dataset-fashion-mnist not installed")
def test_fashion_mnist_full_sizes():
    ds = load_dataset("fashion-mnist", limit=500)
    assert ds.name == "fashion-mnist" and ds.input_shape == (1, 28, 28) and len(ds.train_y) == 500


def test_a_subset_is_picked_before_decoding_and_holds_the_same_samples(tmp_path):
    rng = np.random.default_rng(0)
    for split, n in (("train", 300), ("t10k", 120)):
        _write_idx(tmp_path / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 6, 6)))
        _write_idx(tmp_path / f"{split}-labels-idx1-ubyte.gz", np.arange(n) % 3)
    raw = read_raw(tmp_path)
    whole = to_dataset(raw)
    picked = load_dataset(tmp_path, limit=40, test_limit=15, seed=4)
    expected = subset(whole, 40, 15, 4)
    for field in ("train_x", "train_y", "test_x", "test_y"):
        assert np.array_equal(getattr(picked, field), getattr(expected, field))
    assert picked.num_classes == 3 and len(picked.train_y) == 40


@pytest.mark.skipif(not FASHION_MNIST_DIR.exists(), reason="dataset-fashion-mnist not installed")
def test_a_fashion_mnist_subset_never_holds_every_image_as_floats():
    import tracemalloc
    tracemalloc.start()
    try:
        load_dataset("fashion-mnist", limit=1000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 60_000 * 784 * 4        # the whole training split as float32 (188 MB)


def test_missing_builtin_dir_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr("pruning.data.FASHION_MNIST_DIR", tmp_path / "nope")
    with pytest.raises(DatasetError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion-mnist")


def test_idx_directory_roundtrip_and_missing_file(tmp_path):
    rng = np.random.default_rng(0)
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (20, 6, 6)))
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.arange(20) % 3)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (9, 6, 6)))
    with pytest.raises(DatasetError, match="t10k-labels-idx1-ubyte"):
        load_dataset(tmp_path)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.arange(9) % 3)
    ds = load_dataset(str(tmp_path))
    assert ds.train_x.shape == (20, 1, 6, 6) and ds.num_classes == 3
    assert read_idx(tmp_path / "train-labels-idx1-ubyte.gz").tolist() == (np.arange(20) % 3).tolist()


def test_npz_names_missing_key(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x_train=np.zeros((4, 5, 5), np.uint8), y_train=np.arange(4), x_test=np.zeros((2, 5, 5)))
    with pytest.raises(DatasetError, match="y_test"):
        load_dataset(path)
    np.savez(path, x_train=np.full((4, 5, 5), 255, np.uint8), y_train=np.arange(4),
             x_test=np.zeros((2, 5, 5), np.uint8), y_test=np.arange(2))
    ds = load_dataset(path)
    assert ds.train_x.max() == 1.0 and ds.input_shape == (1, 5, 5)


def test_unknown_name_lists_choices():
    with pytest.raises(DatasetError, match="mnist5k"):
        load_dataset("cifar10")


# ---- data of any shape, fitted to the model -----------------------------------------------

from pruning.data import DataSpec, fit_dataset, from_arrays, synthetic_for  # noqa: E402


def _raw(x_train, y_train=None, x_test=None, y_test=None):
    y_train = np.arange(len(x_train)) % 2 if y_train is None else y_train
    x_test = x_train[:2] if x_test is None else x_test
    return x_train, y_train, x_test, np.arange(len(x_test)) % 2 if y_test is None else y_test


def _fit(spec, x_train, **kw):
    return from_arrays("d", *_raw(x_train, **kw), scale=255.0 if x_train.dtype == np.uint8 else 1.0, spec=spec)


@pytest.mark.parametrize("sample,dims,fitted", [
    ((5, 6), (1, 5, 6), (1, 5, 6)),        # images (N,H,W) gain the channel axis the model wants
    ((5, 6), (5, 6), (5, 6)),              # ... and only then
    ((1, 5, 6), (5, 6), (5, 6)),           # a singleton channel the model does not take is dropped
    ((40,), (1, 40), (1, 40)),             # 1-D signals (N,L) -> (N,1,L)
    ((3, 40), (3, None), (3, 40)),         # (N,C,L) with a free length
    ((5, 6), (30,), (30,)),                # flat features of the same size
])
def test_samples_take_the_models_layout(sample, dims, fitted):
    ds = _fit(DataSpec("x", dims), np.random.default_rng(0).random((4,) + sample).astype(np.float32))
    assert ds.train_x.shape[1:] == fitted and ds.input_shape == fitted and ds.train_x.dtype == np.float32


def test_a_layout_mismatch_is_one_line_naming_both_shapes():
    with pytest.raises(DatasetError, match=r"samples of shape \(28, 28\) do not fit .*'input' of shape "
                                           r"\(batch, 1, 1600\)") as info:
        _fit(DataSpec("input", (1, 1600)), np.zeros((4, 28, 28), np.float32))
    assert "\n" not in str(info.value)


def test_token_ids_stay_integers_and_respect_the_vocabulary():
    spec = DataSpec("tokens", (16,), "int64", vocab=100, classes=4)
    ds = _fit(spec, np.arange(64, dtype=np.uint8).reshape(4, 16), y_train=np.array([0, 3, 1, 2]))
    assert ds.train_x.dtype == np.int64 and ds.train_x.max() == 63 and ds.num_classes == 4   # not scaled
    assert _fit(spec, np.ones((4, 16), np.float64)).train_x.dtype == np.int64
    with pytest.raises(DatasetError, match=r"token ids span 0\.\.100 .* ids 0\.\.99"):
        _fit(spec, np.array([[0] * 15 + [100]] * 4))
    with pytest.raises(DatasetError, match="not whole numbers"):
        _fit(spec, np.full((4, 16), 0.5))


def test_labels_must_fit_the_models_classes():
    spec = DataSpec("x", (3,), classes=4)
    assert _fit(spec, np.zeros((4, 3), np.float32), y_train=np.array([0, 1, 1, 0])).num_classes == 4
    with pytest.raises(DatasetError, match="labels go up to 9 but the model has 4 outputs"):
        _fit(spec, np.zeros((4, 3), np.float32), y_train=np.array([0, 1, 9, 0]))


def test_uint8_images_are_scaled_for_float_models():
    ds = _fit(DataSpec("x", (1, 2, 2)), np.full((4, 2, 2), 255, np.uint8))
    assert ds.train_x.max() == 1.0 and ds.train_x.shape == (4, 1, 2, 2)


def test_fit_dataset_keeps_a_dataset_that_fits():
    ds = load_dataset("digits", limit=50)
    assert fit_dataset(ds, DataSpec("x", (1, 8, 8), classes=10)) is ds
    flat = fit_dataset(ds, DataSpec("x", (64,), classes=10))
    assert flat.train_x.shape == (50, 64) and np.array_equal(flat.train_x[0], ds.train_x[0].ravel())


def test_synthetic_data_follows_the_model():
    tokens = load_dataset("synthetic", spec=DataSpec("t", (16,), "int64", vocab=50, classes=3), limit=90)
    assert tokens.train_x.shape == (90, 16) and tokens.train_x.dtype == np.int64
    assert tokens.train_x.max() < 50 and tokens.num_classes == 3 and set(np.bincount(tokens.train_y)) == {30}
    signal = load_dataset("synthetic", spec=DataSpec("x", (1, 1600), classes=8), limit=40, test_limit=16)
    assert signal.train_x.shape == (40, 1, 1600) and signal.train_x.dtype == np.float32
    assert len(signal.test_y) == 16 and signal.num_classes == 8
    flat = synthetic_for(DataSpec("x", (7,), classes=2), 10, 10)
    assert flat.train_x.shape == (10, 7)


@pytest.mark.parametrize("spec,match", [
    (DataSpec("t", (16,), "int64", vocab=None, classes=3), "vocabulary is unknown"),
    (DataSpec("x", (3, 4096, 4096), classes=3), "pass a smaller --limit"),
])
def test_synthetic_data_says_what_it_cannot_make(spec, match):
    with pytest.raises(DatasetError, match=match):
        synthetic_for(spec)


# ---- bad data files: one DatasetError each, never a traceback or a silently wrong run -----

def _good(n=4):
    return {"x_train": np.zeros((n, 3, 3), np.uint8), "y_train": np.arange(n) % 2,
            "x_test": np.zeros((2, 3, 3), np.uint8), "y_test": np.arange(2)}


def _without(key):
    d = _good()
    del d[key]
    return d


STRAY = np.arange(40) % 10
STRAY[7] = 250
BAD_NPZ = {
    "empty": ({}, "holds no arrays"),
    "missing key": (_without("y_test"), "y_test"),
    "negative label": ({**_good(), "y_train": np.array([0, 1, -1, 1])}, "negative label"),
    "NaN label": ({**_good(), "y_train": np.array([0.0, 1.0, np.nan, 1.0])}, "whole class indices"),
    "float label": ({**_good(), "y_train": np.array([0.0, 1.0, 0.5, 1.0])}, "whole class indices"),
    "string label": ({**_good(), "y_train": np.array(["a", "b", "a", "b"])}, "one class index per sample"),
    "one-hot labels": ({**_good(), "y_train": np.eye(2)[[0, 1, 0, 1]]}, "one-hot"),
    "label 10**9": ({**_good(), "y_train": np.array([0, 1, 10 ** 9, 1])}, "labels must be 0..K-1"),
    "stray label 250": ({**_good(40), "y_train": STRAY}, r"labels must be 0..K-1.*none of 10, 11"),
    "one class": ({**_good(), "y_train": np.zeros(4, int)}, "at least two"),
    "string pixels": ({**_good(), "x_train": np.full((4, 3, 3), "x")}, "must hold numbers"),
    "object pixels": ({**_good(), "x_train": np.array([np.zeros(3), np.zeros(2)], dtype=object)},
                      "cannot read x_train"),
    "NaN pixel": ({**_good(), "x_test": np.where(np.arange(18).reshape(2, 3, 3) == 0, np.nan, 0.0)},
                  "1 NaN or infinite"),
    "inf pixel": ({**_good(), "x_train": np.full((4, 3, 3), np.inf)}, "NaN or infinite"),
    "scalar samples": ({**_good(), "x_train": np.float32(1.0)}, r"shape \(N, \.\.\.\)"),
    "no samples": ({**_good(), "x_train": np.zeros((0, 3, 3)), "y_train": np.zeros(0, int)}, "N >= 1"),
    "x/y lengths": ({**_good(), "y_train": np.array([0, 1, 0])}, "4 train samples but 3 train labels"),
    "train/test shapes": ({**_good(), "x_test": np.zeros((2, 4, 4), np.uint8)}, "but test samples"),
}


@pytest.mark.parametrize("case", sorted(BAD_NPZ))
def test_bad_npz_is_one_dataset_error(tmp_path, case):
    arrays, match = BAD_NPZ[case]
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DatasetError, match=match) as info:
        load_dataset(path)
    assert "\n" not in str(info.value)


def test_files_that_are_not_npz(tmp_path):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DatasetError, match="not a readable .npz"):
        load_dataset(junk)
    single = tmp_path / "one.npz"
    with open(single, "wb") as fh:
        np.save(fh, np.zeros(3))
    with pytest.raises(DatasetError, match="single array"):
        load_dataset(single)


def test_truncated_and_bit_flipped_npz_never_load_wrong_data(tmp_path):
    good = tmp_path / "good.npz"
    np.savez(good, **{**_good(), "x_train": np.arange(36, dtype=np.uint8).reshape(4, 3, 3)})
    reference, data = load_dataset(good), good.read_bytes()
    bad = tmp_path / "bad.npz"
    for cut in (len(data) // 3, len(data) - 30):
        bad.write_bytes(data[:cut])
        with pytest.raises(DatasetError):
            load_dataset(bad)
    for position in range(0, len(data), 7):
        flipped = bytearray(data)
        flipped[position] ^= 0x10
        bad.write_bytes(bytes(flipped))
        try:
            ds = load_dataset(bad)
        except DatasetError:
            continue
        assert np.array_equal(ds.train_x, reference.train_x) and np.array_equal(ds.test_y, reference.test_y)


@pytest.mark.parametrize("content,match", [
    (bytes([0, 0, 8, 3, 0, 0]), "truncated: its header"),
    (bytes([0, 0, 8, 1, 0, 0, 0, 5, 1, 2]), "header says \\[5\\]"),
    (bytes([7, 7, 8, 1]), "bad magic"),
    (bytes([0, 0, 8, 0]), "bad magic"),
])
def test_bad_idx_files(tmp_path, content, match):
    path = tmp_path / "x-idx1-ubyte"
    path.write_bytes(content)
    with pytest.raises(DatasetError, match=match):
        read_idx(path)


def test_truncated_gzip_idx_and_idx_of_other_types(tmp_path):
    path = tmp_path / "x.gz"
    _write_idx(path, np.arange(200).reshape(20, 10))
    path.write_bytes(path.read_bytes()[:-12])
    with pytest.raises(DatasetError, match="cannot read"):
        read_idx(path)
    floats = tmp_path / "f-idx"
    values = np.array([[1.5, -2.0]], ">f4")
    floats.write_bytes(bytes([0, 0, 0x0D, 2, 0, 0, 0, 1, 0, 0, 0, 2]) + values.tobytes())
    assert read_idx(floats).tolist() == [[1.5, -2.0]]


# ---- sized from headers before anything is read or inflated (issue 26) --------------------

def _never_read(monkeypatch):
    def fail(*_):
        raise AssertionError("an array was read before its header was checked")
    monkeypatch.setattr("pruning.data._npz_array", fail)


@pytest.mark.parametrize("case", ["x/y lengths", "train/test shapes", "string pixels", "one-hot labels"])
def test_npz_layout_faults_are_found_from_the_headers(tmp_path, monkeypatch, case):
    arrays, match = BAD_NPZ[case]
    np.savez(tmp_path / "bad.npz", **arrays)
    _never_read(monkeypatch)
    with pytest.raises(DatasetError, match=match):
        load_dataset(tmp_path / "bad.npz")


def _npz_claiming(path, shape, dtype="|u1", data=b""):
    """An .npz whose x_train member's header claims `shape` but holds `data`."""
    rest = {k: v for k, v in _good().items() if k != "x_train"}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("x_train.npy", "w") as fh:
            np.lib.format.write_array_header_1_0(fh, {"descr": dtype, "fortran_order": False, "shape": shape})
            fh.write(data)
        for key, value in rest.items():
            with zf.open(key + ".npy", "w") as fh:
                np.lib.format.write_array(fh, value)


def test_an_npz_header_that_does_not_match_its_member_is_refused_unread(tmp_path, monkeypatch):
    _never_read(monkeypatch)
    _npz_claiming(tmp_path / "lie.npz", (4, 3, 3), data=bytes(35))
    with pytest.raises(DatasetError, match=r"cannot read x_train: its header says shape \(4, 3, 3\).* holds 35"):
        load_dataset(tmp_path / "lie.npz")


def test_an_npz_too_large_to_hold_is_refused_before_it_is_inflated(tmp_path, monkeypatch):
    monkeypatch.setattr("pruning.data.MAX_DATA_BYTES", 2 ** 20)
    _never_read(monkeypatch)
    np.savez_compressed(tmp_path / "big.npz", **{**_good(), "x_train": np.zeros((2 ** 16, 3, 3), np.uint8),
                                                 "y_train": np.arange(2 ** 16) % 2})
    with pytest.raises(DatasetError, match="in training form, beyond the 0.000977 GiB"):
        load_dataset(tmp_path / "big.npz")


def test_an_npz_that_inflates_like_a_zip_bomb_is_refused_but_the_same_data_stored_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr("pruning.data.SMALL_DATA_BYTES", 2 ** 20)
    arrays = {**_good(), "x_train": np.zeros((2 ** 16, 3, 3), np.uint8), "y_train": np.arange(2 ** 16) % 2}
    np.savez_compressed(tmp_path / "bomb.npz", **arrays)          # 2.3 MiB held from a few KiB
    with monkeypatch.context() as m:
        _never_read(m)
        with pytest.raises(DatasetError, match="more than 32 times as much"):
            load_dataset(tmp_path / "bomb.npz")
    np.savez(tmp_path / "stored.npz", **arrays)
    assert load_dataset(tmp_path / "stored.npz").train_x.shape == (2 ** 16, 1, 3, 3)


def test_idx_files_are_sized_from_their_header(tmp_path):
    huge = tmp_path / "huge-idx3-ubyte.gz"         # 2**32 pixels claimed by a 40-byte file
    with gzip.open(huge, "wb") as fh:
        fh.write(bytes([0, 0, 8, 3]) + b"".join(d.to_bytes(4, "big") for d in (2 ** 16, 2 ** 8, 2 ** 8)))
    with pytest.raises(DatasetError, match="training form"):
        read_idx(huge)
    padded = tmp_path / "padded-idx1-ubyte.gz"     # 5 labels, then a megabyte more: not all inflated
    with gzip.open(padded, "wb") as fh:
        fh.write(bytes([0, 0, 8, 1, 0, 0, 0, 5]) + bytes(2 ** 20))
    with pytest.raises(DatasetError, match="holds more than 5 data bytes"):
        read_idx(padded)


def test_digits_is_read_without_importing_scikit_learn():
    import subprocess
    import sys
    code = ("import sys\nfrom pruning.data import load_dataset\nds = load_dataset('digits')\n"
            "print(len(ds.train_y) + len(ds.test_y), 'sklearn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["1797", "False"]
