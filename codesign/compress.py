"""Compression through the Python API: `codesign.prune(...)` (and `codesign.search(...)`).

The model is an ONNX path, a built-in name (lenet5, lenet300, vgg7: pretrained once and
cached) or a torch nn.Module (exported to ONNX, used as given); the data is a dataset name or
path, a pruning.data.Dataset, a torch Dataset or DataLoader (split 80/20, seeded), or a
(train, test) pair of them. Torch is imported here, never by cost-only code.
"""
from __future__ import annotations

import csv
import io
import json
from contextlib import nullcontext
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any, Callable, Mapping

from codesign import arguments
from codesign.errors import CodesignError
from codesign.loop import ALGORITHMS
from codesign.loop.inputs import search_api
from codesign.loop.job_spec import EXECUTORS, RUN_NAMES as SEARCH_RUN_NAMES, SearchJob, StatusHook
from codesign.plans import Sparsity, read_sparsity
from codesign.refs import as_dataset, check_module_fits, is_module, resolve_hardware, resolve_model
from codesign.left_dense import DenseLayer
from codesign.results import Record
from codesign.runlock import LOCK_NAME, run_lock
from pruning.methods import METHODS, make_options
from hwmodels.presets import DEFAULT_PRESET
from pruning.prune_job import ALLOCATIONS, DEVICES, EXPORTS, OPTIMIZERS, TASKS, THREADS, PruneJob
from pruning.ranges import TRAINING

from pruning.safe_files import write_file

# What a prune writes in its run folder (a folder's name ends in "/"), checked before any work.
RUN_NAMES = ("model.onnx", "model-qdq.onnx", "layers.json", "layers.csv", "sparsity.json", "masks.npz",
             "checkpoints/", LOCK_NAME)

PRUNE_VERSION = 1


@dataclass(frozen=True)
class PrunedLayer(Record):
    """One layer of a compression run (a row of layers.json / layers.csv)."""
    name: str
    pattern: str
    weights: int
    kept: int
    alpha_target: float
    alpha: float                        # achieved keep fraction
    ratio: float                        # weights / kept
    bits: int | None                    # quantized width (None: float)
    interval: float | None              # quantization interval


@dataclass(frozen=True)
class PruneTotals(Record):
    """The run's settings and verdict (the rest of layers.json)."""
    model: str                          # the model's name ("module" for an nn.Module)
    data: str
    method: str
    epochs: float
    pretrain_epochs: float
    accuracy_before: float              # the task's metric (pruning.tasks): accuracy, agreement (fractions), perplexity
    accuracy_after: float
    overall_ratio: float
    onnxruntime_max_diff: float
    onnxruntime_accuracy: float
    qdq_max_diff: float | None
    qdq_accuracy: float | None
    test_samples: int
    allocation: str
    export: str
    seconds: float
    task: str = "classify"              # classify, lm or distill (pruning.tasks)
    metric: str = "accuracy"            # what accuracy_before/after hold: accuracy, perplexity or agreement
    drop_unit: str = "accuracy points"  # what drop and its interval are measured in
    drop: float | None = None           # after against before on the same test samples
    drop_low: float | None = None       # its 95% interval (Agresti-Min, or a paired bootstrap)
    drop_high: float | None = None
    left_dense: tuple[DenseLayer, ...] = ()     # layers not compressed, why, and their MAC share
    compressed_mac_share: float | None = None   # of the modeled MACs (None: unknown)
    warnings: tuple[str, ...] = ()              # the model at chance before or after, with the fix
    schema_version: int = PRUNE_VERSION


