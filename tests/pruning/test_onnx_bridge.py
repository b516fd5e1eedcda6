import os

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from pruning.errors import PruningError
from pruning.protocol import prunable_weights
from pruning.data import Dataset, load_dataset
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


def test_reshape_with_hardcoded_batch_follows_the_actual_batch():
    shape = numpy_helper.from_array(np.array([1, -1], np.int64), "S")
    node = helper.make_node("Reshape", ["X", "S"], ["Y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 2, 3])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)], [shape])
    module = OnnxModule(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8))
    assert module(torch.zeros(4, 2, 3)).shape == (4, 6)


def _graph(nodes, inputs, output, inits=(), opset=17):
    graph = helper.make_graph(nodes, "g", inputs, [helper.make_tensor_value_info(output, TensorProto.FLOAT, None)],
                              list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def _const(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def test_a_static_batch_graph_runs_on_any_batch_even_with_the_batch_inside_reshapes():
    """Dynamo exports fix batch 1 and fold it into Reshape shapes on other axes (here (4, 6)):
    the module runs such a graph sample by sample (torch.vmap), as onnxruntime would."""
    nodes = [helper.make_node("Transpose", ["X"], ["t"], perm=[1, 0, 2]),
             helper.make_node("Reshape", ["t", "S1"], ["r"]),
             helper.make_node("MatMul", ["r", "W"], ["m"]),
             helper.make_node("Reshape", ["m", "S2"], ["Y"])]
    model = _graph(nodes, [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 4, 6])], "Y",
                   [_const("S1", np.array([4, 6])), _const("W", _f(6, 3)), _const("S2", np.array([1, 12]))])
    module = OnnxModule(model)
    assert module(torch.from_numpy(_f(5, 4, 6))).shape == (5, 12)
    verify_onnx(module, model, _f(5, 4, 6), atol=1e-5)


def test_single_numbers_of_the_computation_are_not_trained():
    """An exponent, a scale or an epsilon stays what the graph says; a one-unit layer's bias and
    every tensor of weights are trained."""
    nodes = [helper.make_node("Pow", ["X", "two"], ["p"]), helper.make_node("Mul", ["p", "half"], ["h"]),
             helper.make_node("Gemm", ["h", "W", "B"], ["Y"], transB=1)]
    model = _graph(nodes, [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["n", 3])], "Y",
                   [_const("two", np.float32(2.0)), _const("half", np.float32(0.5)), _const("W", _f(1, 3)),
                    _const("B", np.zeros(1, np.float32))])
    assert set(OnnxModule(model).params_by_onnx_name()) == {"W", "B"}


def test_token_ids_feed_an_embedding_that_trains():
    nodes = [helper.make_node("Gather", ["E", "ids"], ["e"]),
             helper.make_node("ReduceMean", ["e"], ["m"], axes=[1], keepdims=0),
             helper.make_node("Gemm", ["m", "W"], ["Y"], transB=1)]
    model = _graph(nodes, [helper.make_tensor_value_info("ids", TensorProto.INT64, ["n", 5])], "Y",
                   [_const("E", _f(20, 4)), _const("W", _f(3, 4))], opset=13)
    module = OnnxModule(model)
    ids = np.array([[1, 2, 3, -1, 0]] * 6, np.int64)              # -1: the last row, valid ONNX
    before = module.params_by_onnx_name()["E"].detach().clone()
    data = Dataset(ids, np.arange(6) % 3, ids, np.arange(6) % 3, (5,), 3, "tokens")
    train_epochs(module, TrainContext(data, batch_size=6, lr=0.1), 1)
    after = module.params_by_onnx_name()["E"].detach()
    changed = sorted(np.flatnonzero((after != before).any(1).numpy()).tolist())
    assert changed == [0, 1, 2, 3, 19]
    verify_onnx(module, module.to_onnx(), ids, atol=1e-5)


def test_data_spec_reads_every_input_and_names_what_it_cannot_train():
    from pruning.data import load_dataset
    from pruning.onnx.bridge import data_spec
    from pruning.tasks import make_task
    two = _graph([helper.make_node("Add", ["A", "B"], ["Y"])],
                 [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 3]) for n in "AB"], "Y")
    spec = data_spec(two)
    assert [i.name for i in spec.inputs] == ["A", "B"] and spec.output.dims == (1, 3)
    scalar = _graph([helper.make_node("Relu", ["A"], ["Y"])], [helper.make_tensor_value_info("A", TensorProto.FLOAT, [])], "Y")
    with pytest.raises(OnnxBridgeError, match="no batch axis"):
        data_spec(scalar)
    dense = _graph([helper.make_node("Relu", ["A"], ["Y"])],
                   [helper.make_tensor_value_info("A", TensorProto.FLOAT, [1, 2, 8, 8])], "Y")
    spec = data_spec(dense)
    assert spec.classes is None and spec.output.dims == (1, 2, 8, 8) and not spec.output.class_like
    labeled = load_dataset("synthetic", limit=20)                     # labels, but no classifier output
    with pytest.raises(PruningError, match=r"output has shape \(1, 2, 8, 8\).*--task distill"):
        make_task("classify", from_onnx(dense), labeled, spec)


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


def test_a_graph_with_a_static_batch_is_checked_in_chunks_of_it():
    module = OnnxModule(builtin_onnx("lenet300"))
    fixed = module.to_onnx()
    for value in (fixed.graph.input[0], fixed.graph.output[0]):
        value.type.tensor_type.shape.dim[0].Clear()
        value.type.tensor_type.shape.dim[0].dim_value = 1
    verify_onnx(module, fixed, _f(5, 1, 28, 28))


def test_a_copy_of_the_module_lets_intermediates_go_as_the_original_does():
    """A distillation's teacher is a deep copy: it must drop each activation after its last
    reader too (keyed by node index, not by node object), or it holds all of them at once."""
    import copy
    net = from_onnx(builtin_onnx("vgg7", (1, 28, 28), 10))
    x = torch.rand(4, 1, 28, 28)
    peak, total = net.activation_bytes(x)
    assert peak < total / 2
    assert copy.deepcopy(net).activation_bytes(x) == (peak, total)
