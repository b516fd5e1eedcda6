"""Mutated and hostile ONNX files (issue 14): the smallest reproducer of each crash signature the
fuzz campaign found ends in one `codesign: error:` line and exit 2; a seeded sweep of protobuf
mutations of a real model never ends in anything but a CodesignError."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from codesign.cli import main
from codesign.errors import CodesignError
from codesign.graph import load_network
from pruning.models import builtin_onnx

F = TensorProto.FLOAT


def conv_model(weight=None, x_shape=(1, 3, 8, 8), conv_inputs=("x", "w"), name="conv"):
    weight = weight if weight is not None else numpy_helper.from_array(np.ones((4, 3, 3, 3), np.float32), "w")
    graph = helper.make_graph([helper.make_node("Conv", list(conv_inputs), ["y"], name=name)], "g",
                              [helper.make_tensor_value_info("x", F, list(x_shape))],
                              [helper.make_tensor_value_info("y", F, None)], [weight])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


def one_error_line(capsys, tmp_path, model_or_bytes, *flags) -> str:
    path = tmp_path / "m.onnx"
    data = model_or_bytes if isinstance(model_or_bytes, bytes) else model_or_bytes.SerializeToString()
    path.write_bytes(data)
    code = main(["inspect", str(path), *flags])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("codesign: error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert len(err) < 340 and all(ch.isprintable() for ch in err.rstrip("\n"))
    return err


def tensor(name, dims, data_type=F, raw=b""):
    t = TensorProto(name=name, dims=list(dims), data_type=data_type)
    t.raw_data = raw
    return t


def test_dropped_node_input(capsys, tmp_path):
    err = one_error_line(capsys, tmp_path, conv_model(conv_inputs=("x",)))
    assert "conv" in err


def test_weight_path_that_loops_on_itself(capsys, tmp_path):
    m = conv_model(conv_inputs=("x", "loop"))
    m.graph.node.insert(0, helper.make_node("Identity", ["loop"], ["loop"]))
    assert "Identity" in one_error_line(capsys, tmp_path, m)


def test_empty_operand_name(capsys, tmp_path):
    assert "operands" in one_error_line(capsys, tmp_path, conv_model(conv_inputs=("x", "")))


@pytest.mark.parametrize("dims, why", [((0, 3, 3, 3), "positive dimensions"), ((4, -3, 3, 3), "negative")])
def test_zero_or_negative_weight_dim(capsys, tmp_path, dims, why):
    assert why in one_error_line(capsys, tmp_path, conv_model(tensor("w", dims)))


@pytest.mark.parametrize("weight", [
    tensor("w", (4, 3, 3, 3), raw=b"\0" * 10),                          # raw bytes of the wrong size
    tensor("w", (4, 3, 3, 3), data_type=TensorProto.INT8),              # declared int8, no data
    tensor("w", (4, 3, 3, 3), data_type=999, raw=b"\0" * 432),          # no such type
])
def test_weight_data_not_matching_its_shape_or_type(capsys, tmp_path, weight):
    err = one_error_line(capsys, tmp_path, conv_model(weight))
    assert "'w'" in err and "corrupted" in err


def test_giant_weight_shape(capsys, tmp_path):
    assert "limit" in one_error_line(capsys, tmp_path, conv_model(tensor("w", (2 ** 21, 2 ** 20, 1, 1))))


def test_giant_input_shape(capsys, tmp_path):
    assert "--input-shape" in one_error_line(capsys, tmp_path, conv_model(), "--input-shape",
                                             "999999999999999999999x3x224x224")
    assert "limit" in one_error_line(capsys, tmp_path, conv_model(x_shape=(1, 3, 2 ** 20, 2 ** 20)))


def test_macs_beyond_any_real_model(capsys, tmp_path):
    """2^20 x 2^20 matrices (placeholder weights): 2^60 MACs."""
    side = 2 ** 20
    nodes = [helper.make_node("ConstantOfShape", ["s"], ["w"], value=numpy_helper.from_array(np.ones(1, np.float32))),
             helper.make_node("MatMul", ["x", "w"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", F, [side, side])],
                              [helper.make_tensor_value_info("y", F, None)],
                              [numpy_helper.from_array(np.array([side, side], np.int64), "s")])
    err = one_error_line(capsys, tmp_path, helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]))
    assert "MACs" in err and "limit" in err


def test_external_data_outside_the_model_folder(capsys, tmp_path):
    weight = tensor("w", (4, 3, 3, 3))
    weight.data_location = TensorProto.EXTERNAL
    weight.external_data.add(key="location", value="../../etc/passwd")
    assert "outside" in one_error_line(capsys, tmp_path, conv_model(weight))


def test_external_data_of_an_in_memory_model_is_never_read():
    weight = tensor("w", (4, 3, 3, 3))
    weight.data_location = TensorProto.EXTERNAL
    weight.external_data.add(key="location", value="w.bin")
    with pytest.raises(CodesignError, match="external file"):
        load_network(conv_model(weight))


def test_huge_name_with_control_characters(capsys, tmp_path):
    name = "\x1b[31m\n" + "n" * 1_000_000
    err = one_error_line(capsys, tmp_path, conv_model(conv_inputs=("x",), name=name))
    assert "\\x1b" in err or "\\n" in err


def nested_ifs(depth: int) -> onnx.ModelProto:
    def leaf(level):
        return helper.make_graph([helper.make_node("Identity", ["x"], [f"o{level}"])], f"b{level}", [],
                                 [helper.make_tensor_value_info(f"o{level}", F, None)])
    inner = leaf(0)
    for level in range(1, depth + 1):
        node = helper.make_node("If", ["c"], [f"o{level}"], then_branch=inner, else_branch=leaf(level))
        inner = helper.make_graph([node], f"b{level}", [], [helper.make_tensor_value_info(f"o{level}", F, None)])
    graph = helper.make_graph(list(inner.node), "g", [helper.make_tensor_value_info("x", F, [1, 4])],
                              [helper.make_tensor_value_info(f"o{depth}", F, None)],
                              [numpy_helper.from_array(np.array(True), "c")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def test_deeply_nested_subgraphs(capsys, tmp_path):
    assert "nests" in one_error_line(capsys, tmp_path, nested_ifs(20))


def mutations(model: onnx.ModelProto):
    """Every node input dropped or renamed, every node output dropped, every initializer with a
    dim zeroed, negated, multiplied up, or its data cut: (description, mutated model)."""
    for i, node in enumerate(model.graph.node):
        for j in range(len(node.input)):
            for how in ("drop", "dangle"):
                m = onnx.ModelProto.FromString(model.SerializeToString())
                target = m.graph.node[i]
                if how == "drop":
                    del target.input[j]
                else:
                    target.input[j] = "nowhere"
                yield f"node {i} input {j} {how}", m
        m = onnx.ModelProto.FromString(model.SerializeToString())
        del m.graph.node[i].output[:]
        yield f"node {i} outputs dropped", m
    for i, init in enumerate(model.graph.initializer):
        for k in range(len(init.dims)):
            for value in (0, -1, init.dims[k] * 7, 2 ** 40):
                m = onnx.ModelProto.FromString(model.SerializeToString())
                m.graph.initializer[i].dims[k] = value
                yield f"initializer {i} dim {k} = {value}", m
        m = onnx.ModelProto.FromString(model.SerializeToString())
        m.graph.initializer[i].raw_data = m.graph.initializer[i].raw_data[:7]
        yield f"initializer {i} data cut", m


def lstm_in_if() -> onnx.ModelProto:
    """An LSTM inside an If branch whose condition comes from a shape: folding, bodies, recurrent."""
    rng = np.random.default_rng(0)
    lstm = helper.make_node("LSTM", ["x", "W", "R"], ["h"], hidden_size=4)
    then_g = helper.make_graph([lstm], "then", [], [helper.make_tensor_value_info("h", F, None)])
    else_g = helper.make_graph([helper.make_node("Identity", ["x"], ["e"])], "else", [],
                               [helper.make_tensor_value_info("e", F, None)])
    nodes = [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("ReduceSum", ["s"], ["n"], keepdims=0),
             helper.make_node("Greater", ["n", "k"], ["c"]),
             helper.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g)]
    inits = [numpy_helper.from_array(rng.standard_normal(s).astype(np.float32), n)
             for n, s in (("W", (1, 16, 3)), ("R", (1, 16, 4)))] + [numpy_helper.from_array(np.array(2), "k")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", F, [5, 1, 3])],
                              [helper.make_tensor_value_info("y", F, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)], ir_version=8)


@pytest.mark.parametrize("build", [lambda: builtin_onnx("lenet5"), lstm_in_if])
def test_protobuf_mutations_of_a_real_model_never_crash(build):
    assert load_network(build()).total_macs > 0
    seen = 0
    for what, mutated in mutations(build()):
        try:
            load_network(mutated)
        except CodesignError as exc:
            assert "\n" not in str(exc), what
        seen += 1
    assert seen > 20