@dataclass(frozen=True)
class PruneResult:
    """One compression run: the exported model(s), the per-layer table and the totals."""
    job: Any                                   # pruning.pipeline.PruneJobResult
    layers: tuple[PrunedLayer, ...]
    totals: PruneTotals

    @classmethod
    def of_run(cls, run, name: str | Path | None = None) -> "PruneResult":
        """The result of a pruning.pipeline.PruneJobResult (an nn.Module's name is "module";
        `name`: the model's, when the job holds a model made from it), with what it left dense
        and whether its model is at chance."""
        summary = run.summary()
        layers = tuple(PrunedLayer.from_dict(r) for r in summary.pop("layers"))
        if name is not None:
            summary["model"] = str(name)
        elif not isinstance(summary["model"], str):
            summary["model"] = "module"
        return cls(run, layers, PruneTotals.from_dict({**summary, **_what_was_compressed(run, layers)}))

    @property
    def onnx(self):
        return self.job.onnx_model

    @property
    def qdq(self):
        return self.job.qdq_model

    @property
    def sparsity(self):
        """The achieved plan as a sparsity file (codesign.plans.Sparsity)."""
        from pruning.patterns import parse_pattern
        rows = self.layers
        return Sparsity({r.name: r.alpha for r in rows if r.alpha < 1},
                        {r.name: parse_pattern(r.pattern) for r in rows
                         if r.pattern not in ("unstructured", "dense")},
                        {r.name: r.bits for r in rows if r.bits})

    def to_dict(self) -> dict:
        """layers.json (PruneTotals.from_dict and PrunedLayer.from_dict read it back)."""
        return {**self.totals.to_dict(), "layers": [r.to_dict() for r in self.layers]}

    def to_csv(self, path, within=None) -> Path:
        path, within = arguments.output_file("path", path), arguments.path("within", within, optional=True)
        rows = [r.to_dict() for r in self.layers]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=[f.name for f in fields(PrunedLayer)])
        writer.writeheader()
        writer.writerows(rows)
        return write_file(path, buf.getvalue(), within=within)

    def save(self, out_dir) -> dict[str, Path]:
        """model.onnx (+ model-qdq.onnx), layers.json/csv, sparsity.json, masks.npz (written as
        pruning.safe_files writes a run folder)."""
        from pruning.masks import save_masks
        out = arguments.output_dir("out_dir", out_dir, RUN_NAMES)
        paths = {"model": out / "model.onnx", "json": out / "layers.json", "csv": out / "layers.csv",
                 "sparsity": out / "sparsity.json", "masks": out / "masks.npz"}
        write_file(paths["model"], self.onnx.SerializeToString(), within=out)
        if self.qdq is not None:
            paths["qdq"] = write_file(out / "model-qdq.onnx", self.qdq.SerializeToString(), within=out)
        write_file(paths["json"], json.dumps(self.to_dict(), indent=2, allow_nan=True) + "\n", within=out)
        self.to_csv(paths["csv"], within=out)
        write_file(paths["sparsity"], json.dumps(self.sparsity.to_dict(), indent=2) + "\n", within=out)
        save_masks(self.job.result.masks, paths["masks"], within=out)
        return paths

    def report(self, out_dir, hw=DEFAULT_PRESET) -> dict[str, Path]:
        """The plan report of the pruned model (its real masks) on hardware `hw`."""
        from codesign.graph import load_network
        from codesign.network_plan import plan_network
        out_dir = arguments.report_dir("out_dir", out_dir)
        spec = resolve_hardware(hw)
        network = load_network(self.onnx)
        result = plan_network(network, spec, pruned=network)
        return result.report(out_dir, notes=self._notes())

    def _notes(self) -> list[str]:
        """What the report says of the run: its verdict, what it left dense, its warnings."""
        from codesign.report.fmt import num, percent
        t = self.totals
        shown = (lambda v: num(v)) if t.metric == "perplexity" else percent
        notes = [f"Pruned with {t.method} on {t.data} (task {t.task}): test {t.metric} {shown(t.accuracy_before)} "
                 f"-> {shown(t.accuracy_after)} on {t.test_samples:,} test samples."]
        if t.left_dense:
            carried = "" if t.compressed_mac_share is None else \
                f" (the compressed layers carry {percent(t.compressed_mac_share)} of the MACs)"
            notes.append(f"Left dense{carried}: " + "; ".join(
                f"{d.name} ({d.kind}, {percent(d.mac_share)} of the MACs): {d.why}" for d in t.left_dense) + ".")
        return notes + [f"Warning: {w}." for w in t.warnings]


