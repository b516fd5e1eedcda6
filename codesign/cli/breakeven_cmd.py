"""`codesign breakeven MODEL`: per-layer break-even pruning ratio r*, per sparsity pattern; on a
GPU target (--hw a100, h100, l4), per-layer 2:4 and int8 speedups per --batch and the batch from
which each pays."""
from __future__ import annotations

import math

from codesign.cli.common import (add_hw_args, add_model_args, add_uncertainty_arg, check_outputs,
                                 format_table, hw_from_args, load_model_arg)
from codesign.cli.inspect_cmd import coverage_lines, warn_coverage
from hwmodels.decide import ratio_label


def register(sub) -> None:
    p = sub.add_parser("breakeven", help="per-layer break-even pruning ratio r* on a hardware config",
                       description="For every prunable layer, the smallest pruning ratio r = 1/alpha "
                                   "at which its sparse implementation is no slower than the dense "
                                   "one on the same hardware (same area per layer, or the same chip), "
                                   "and the speedup at a few ratios. 'always': sparse wins even "
                                   "unpruned; 'never': it loses at every r up to 1000. On a GPU "
                                   "target (--hw a100, h100, l4) the pattern is 2:4: per layer its "
                                   "speedup and int8's at each --batch, and the batch from which "
                                   "each pays.")
    add_model_args(p)
    add_hw_args(p)
    p.add_argument("--patterns", default=None, metavar="P1,P2,...",
                   help="sparsity patterns to compare: unstructured, N:M (e.g. 2:4), KxL blocks "
                        "(e.g. 4x1), channel (default unstructured; GPU targets: 2:4, the only "
                        "pattern their sparse tensor cores run)")
    p.add_argument("--batch", metavar="B1,B2,...",
                   help="GPU targets: batch sizes (samples) to price, e.g. 1,16,256 (default 1); "
                        "a layer's GEMM rows grow with the batch (tokens or pixels per sample x B)")
    p.add_argument("--dtype", choices=("fp16", "bf16", "fp8", "int8"), default="fp16",
                   help="GPU targets: the dense and 2:4 kernels' data type (default fp16); fp16 "
                        "and bf16 also show int8 against them")
    p.add_argument("--path", choices=("kernel", "torch-eager"), default="kernel",
                   help="GPU targets: 'kernel' (default): the GEMM kernels called with cached plans "
                        "(TensorRT, compiled code, PyTorch since its plan cache); 'torch-eager': "
                        "PyTorch's eager 2:4 path before it, which pays torch_sparse_overhead_us "
                        "per call")
    add_uncertainty_arg(p)
    p.add_argument("--json", action="store_true",
                   help="print one JSON document (per layer: r*, its range, speedups, and the "
                        "dense and sparse designs: PEs, PE area, clock, area)")
    p.add_argument("--csv", metavar="PATH", help="also write the table as CSV to PATH")
    p.add_argument("--plot", metavar="PATH", help="write the speedup-vs-r figure (.png, .svg or .pdf)")
    p.set_defaults(func=run)


def run(args) -> int:
    from codesign.api import breakeven
    from codesign.errors import CodesignError
    from codesign.report.figures import check_figure_path
    from hwmodels.gpu.spec import GpuSpec
    from pruning.patterns import parse_pattern_list
    hw = hw_from_args(args, gpu=True)
    if isinstance(hw, GpuSpec):
        return run_gpu(args, hw)
    for flag, value, default in (("--batch", args.batch, None), ("--dtype", args.dtype, "fp16"),
                                 ("--path", args.path, "kernel")):
        if value != default:
            raise CodesignError(f"{flag} is for GPU targets (--hw a100, h100, l4); {hw.name} is an "
                                "ASIC preset, whose batch is the model's (--input-shape) and whose "
                                "widths are hardware keys (--set weight_bits=8)")
    patterns = parse_pattern_list(args.patterns or "unstructured")
    check_outputs(args, files=("csv", "plot"))
    if args.plot:
        check_figure_path(args.plot, "--plot")
    network = load_model_arg(args)
    warn_coverage(network)
    result = breakeven(network, hw, patterns=patterns, uncertainty=args.uncertainty, seed=args.seed)
    if args.csv:
        result.to_csv(args.csv)
    if args.plot:
        from codesign.report.figures import break_even_figure
        break_even_figure(result, args.plot)
    if args.json:
        import json
        doc = result.to_dict()
        doc["totals"]["coverage"] = network.coverage_dict()
        print(json.dumps(doc, indent=1, allow_nan=False))
        return 0
    rows = []
    for l in result.layers:
        rng = "" if l.break_even_range is None else f"{ratio_label(l.break_even_range[0])}-{ratio_label(l.break_even_range[1])}"
        portion = "-" if math.isinf(l.break_even) else f"{100 * (1 - 1 / l.break_even):.0f}%"
        rows.append([l.name, l.op, l.pattern, f"{l.weights:,}", f"{l.macs:,}", l.label]
                    + ([rng] if result.uncertainty else []) + [portion]
                    + ["-" if v is None else f"{v:.3g}x" for v in l.speedup_at.values()])
    head = ["layer", "op", "pattern", "weights", "MACs", "r*"] + (["r* range"] if result.uncertainty else []) \
        + ["prune >="] + [f"x at r={r}" for r in result.layers[0].speedup_at] if result.layers else []
    arch = result.hardware["architecture"]
    print(f"{network.name} on {hw.name} ({hw.mode}; {arch['weight_bits']}-bit weights; "
          f"{hw.index_format} index, {hw.index_width_bits}-bit width; sparse engine {hw.sparse_engine})")
    print(format_table(head, rows))
    print("\n".join(coverage_lines(network)))
    if result.uncertainty:
        print(f"r* range: {100 * (result.uncertainty['quantiles'][1] - result.uncertainty['quantiles'][0]):.0f}% "
              f"of {result.uncertainty['samples']} samples of the preset's ranges (seed {args.seed})")
    for path, what in ((args.csv, "table"), (args.plot, "figure")):
        if path:
            print(f"{what}: {path}")
    return 0


