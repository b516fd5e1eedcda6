import gzip

import numpy as np
import pytest

from pruning.data import FASHION_MNIST_DIR, load_dataset, read_idx
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