def _what_was_compressed(run, layers: tuple[PrunedLayer, ...]) -> dict[str, Any]:
    """PruneTotals' left_dense, compressed_mac_share and warnings of a PruneJobResult: the plan's
    own rules (pruning.support.resolve) say which dense layers it targeted and which a policy
    kept; the exported model's output gives chance (pruning.onnx.bridge.data_spec)."""
    from hwmodels.errors import HardwareModelError
    from pruning.onnx.bridge import data_spec
    from pruning.pipeline import targets_for
    from pruning.protocol import prunable_weights
    from pruning.support import resolve
    from codesign.at_chance import chance_warnings
    from codesign.graph.inputs import sample_shapes
    from codesign.left_dense import left_dense
    job, module = run.job, run.result.model
    plan = resolve(module, targets_for(job, prunable_weights(module)), require=False)
    warnings: list[str] = []
    try:
        dense, share = left_dense(run.onnx_model, layers, policy=plan.skipped, targeted=plan.alphas,
                                  input_shape=None if run.samples is None else sample_shapes(run.samples),
                                  method_rule=_method_rule(job.method, job.method_options))
    except (CodesignError, HardwareModelError) as exc:          # the model trained; say what is unknown
        dense, share = (), None
        warnings.append(f"the layers left dense are not listed: the importer cannot read the exported model ({exc})")
    output = data_spec(run.onnx_model).output
    dims = output.dims if output is not None else None
    classes = dims[-1] if dims else None
    warnings += chance_warnings(task=run.task, before=run.result.accuracy_dense, after=run.result.accuracy,
                                samples=run.test_samples, classes=classes,
                                class_like=output is None or output.class_like, epochs=job.epochs,
                                pretrain_epochs=job.pretrain_epochs, lr=job.lr)
    return {"left_dense": dense, "compressed_mac_share": share, "warnings": tuple(warnings)}


def _method_rule(method: str, options: Mapping[str, Any]) -> str:
    """Why `method` keeps a layer of the plan dense: its options that say so (help that speaks of
    dense layers) with their values, e.g. asl's min_weights."""
    import dataclasses
    from pruning.methods import make_options
    chosen = make_options(method, options)
    said = [f"{f.name}={getattr(chosen, f.name)!r} ({f.metadata['help']})" for f in dataclasses.fields(chosen)
            if "dense" in f.metadata.get("help", "") and getattr(chosen, f.name) not in (False, "", None)]
    return f"{method} keeps layers dense by its options: {'; '.join(said)}" if said else f"{method} kept it dense"


def _defaults(job_class) -> dict[str, Any]:
    """A job dataclass's field defaults (None for a field made by a factory, a fresh mapping
    per job): the API's defaults are written once, in the dataclass."""
    return {f.name: None if f.default is MISSING else f.default for f in fields(job_class)}


PRUNE = _defaults(PruneJob)
SEARCH = _defaults(SearchJob)
# Parameters of codesign.prune with PruneJob's defaults (its pretrain_epochs=None picks by the
# model's kind; the job holds the number picked).
PRUNE_SETTINGS = tuple(k for k in PRUNE if k not in ("model", "data", "pretrain_epochs"))
# Parameters of codesign.search that are SearchJob fields (model, data and out are arguments
# the API turns into files first).
SEARCH_SETTINGS = tuple(k for k in SEARCH if k not in ("model", "data", "out"))

Progress = Callable[[int, int, str], None]


def _refuse_none(values: Mapping[str, Any], defaults: Mapping[str, Any]) -> None:
    """None means "not given" only where the default is None (a limit, pretraining by model)."""
    for name, value in values.items():
        if value is None and defaults.get(name, None) is not None:
            raise arguments.ArgumentError(f"{name}=None: give a value (the default is {defaults[name]!r})")


def _progress_steps(progress: Progress | None):
    """The backends' Progress records as progress(done, total, message) calls."""
    if progress is None:
        return None
    return lambda p: progress(p.step, p.total, f"{p.phase} {p.message}".strip())


