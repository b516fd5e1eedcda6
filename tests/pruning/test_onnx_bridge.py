import os

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from pruning.protocol import prunable_weights
from pruning.data import load_dataset
from pruning.projections import pattern_masks
from pruning.models import builtin_onnx
from pruning.onnx.bridge import (METADATA_KEY, OnnxBridgeError, OnnxModule, from_onnx, materialize,
                                 onnxruntime_outputs, verify_onnx)
from pruning.train import TrainContext, train_epochs

LIGHT = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")
RNG = np.random.default_rng(0)


def _single_node(op, x_shape, attrs=None, weights=(), opset=13, extra_inputs=()):
    """A one-node graph: input X, optional float initializers W0.., output Y."""
    inits = [numpy_helper.from_array(w.astype(w.dtype), f"W{i}") for i, w in enumerate(weights)]
    names = ["X"] + [t.name for t in inits] + list(extra_inputs)
    node = helper.make_node(op, names, ["Y"], **(attrs or {}))
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, x_shape)],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def _f(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


CASES = {
    "avgpool-asym-exclude-pad": ("AveragePool", [2, 3, 7, 7], {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [0, 0, 1, 1]}, ()),
    "avgpool-asym-include-pad": ("AveragePool", [2, 3, 7, 7], {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 0, 2, 1], "count_include_pad": 1}, ()),
    "avgpool-ceil": ("AveragePool", [1, 2, 8, 8], {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}, ()),
    "maxpool-asym": ("MaxPool", [2, 3, 7, 7], {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [0, 1, 1, 2]}, ()),
    "maxpool-same-upper": ("MaxPool", [1, 2, 9, 9], {"kernel_shape": [2, 2], "strides": [2, 2], "auto_pad": "SAME_UPPER"}, ()),
    "conv-groups-same": ("Conv", [2, 4, 9, 9], {"group": 2, "strides": [2, 2], "auto_pad": "SAME_UPPER"}, (_f(6, 2, 3, 3), _f(6))),
    "conv-asym-dilated": ("Conv", [1, 3, 10, 10], {"pads": [0, 1, 2, 0], "dilations": [2, 1]}, (_f(5, 3, 3, 3),)),
    "gemm-trans-alpha-beta": ("Gemm", [5, 4], {"transB": 1, "alpha": 0.5, "beta": 2.0}, (_f(3, 4), _f(3))),
    "matmul": ("MatMul", [5, 4], {}, (_f(4, 3),)),
    "lrn-odd": ("LRN", [2, 7, 4, 4], {"size": 5, "alpha": 1e-2, "beta": 0.75, "bias": 2.0}, ()),
    "batchnorm": ("BatchNormalization", [2, 3, 4, 4], {"epsilon": 1e-3},
                  (_f(3), _f(3), _f(3), np.abs(_f(3)) + 0.1)),
    "global-avgpool": ("GlobalAveragePool", [2, 3, 5, 5], {}, ()),
    "flatten-axis2": ("Flatten", [2, 3, 4, 5], {"axis": 2}, ()),
    "transpose": ("Transpose", [2, 3, 4], {"perm": [0, 2, 1]}, ()),
    "sum3": ("Sum", [2, 3], {}, (_f(2, 3), _f(3))),
    "concat": ("Concat", [2, 3], {"axis": 1}, (_f(2, 4),)),
    "dropout": ("Dropout", [2, 3], {}, ()),
    "relu": ("Relu", [3, 4], {}, ()),
    "add": ("Add", [2, 3, 4], {}, (_f(3, 1),)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_single_op_matches_onnxruntime(case):
    op, shape, attrs, weights = CASES[case]
    model = _single_node(op, shape, attrs, weights)
    module = OnnxModule(model)
    verify_onnx(module, module.to_onnx(), _f(*shape), atol=1e-5)


@pytest.mark.parametrize("opset", [11, 13])
def test_softmax_axis_semantics_by_opset(opset):
    model = _single_node("Softmax", [2, 3, 4], {"axis": 1}, opset=opset)
    verify_onnx(OnnxModule(model), model, _f(2, 3, 4), atol=1e-6)


def test_reshape_with_hardcoded_batch_follows_the_actual_batch():
    shape = numpy_helper.from_array(np.array([1, -1], np.int64), "S")
    node = helper.make_node("Reshape", ["X", "S"], ["Y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 2, 3])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)], [shape])
    module = OnnxModule(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8))
    assert module(torch.zeros(4, 2, 3)).shape == (4, 6)


def _logits(model):
    """Cut the final Softmax so the comparison sees logits, not a near-uniform distribution."""
    softmax = [n for n in model.graph.node if n.op_type == "Softmax"]
    if softmax:
        model.graph.node.remove(softmax[-1])
        del model.graph.output[:]
        model.graph.output.append(helper.make_tensor_value_info(softmax[-1].input[0], TensorProto.FLOAT, None))
    return model


@pytest.mark.parametrize("name", ["squeezenet", "inception_v1", "shufflenet", "densenet121"])
def test_light_imagenet_graphs_match_onnxruntime(name):
    model = _logits(materialize(onnx.load(os.path.join(LIGHT, f"light_{name}.onnx")), seed=1))
    module = OnnxModule(model)
    assert len(module.onnx_weight_names()) == sum(n.op_type in ("Conv", "Gemm") for n in model.graph.node)
    diff = verify_onnx(module, module.to_onnx(), _f(1, 3, 224, 224), atol=1e-4, rtol=1e-6)
    assert diff < 1e-3


def test_placeholder_weights_need_a_seed_and_unknown_ops_are_named():
    with pytest.raises(OnnxBridgeError, match="materialize_seed"):
        from_onnx(os.path.join(LIGHT, "light_squeezenet.onnx"))
    with pytest.raises(OnnxBridgeError, match="NonMaxSuppression"):
        OnnxModule(_single_node("NonMaxSuppression", [1, 2, 4]))


def test_lenet_round_trip_pruned_weights_exact_zeros():
    ds = load_dataset("synthetic", limit=200, test_limit=100)
    module = OnnxModule(builtin_onnx("lenet5", ds.input_shape, ds.num_classes))
    assert list(prunable_weights(module)) == ["conv1.weight", "conv2.weight", "fc1.weight", "fc2.weight"]
    alphas = {"conv2.weight": 0.2, "fc1.weight": 0.05}
    masks = pattern_masks(prunable_weights(module), alphas)
    train_epochs(module, TrainContext(ds, batch_size=50), 1, masks=masks)
    exported = module.to_onnx(metadata={"method": "test"})
    verify_onnx(module, exported, ds.test_x[:16], masks=masks)
    inits = {t.name: numpy_helper.to_array(t) for t in exported.graph.initializer}
    for name, mask in masks.items():
        assert int((inits[name] != 0).sum()) == int(mask.sum())
    assert dict((p.key, p.value) for p in exported.metadata_props)[METADATA_KEY] == '{"method": "test"}'
    ort = onnxruntime_outputs(exported, ds.test_x[:3])        # dynamic batch axis works in ORT
    assert ort.shape == (3, 10)


def test_final_softmax_is_skipped_for_training_but_kept_in_the_export():
    model = materialize(onnx.load(os.path.join(LIGHT, "light_squeezenet.onnx")), seed=2)
    module = OnnxModule(model)
    assert model.graph.node[-1].op_type == "Softmax" and module.output_activation is not None
    x = _f(1, 3, 224, 224)
    logits = module(torch.from_numpy(x)).detach()
    assert float(logits.abs().max()) > 1.0                     # logits, not probabilities
    exported = module.to_onnx()
    assert exported.graph.node[-1].op_type == "Softmax"
    verify_onnx(module, exported, x)


def test_static_batch_copy_runs_in_chunks():
    from pruning.onnx.bridge import with_static_batch
    module = OnnxModule(builtin_onnx("lenet300"))
    fixed = with_static_batch(module.to_onnx(), 1)
    assert fixed.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 1
    verify_onnx(module, fixed, _f(5, 1, 28, 28))
