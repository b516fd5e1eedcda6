"""Export the zoo models to ONNX with torch's two exporters, with a disk cache.

``export(name, exporter, opset, cache_dir=None) -> Path`` returns the cached ``.onnx`` file
(exporting it first if needed) or raises ``ExportFailed`` with the reason (failures are
cached too, so a failing pair costs its export time only once).

Exporters
* ``legacy``: ``torch.onnx.export(dynamo=False, opset_version=opset)`` with a dynamic batch
  axis (``dynamic_axes={<input>: {0: "batch"}, "output": {0: "batch"}}``); the ONNX input's
  dim 0 is the symbol ``batch``.
* ``dynamo``: ``torch.onnx.export(dynamo=True, external_data=False)`` with static shapes
  (batch 1).  torch 2.13 writes opset 18 whatever is asked; ``info()["opset_written"]`` has
  the truth.
* ``dynamo_dynamic``: the dynamo exporter with ``dynamic_shapes=({0: Dim("batch")},)``,
  traced on a batch-2 copy of the example input (torch.export specialises a size-1 dim to a
  constant, and then the ONNX exporter silently retries other strategies and may write a
  static graph).  Only for a few cheap models: symbolic shapes make export 2-3x slower.

The cache key is (name, exporter, opset, torch version) plus a short hash of this package's
model/export sources and the onnx / onnxscript versions, so editing a model re-exports it.
Cache dir: ``cache_dir`` argument, else ``$CODESIGN_ZOO_CACHE/exports``, else
``<repo>/.cache/zoo/exports``.  Each ``X.onnx`` has a ``X.json`` beside it (see ``info``).
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import logging
import math
import os
import time
import warnings
from pathlib import Path

import torch

from pruning.onnx.torch_export import silent_fds

from . import models as zoo_models
from .ocr import cache_root, ensure_dir

EXPORTERS = ("legacy", "dynamo", "dynamo_dynamic")
DYNAMO_DYNAMIC_MODELS = ("vit",)

ZOO: list[tuple[str, str, int]] = (
    [(n, "legacy", op) for n in zoo_models.NAMES for op in (13, 17)]
    + [(n, "dynamo", 18) for n in zoo_models.NAMES]
    + [(n, "dynamo_dynamic", 18) for n in DYNAMO_DYNAMIC_MODELS]
)


class ExportFailed(RuntimeError):
    """An export that failed (possibly in an earlier run: the failure is cached)."""

    def __init__(self, case: tuple[str, str, int], reason: str):
        super().__init__(f"{case[0]}/{case[1]}/opset {case[2]}: {reason}")
        self.case, self.reason = case, reason


def default_cache_dir() -> Path:
    return cache_root() / "exports"


@functools.lru_cache(maxsize=None)
def _source_hash() -> str:
    import onnx
    import onnxscript
    h = hashlib.sha1()
    here = Path(__file__).resolve().parent
    for f in ("models.py", "export.py"):
        h.update((here / f).read_bytes())
    h.update(f"onnx{onnx.__version__} onnxscript{onnxscript.__version__}".encode())
    return h.hexdigest()[:10]


def cache_key(name: str, exporter: str, opset: int) -> str:
    return f"{name}__{exporter}__op{opset}__torch{torch.__version__}__{_source_hash()}"


# ------------------------------------------------------------------------------ export fixes
@contextlib.contextmanager
def _sdpa_as_math():
    """Replace F.scaled_dot_product_attention by its math definition while tracing.

    The legacy exporter has no symbolic for aten::scaled_dot_product_attention below opset 14
    (nn.MultiheadAttention calls it); the math form exports as MatMul/Mul/Softmax/MatMul with
    the same MACs.  Only the arguments nn.MultiheadAttention uses are supported."""
    f = torch.nn.functional
    orig = f.scaled_dot_product_attention

    def sdpa(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
             enable_gqa=False):
        if is_causal or dropout_p or enable_gqa:
            raise NotImplementedError("math SDPA fallback: causal/dropout/gqa unsupported")
        s = scale if scale is not None else 1.0 / math.sqrt(q.shape[-1])
        w = torch.matmul(q, k.transpose(-2, -1)) * s
        if attn_mask is not None:
            w = w.masked_fill(~attn_mask, float("-inf")) if attn_mask.dtype == torch.bool \
                else w + attn_mask
        return torch.matmul(w.softmax(dim=-1), v)

    f.scaled_dot_product_attention = sdpa
    try:
        yield
    finally:
        f.scaled_dot_product_attention = orig




# ------------------------------------------------------------------------------ the export
def _batch2(inputs: tuple) -> tuple:
    return tuple(torch.cat([x, x.flip(0) if x.dtype == torch.int64 else x * 0.5]) for x in inputs)


def _do_export(name: str, exporter: str, opset: int, out: Path) -> dict:
    torch.set_num_threads(1)
    module, inputs = zoo_models.build(name)
    in_names = list(zoo_models.input_names(name))
    meta: dict = {"fixes": []}
    sink = io.StringIO()
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # "torchvision is not installed. Skipping ..." on each run
    try:
        with warnings.catch_warnings(), silent_fds(), contextlib.redirect_stdout(sink):
            warnings.simplefilter("ignore")
            if exporter == "legacy":
                _legacy(module, inputs, in_names, opset, out, meta)
            elif exporter in ("dynamo", "dynamo_dynamic"):
                _dynamo(module, inputs, in_names, opset, out, meta, exporter == "dynamo_dynamic")
            else:
                raise ValueError(f"unknown exporter {exporter!r}; known: {EXPORTERS}")
    finally:
        quiet.setLevel(level)
    if exporter != "legacy":
        strategy = [ln.strip() for ln in sink.getvalue().splitlines()
                    if "Obtain model graph" in ln and ("\u274c" in ln or "\u2705" in ln)]
        if any("\u274c" in ln for ln in strategy):  # a capture strategy failed, another won
            meta["fixes"].append("exporter fell back: " + " | ".join(strategy)[:400])
    return meta


def _legacy(module, inputs, in_names, opset, out, meta):
    axes = {n: {0: "batch"} for n in in_names} | {"output": {0: "batch"}}
    kw = dict(dynamo=False, opset_version=opset, input_names=in_names,
              output_names=["output"], dynamic_axes=axes)
    meta["dynamic_batch_requested"] = True
    try:
        torch.onnx.export(module, inputs, str(out), **kw)
    except Exception as e:  # noqa: BLE001 - retried once with a known fix
        if "scaled_dot_product_attention" not in str(e):
            raise
        first = str(e).strip().splitlines()[0][:200]
        meta["fixes"].append("F.scaled_dot_product_attention replaced by its math form while "
                             f"tracing (first attempt: {type(e).__name__}: {first})")
        with _sdpa_as_math():
            torch.onnx.export(module, inputs, str(out), **kw)


def _dynamo(module, inputs, in_names, opset, out, meta, dynamic):
    kw = dict(dynamo=True, external_data=False, opset_version=opset, input_names=in_names,
              output_names=["output"])
    args = inputs
    if dynamic:
        args = _batch2(inputs)
        kw["dynamic_shapes"] = tuple({0: torch.export.Dim("batch")} for _ in inputs)
    meta["dynamic_batch_requested"] = dynamic
    torch.onnx.export(module, args, str(out), **kw)


def _graph_facts(path: Path) -> dict:
    import onnx
    m = onnx.load(str(path), load_external_data=False)
    opset = next((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), None)

    def dims(vi):
        return [d.dim_param or d.dim_value for d in vi.type.tensor_type.shape.dim]

    ins = [{"name": i.name, "shape": dims(i),
            "dtype": onnx.helper.tensor_dtype_to_np_dtype(i.type.tensor_type.elem_type).name}
           for i in m.graph.input]
    return {"opset_written": opset, "ir_version": m.ir_version, "onnx_inputs": ins,
            "onnx_outputs": [{"name": o.name, "shape": dims(o)} for o in m.graph.output],
            "dynamic_batch": bool(ins) and isinstance(ins[0]["shape"][0], str)}


def _paths(name, exporter, opset, cache_dir):
    d = Path(cache_dir) if cache_dir else default_cache_dir()
    key = cache_key(name, exporter, opset)
    return d, d / f"{key}.onnx", d / f"{key}.json", d / f"{key}.failed.json"


def info(name: str, exporter: str, opset: int, cache_dir=None, *, run: bool = True) -> dict:
    """Metadata of one case, exporting it first if needed (``run=False``: only read the cache).

    Keys: name, exporter, opset_requested, ok, path | reason, opset_written, export_seconds,
    bytes, dynamic_batch, onnx_inputs, onnx_outputs, fixes, torch, cached (bool)."""
    if exporter not in EXPORTERS:
        raise ValueError(f"unknown exporter {exporter!r}; known: {EXPORTERS}")
    d, onnx_path, meta_path, fail_path = _paths(name, exporter, opset, cache_dir)
    for p in (meta_path, fail_path):
        if p.is_file() and (p is fail_path or onnx_path.is_file()):
            try:
                meta = json.loads(p.read_text())
                meta["cached"] = True
                return meta
            except (OSError, ValueError):
                pass
    if not run:
        return {"name": name, "exporter": exporter, "opset_requested": opset, "ok": None,
                "reason": "not exported yet", "cached": False}
    if name not in zoo_models.NAMES:
        raise KeyError(f"unknown zoo model {name!r}")
    ensure_dir(d)
    tmp = d / f".{onnx_path.stem}.{os.getpid()}.tmp.onnx"
    base = {"name": name, "exporter": exporter, "opset_requested": opset,
            "torch": torch.__version__}
    t0 = time.perf_counter()
    try:
        meta = _do_export(name, exporter, opset, tmp)
        seconds = time.perf_counter() - t0
        meta = base | meta | _graph_facts(tmp) | {
            "ok": True, "path": str(onnx_path), "export_seconds": round(seconds, 3),
            "bytes": tmp.stat().st_size}
        os.replace(tmp, onnx_path)
        target = meta_path
    except Exception as e:  # noqa: BLE001 - recorded, not raised, so the manifest is complete
        lines = [ln for ln in str(e).strip().splitlines() if ln.strip()]
        meta = base | {"ok": False, "reason": f"{type(e).__name__}: "
                       + (" | ".join(lines[:3]) if lines else repr(e))[:800],
                       "export_seconds": round(time.perf_counter() - t0, 3)}
        target = fail_path
        with contextlib.suppress(OSError):
            tmp.unlink()
    part = target.with_suffix(f".{os.getpid()}.part")
    part.write_text(json.dumps(meta, indent=1))
    os.replace(part, target)
    meta["cached"] = False
    return meta


def export(name: str, exporter: str, opset: int, cache_dir=None) -> Path:
    """Path of the exported ONNX file for this case; raises ExportFailed with the reason."""
    meta = info(name, exporter, opset, cache_dir)
    if not meta.get("ok"):
        raise ExportFailed((name, exporter, opset), meta.get("reason", "unknown"))
    return Path(meta["path"])


def manifest(cache_dir=None, *, run: bool = True) -> list[dict]:
    """One ``info`` dict per ZOO case (failures recorded with their reason, never raised)."""
    return [info(n, e, o, cache_dir, run=run) for n, e, o in ZOO]