def prune(model, data, *, task: str = PRUNE["task"], method: str = PRUNE["method"], alpha: float | None = PRUNE["alpha"],
          alphas=None, allocation: str = PRUNE["allocation"], pattern: str | None = PRUNE["pattern"],
          bits: str | Mapping[str, int] | None = PRUNE["bits"], export: str = PRUNE["export"],
          epochs: float = PRUNE["epochs"], pretrain_epochs: float | None = None,
          batch_size: int = PRUNE["batch_size"], lr: float = PRUNE["lr"], optimizer: str = PRUNE["optimizer"],
          seed: int = PRUNE["seed"], limit: int | None = PRUNE["limit"], test_limit: int | None = PRUNE["test_limit"],
          method_options: Mapping[str, Any] | None = PRUNE["method_options"], out=None, threads: int = THREADS,
          device: str = PRUNE["device"], input_shape=None, progress: Progress | None = None,
          on_status: StatusHook | None = None) -> PruneResult:
    """Compress `model` with one compression method on `data`; returns a PruneResult.

    model: a built-in net's name (pruning.models.MODELS: pretrained once and cached), an ONNX
        path, an onnx.ModelProto or a torch nn.Module (exported with its current weights).
    data: a dataset name (pruning.data.BUILTIN_DATASETS) or path (an IDX folder, an .npz
        file, a folder of .npy files named as the graph inputs), a pruning.data.Dataset, a
        torch Dataset or DataLoader (split 80/20, seeded) or a (train, test) pair of them.
    task: classify (labels), lm (next-token on token ids; perplexity), distill (agreement with
        the dense model; no labels needed) or auto (classify with labels, else distill).
    method: a compression method (pruning.methods.METHODS); method_options: its own options.
    alpha: the keep fraction of every prunable layer (allocation "global" ranks all weights
        together instead of per layer); alphas: a sparsity file or mapping (with patterns and
        bits) instead; pattern: every layer's pattern (unstructured, N:M, KxL, channel).
    bits: quantize ("conv=3,fc=2", "8", or a mapping of weight name to bits); export "qdq" adds
        the int8 QDQ model.
    epochs: the method's training budget, all phases; pretrain_epochs: dense training first
        (None: a built-in net's own, pruning.models.pretrain_epochs; 0 for a model given with its
        weights); batch_size, lr,
        optimizer, seed; limit / test_limit: class-balanced subsets of the data.
    out: a run folder (checkpoints, the exported model and tables; a rerun resumes);
        threads: torch CPU threads; device: where training and evaluation run (auto: a CUDA
        GPU when torch sees one, else the CPU; cpu; cuda); input_shape: an ONNX model's input
        shapes where they are free ("3x48x192", a tuple, or "NAME=DIMS" strings; the batch
        stays free), as codesign.load takes them.
    progress(done, total, message): training steps of each phase; on_status(message): a line
        per phase."""
    _refuse_none({k: v for k, v in locals().items() if k in PRUNE_SETTINGS}, PRUNE)    # first: only parameters
    model = arguments.model("model", model)
    data = arguments.data("data", data)
    input_shape = arguments.shape("input_shape", input_shape)
    arguments.choice("task", task, TASKS)
    arguments.choice("method", method, sorted(METHODS))
    alpha = arguments.keep_fraction("alpha", alpha, optional=True)
    if alphas is not None and not isinstance(alphas, Mapping):
        alphas = arguments.path("alphas", alphas)        # read (and named if missing) by read_sparsity
    pattern = None if pattern is None else str(arguments.pattern("pattern", pattern))
    bits = _bits(bits)
    arguments.choice("allocation", allocation, ALLOCATIONS)
    arguments.choice("export", export, EXPORTS)
    arguments.choice("optimizer", optimizer, OPTIMIZERS)
    arguments.choice("device", device, DEVICES)
    threads = arguments.whole("threads", threads, TRAINING["threads"])
    method_options = arguments.mapping("method_options", method_options, optional=True)
    out = None if out is None else arguments.output_dir("out", out, RUN_NAMES)
    arguments.callback("progress", progress)
    arguments.callback("on_status", on_status)
    from pruning.ranges import check_training_numbers
    check_training_numbers(epochs=epochs, pretrain_epochs=pretrain_epochs, batch_size=batch_size, lr=lr,
                           seed=seed, limit=limit, test_limit=test_limit, threads=threads)
    make_options(method, method_options)
    if alpha is None and alphas is None and not bits and not pattern:
        raise CodesignError("nothing to do: give alpha, alphas (a sparsity plan), an N:M pattern, "
                            "or bits to quantize only")
    sparsity = read_sparsity(alphas) if alphas is not None else None
    name = model if isinstance(model, (str, Path)) else None
    if input_shape:
        model = _shaped(model, input_shape)
    import torch                                  # every argument checked before torch is imported

    from pruning.device import resolve_device
    from pruning.models import pretrain_epochs as pretrain_default
    from pruning.pipeline import model_spec, run_job
    resolve_device(device)                        # cuda without a GPU: refused before the data is read
    torch.set_num_threads(threads)
    spec = None if is_module(model) else model_spec(model)     # the data follows an ONNX model
    ds = as_dataset(data, limit=limit, test_limit=test_limit, seed=seed, spec=spec)
    pretrain_epochs = pretrain_default(model, pretrain_epochs)
    job = PruneJob(
        model=resolve_model(model, ds), data=ds.name, task=task, method=method,
        method_options=dict(method_options or {}),
        alphas=dict(sparsity.alphas) if sparsity else {}, alpha=alpha, allocation=allocation,
        pattern=pattern, patterns={k: str(v) for k, v in sparsity.patterns.items()} if sparsity else {},
        bits=bits if bits is not None else (dict(sparsity.bits) if sparsity and sparsity.bits else None),
        export=export, epochs=epochs, pretrain_epochs=pretrain_epochs, batch_size=batch_size,
        lr=lr, optimizer=optimizer, seed=seed, limit=limit, test_limit=test_limit, device=device)
    with run_lock(out, "codesign prune") if out is not None else nullcontext():
        res = run_job(job, out, on_progress=_progress_steps(progress), data=ds, on_status=on_status)
        result = PruneResult.of_run(res, name)
        if out is not None:
            result.save(out)
    return result