def run_gpu(args, hw) -> int:
    """`breakeven --hw a100 --batch 1,16,256`: 2:4 (and int8) per layer and batch."""
    from codesign.errors import CodesignError
    from codesign.gpu_break_even import gpu_break_even_table, parse_batches
    from pruning.patterns import parse_pattern_list
    patterns = parse_pattern_list(args.patterns or "2:4")
    if [str(p) for p in patterns] != ["2:4"]:
        raise CodesignError(f"{hw.name} is a GPU target: its sparse tensor cores run 2:4 only; give "
                            "--patterns 2:4 (or leave it out)")
    for flag, value in (("--uncertainty", args.uncertainty), ("--plot", args.plot)):
        if value:
            raise CodesignError(f"{flag} is for ASIC presets; a GPU target prints speedups per "
                                "--batch (use --csv or --json for the numbers)")
    batches = parse_batches(args.batch or "1")
    hw.check_dtype(args.dtype)
    check_outputs(args, files=("csv",))
    network = load_model_arg(args)
    warn_coverage(network)
    model_batch = network.input_shape[0] if network.input_shape and network.input_shape[0] > 0 else 1
    result = gpu_break_even_table(network.shapes, hw, network.name, batches, args.dtype,
                                  model_batch, args.path)
    if args.csv:
        result.to_csv(args.csv)
    if args.json:
        import json
        doc = result.to_dict()
        doc["totals"]["coverage"] = network.coverage_dict()
        print(json.dumps(doc, indent=1, allow_nan=False))
        return 0
    keys = [str(b) for b in result.batches]
    low = result.layers[0].int8_speedup is not None
    rows = [[l.name, l.op, f"{l.m_per_sample:,}", f"{l.n:,}", f"{l.k:,}"]
            + ["-" if l.speedup[k] is None else f"{l.speedup[k]:.2f}x" for k in keys]
            + [_from(l.pays_from_batch, l.speedup[keys[0]] is not None)]
            + ([f"{l.int8_speedup[keys[-1]]:.2f}x", _from(l.int8_pays_from_batch, True)] if low else [])
            for l in result.layers]
    head = (["layer", "op", "M/sample", "N", "K"] + [f"2:4 x@{k}" for k in keys] + ["2:4 pays from"]
            + ([f"int8 x@{keys[-1]}", "int8 pays from"] if low else []))
    print(f"{network.name} on {hw.name} (GPU: {hw.sms} SMs, {hw.fp16_tflops:g} TFLOP/s dense fp16; "
          f"{args.dtype} dense vs 2:4 {args.dtype}{', and int8' if low else ''}; path {args.path}; "
          f"batch = samples, model batch {model_batch})")
    print(format_table(head, rows))
    print("network (layers in turn, each at the better kernel): "
          + ", ".join(f"{v:.2f}x at batch {k}" for k, v in result.network_speedup.items()))
    print("speedup = dense time / 2:4 time of the layer's GEMM; 'pays from' = the smallest batch "
          "(of --batch and powers of two to 65,536) from which it is no slower at every larger one")
    print("\n".join(coverage_lines(network)))
    if args.csv:
        print(f"table: {args.csv}")
    return 0


def _from(batch, runs: bool) -> str:
    return "-" if not runs else "never" if batch is None else str(batch)
