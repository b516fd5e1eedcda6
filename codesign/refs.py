"""References to a model and to data, as the API takes them, resolved for the compression
backends: a torch module (recognised without importing torch) exported for the data's
samples, and any data form (a name or path, a pruning.data.Dataset, a torch Dataset or
DataLoader, a (train, test) pair of them) as a pruning.data.Dataset. Torch is imported only
inside the functions that meet a torch object, so importing this module costs none."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from codesign.arguments import DATA_FORMS, hardware as hardware_argument, is_torch_module as is_module
from codesign.specs import hardware
from hwmodels.spec import HardwareSpec
from pruning.errors import DatasetError


__all__ = ["as_dataset", "check_module_fits", "is_module", "resolve_hardware", "resolve_model"]


def resolve_hardware(hw):
    """A HardwareSpec from a preset name, a TOML path or a HardwareSpec (checked first)."""
    hw = hardware_argument("hw", hw)
    return hw if isinstance(hw, HardwareSpec) else hardware(hw)


LABEL_KEYS = ("labels", "label", "targets", "target", "y")     # a dict batch's labels, if any


def _arrays(source):
    """(inputs, labels or None) of a torch Dataset or DataLoader, as numpy: it may yield
    (input, label) pairs, dicts of named inputs (HF style: input_ids, attention_mask, ...;
    `labels` and LABEL_KEYS are labels) or input tensors alone, batched or single, of one
    sample shape per input; inputs of several names become pruning.data.Inputs. Anything else
    (and any error of the dataset's own code or of collation) is one DatasetError naming the
    data."""
    import torch
    from torch.utils.data import DataLoader, Dataset as TorchDataset

    from pruning.data import Inputs
    what = f"data ({_torch_data_name(source)})"
    if isinstance(source, TorchDataset):
        source = DataLoader(source, batch_size=512, shuffle=False)
    if not isinstance(source, DataLoader):
        raise DatasetError(f"data of type {type(source).__name__} is not {DATA_FORMS}")
    parts: dict[str, list] = {}
    labels: list = []
    as_numpy = lambda t: torch.as_tensor(t).detach().cpu().numpy()
    try:
        for batch in source:
            if isinstance(batch, dict):
                named = {k: as_numpy(v) for k, v in batch.items() if k not in LABEL_KEYS}
                label = next((as_numpy(batch[k]) for k in LABEL_KEYS if k in batch), None)
            elif isinstance(batch, (list, tuple)) and len(batch) == 2:
                named, label = {"": as_numpy(batch[0])}, as_numpy(batch[1])
            elif torch.is_tensor(batch) or isinstance(batch, (list, tuple)) and len(batch) == 1:
                named, label = {"": as_numpy(batch if torch.is_tensor(batch) else batch[0])}, None
            else:
                size = f" of {len(batch)}" if isinstance(batch, (list, tuple)) else ""
                raise DatasetError(f"{what} must yield (input, label) pairs, (input,) or input tensors, or "
                                   f"dicts of named inputs, not {type(batch).__name__}{size}")
            single = label is not None and label.ndim == 0 or label is None and not source.batch_size
            for k, v in named.items():
                parts.setdefault(k, []).append(v[None] if single else v)
            if label is not None:
                labels.append(label[None] if label.ndim == 0 else label)
    except DatasetError:
        raise
    except Exception as exc:      # the dataset's own code, collation, tensors of text: any type
        raise DatasetError(f"{what} cannot be read as (input, label) pairs of numbers or named inputs "
                           f"({_reason(exc)})") from exc
    if not parts:
        raise DatasetError(f"{what} is empty; give at least one (input, label) pair per class")
    for k, xs in parts.items():
        shapes = sorted({x.shape[1:] for x in xs})
        if len(shapes) > 1:
            raise DatasetError(f"{what} yields inputs{' ' + k if k else ''} of several shapes "
                               f"({', '.join(map(str, shapes[:3]))}); give samples of one shape")
    arrays = {k: np.concatenate(xs) for k, xs in parts.items()}
    x = arrays[""] if list(arrays) == [""] else Inputs(arrays)
    return x, (np.concatenate(labels) if labels else None)


def _reason(exc: Exception) -> str:
    """An exception of user code (a dataset's, a module's) as a short one-line reason."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:160]}" if lines else type(exc).__name__


def _torch_data_name(source) -> str:
    """'a torch DataLoader of TensorDataset', 'a torch TensorDataset'."""
    inner = getattr(source, "dataset", None)
    return (f"a torch {type(source).__name__}" + (f" of {type(inner).__name__}" if inner is not None else ""))


def as_dataset(data, *, limit=None, test_limit=None, seed: int = 0, spec=None):
    """A pruning.data.Dataset from any of the forms in the module docstring, fitted to `spec`
    (pruning.data.DataSpec: what the model takes) when given."""
    from pruning.data import Dataset, fit_dataset, from_arrays, held_out, load_dataset, subset, take
    if isinstance(data, Dataset):
        data = fit_dataset(data, spec) if spec is not None else data
        return subset(data, limit, test_limit if test_limit is not None else limit, seed)
    if isinstance(data, (str, Path)):
        return load_dataset(str(data), limit=limit, test_limit=test_limit, seed=seed, spec=spec)
    if isinstance(data, tuple) and len(data) == 2:
        (tx, ty), (vx, vy) = _arrays(data[0]), _arrays(data[1])
    else:
        x, y = _arrays(data)
        train, test = held_out(len(x), seed)
        tx, ty, vx, vy = x[train], take(y, train), x[test], take(y, test)
    ds = from_arrays("torch-data", tx, ty, vx, vy, spec=spec)
    return subset(ds, limit, test_limit if test_limit is not None else limit, seed)


def resolve_model(model, ds):
    """An ONNX path, a built-in name or a ModelProto for pruning.pipeline; an nn.Module is
    exported (with its current, trained weights) for inputs like the data's samples, once it
    is known to run on them."""
    if is_module(model):
        import torch

        from pruning.data import Inputs
        from pruning.onnx.bridge import as_input_tensor
        from pruning.onnx.torch_export import export_module, export_torch
        check_module_fits(model, ds)
        if isinstance(ds.train_x, Inputs):       # named inputs (HF style): keyword examples, one sample
            return export_module(model, as_input_tensor(ds.train_x[:1]))
        return export_torch(model, tuple(ds.input_shape), dtype=torch.from_numpy(ds.train_x[:1]).dtype)
    return model


def check_module_fits(module, ds) -> None:
    """A torch module runs on two of the data's samples, and the labels are below its number
    of outputs; else the data is named (with torch's reason), not the ONNX export or the
    training that would fail next."""
    import torch

    from pruning.data import DataSpec, Inputs, fit_dataset, shape_text
    from pruning.device import module_device, to_device
    from pruning.onnx.bridge import as_input_tensor
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            x = to_device(as_input_tensor(ds.train_x[:2]), module_device(module))      # a module on a GPU too
            out = module(**x) if isinstance(x, dict) else module(x)
    except Exception as exc:      # whatever the module's forward raises for inputs it cannot take
        shown = (repr(ds.train_x) if isinstance(ds.train_x, Inputs) else
                 f"samples of shape {shape_text(ds.input_shape)} ({ds.train_x.dtype})")
        raise DatasetError(f"dataset {ds.name!r}: {shown} do not fit the module ({_reason(exc)}); "
                           "give data whose samples the module takes") from None
    finally:
        module.train(was_training)
    if isinstance(out, torch.Tensor) and out.ndim == 2 and ds.labeled and not isinstance(ds.train_x, Inputs):
        # labels against its classes: data's rule
        fit_dataset(ds, DataSpec("input", tuple(ds.input_shape), str(ds.train_x.dtype), classes=out.shape[1]))