def _bits(bits, *, mapping: bool = True):
    """A bits argument: None, a whole number (every layer), "conv=3,fc=2"-style text or (when
    `mapping`) a mapping of weight name to bits; its syntax and widths are checked now
    (pruning.bits.parse_bits, before any data is read), its names against the model later,
    before training (pruning.pipeline.resolve_bits)."""
    from pruning.bits import parse_bits
    if not (bits is None or mapping and isinstance(bits, Mapping)):
        bits = str(bits) if isinstance(bits, int) and not isinstance(bits, bool) else arguments.text("bits", bits)
    parse_bits(bits)
    return bits


def search(model, data, *, out=None, hw: str = SEARCH["hw"], hw_overrides=SEARCH["hw_overrides"],
           max_drop: float = SEARCH["max_drop"], task: str = SEARCH["task"], confidence: float = SEARCH["confidence"],
           method: str = SEARCH["method"], method_options: Mapping[str, Any] | None = SEARCH["method_options"],
           allocators=SEARCH["allocators"], patterns=SEARCH["patterns"], batch: int = SEARCH["batch"],
           train_limit: int | None = SEARCH["train_limit"], test_limit: int | None = SEARCH["test_limit"],
           validation: int | None = SEARCH["validation"], pretrain_epochs: float | None = SEARCH["pretrain_epochs"],
           train_epochs: float = SEARCH["train_epochs"], final_epochs: float = SEARCH["final_epochs"],
           probe_epochs: float = SEARCH["probe_epochs"], initial=SEARCH["initial"], bits: str | None = SEARCH["bits"],
           export: str = SEARCH["export"], alpha_min: float = SEARCH["alpha_min"], lr: float = SEARCH["lr"],
           storage_budget_kib: float | None = SEARCH["storage_budget_kib"], seed: int = SEARCH["seed"],
           executor: str = SEARCH["executor"], address: str | None = SEARCH["address"],
           workers: int = SEARCH["workers"], device: str = SEARCH["device"], progress: Progress | None = None,
           on_status: StatusHook | None = None):
    """The hardware-aware search of each layer's pattern and keep fraction; returns the
    JobResult (codesign.loop.job), with the run folder `out` as `codesign search` writes it.

    model, data: as for codesign.prune (a torch module is saved as OUT/model.onnx, data given
        in memory as OUT/data.npz, so the run can resume). out: the run folder (default
        runs/<model>-search, as on the command line); a rerun with the same settings resumes.
    hw: a preset name or TOML path; hw_overrides: KEY=VALUE changes (a list or a comma list).
    max_drop: allowed drop in the task's unit (accuracy or agreement points, percent of
        perplexity), judged at `confidence` on a validation split (`validation` samples; None:
        sized for the constraint); task: as for codesign.prune.
    method, method_options: the compression method of every training run.
    allocators: dp and/or fig5; patterns: those the dp allocator may give a layer (lists or
        comma lists); batch: candidates trained per round.
    train_limit, test_limit: data subsets; pretrain_epochs (None: a built-in net's own, 0 for
        a model with weights), train_epochs (each candidate), final_epochs (the chosen plan's
        candidate trained further), probe_epochs (each sensitivity probe); lr, seed.
    initial: a sparsity file where the Fig. 5 allocator starts; alpha_min: the smallest keep
        fraction; storage_budget_kib: weights + indices must fit (dp).
    bits, export: quantization of the final model (export "qdq" adds the int8 model).
    executor: local or ray (address, workers: its cluster); device: where training and
        evaluation run, as for codesign.prune (a Ray worker resolves auto itself).
    progress(done, total, message): training steps of each phase; on_status(message): the
        search's status lines (data, pretraining, each allocator, the export)."""
    settings = {k: v for k, v in locals().items() if k in SEARCH_SETTINGS}    # first: only the parameters
    _refuse_none(settings, SEARCH)
    model = arguments.model("model", model)
    data = arguments.data("data", data)
    out = None if out is None else arguments.output_dir("out", out, SEARCH_RUN_NAMES)
    settings["hw"] = arguments.hardware("hw", hw, spec=False)
    settings["hw_overrides"] = (arguments.names("hw_overrides", hw_overrides) if isinstance(hw_overrides, str)
                                else arguments.strings("hw_overrides", hw_overrides))
    settings["allocators"] = tuple(arguments.choice("allocators", a, sorted(ALGORITHMS))
                                   for a in arguments.names("allocators", allocators))
    settings["patterns"] = tuple(str(arguments.pattern("patterns", p)) for p in arguments.names("patterns", patterns))
    settings["method_options"] = arguments.mapping("method_options", method_options, optional=True) or {}
    arguments.choice("task", task, TASKS)
    arguments.choice("method", method, sorted(METHODS))
    arguments.choice("export", export, EXPORTS)
    arguments.choice("executor", executor, EXECUTORS)
    arguments.choice("device", device, DEVICES)
    arguments.text("address", address, optional=True)
    settings["bits"] = _bits(bits, mapping=False)
    if initial is not None:
        settings["initial"] = str(arguments.input_file("initial", initial))
    arguments.callback("progress", progress)
    arguments.callback("on_status", on_status)
    from codesign.loop.validate import check_device
    check_device(device, executor)     # cuda without a GPU (or on Ray): refused before OUT is written
    if is_module(model):       # data that does not fit is named, not the export
        in_memory = not isinstance(data, str)
        data = as_dataset(data) if in_memory else data          # read once: search_api saves it
        check_module_fits(model, data if in_memory else as_dataset(data, limit=10, test_limit=10))
    return search_api(model, data, out=out, on_status=on_status, on_progress=_progress_steps(progress), **settings)


def _shaped(model, input_shape):
    """An ONNX model (a path, name or proto; not a built-in net or a module) with the input
    dims `input_shape` gives (codesign.graph.inputs.fix_input_shapes, as inspect takes them),
    each input's batch axis left as free as it was."""
    from codesign.graph.inputs import fix_input_shapes, real_inputs
    from pruning.models import builtin_name
    from pruning.pipeline import read_model
    if is_module(model) or builtin_name(model):
        raise CodesignError("input_shape= (--input-shape) is for an ONNX model; a built-in net or a module "
                            "takes the data's shape")
    proto = read_model(model)
    before = {vi.name: vi.type.tensor_type.shape.dim[0] for vi in real_inputs(proto.graph)
              if vi.type.tensor_type.shape.dim}
    shaped, _ = fix_input_shapes(proto, input_shape, str(model))
    if shaped is proto:
        return proto
    for vi in real_inputs(shaped.graph):
        dim = before.get(vi.name)
        if dim is not None and not (dim.HasField("dim_value") and dim.dim_value > 0):
            vi.type.tensor_type.shape.dim[0].dim_param = dim.dim_param or "batch"
    return shaped
