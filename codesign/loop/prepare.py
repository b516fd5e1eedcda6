"""A search's inputs made ready: the data fitted to the model, the validation split sized for
the constraint, the dense model (a built-in pretrained once and cached), its layers."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codesign.loop.job_spec import SearchJob, StatusHook
from codesign.loop.verdict import ASSUMED_DISCORDANCE, expected_width, validation_size


@dataclass
class Prepared:
    search_data: Any
    test_data: Any
    module: Any
    network: Any
    bits: dict
    validation: int
    warnings: list[str]
    pretrain_epochs: float = 0.0          # dense training the model had here


def prepare(job: SearchJob, status: StatusHook, on_progress) -> Prepared:
    """Data, validation split, the dense model (pretrained once if built in) and its layers."""
    import torch

    from codesign.graph import load_network
    from codesign.graph.inputs import sample_shapes
    from codesign.loop.torch_oracle import search_split
    from pruning.models import builtin_name, pretrain_epochs
    from pruning.pipeline import prepare as fit_model_and_data, resolve_bits
    from pruning.onnx.bridge import data_spec
    from pruning.protocol import prunable_weights
    from pruning.tasks import make_task
    # the model and the data fitted to it (tokens, signals, images; synthetic data of its kind)
    module, data = fit_model_and_data(job.model, job.data, limit=job.train_limit, test_limit=job.test_limit, seed=job.seed)
    warnings: list[str] = []
    if job.validation is None:
        n_val, width = validation_size(job.max_drop, len(data.train_x), job.confidence)
    else:
        n_val = min(job.validation, len(data.train_x) // 2)
        width = expected_width(n_val, job.confidence)
    wide = width > job.max_drop          # said once the task is known: the estimate is classification's
    search_data, test_data = search_split(data, n_val, job.seed)
    builtin = builtin_name(job.model)
    epochs = pretrain_epochs(job.model, job.pretrain_epochs)
    if epochs > 0:
        from pruning.pretrain import pretrained
        torch.manual_seed(job.seed)
        pretrain_data = dataclasses.replace(search_data, task=make_task(job.task, module, search_data,
                                                                         data_spec(module.model), pretraining=True))
        pretrained(module, builtin or Path(job.model).stem, pretrain_data, epochs,
                   seed=job.seed, on_status=status, on_progress=on_progress, device=job.device)
    elif not builtin:
        status(f"using the weights of {job.model} as given (no pretraining)")
    # what the runs train and judge (a distillation's teacher: the dense model, as pretrained)
    task = make_task(job.task, module, search_data, data_spec(module.model), pretraining=epochs > 0)
    search_data, test_data = (dataclasses.replace(d, task=task) for d in (search_data, test_data))
    if wide and task.name != "lm":       # a bootstrap over sequences has no such a-priori width
        warnings.append(f"validation split of {n_val} samples: a drop's {100 * job.confidence:g}% interval "
                        f"is about {width:.2f} points wide if the models disagree on "
                        f"{100 * ASSUMED_DISCORDANCE:g}% of the samples (narrower if less), wider than "
                        f"--max-drop {job.max_drop:g}; the "
                        "constraint is then met only by plans clearly better than the limit (use more "
                        "data or a larger --max-drop)")
        status(warnings[-1])
    bits = resolve_bits(job.bits, prunable_weights(module))
    network = load_network(module.to_onnx(), sample_shapes(data.train_x))
    return Prepared(search_data, test_data, module, network, bits, n_val, warnings, epochs)

