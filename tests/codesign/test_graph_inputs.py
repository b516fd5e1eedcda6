"""Input shapes: several inputs (`NAME=DIMS`, repeatable; a bare DIMS sets the first), symbols
shared between inputs, scalar and int64 inputs, and errors that name the input."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from codesign.cli import main
from codesign.errors import InputShapeError
from codesign.graph import load_network, parse_input_shape


def audio_model():
    """`input` (batch x n) and a recurrent `state` (2 x batch x 64), and a scalar `gain`."""
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", "n"]),
              helper.make_tensor_value_info("state", TensorProto.FLOAT, [2, "batch", 64]),
              helper.make_tensor_value_info("gain", TensorProto.FLOAT, [])]
    nodes = [helper.make_node("MatMul", ["input", "w"], ["a"]), helper.make_node("Mul", ["a", "gain"], ["b"]),
             helper.make_node("MatMul", ["state", "r"], ["s2"])]
    inits = [numpy_helper.from_array(np.ones(s, np.float32), n) for n, s in (("w", (160, 64)), ("r", (64, 64)))]
    graph = helper.make_graph(nodes, "audio", inputs, [onnx.ValueInfoProto(name=o) for o in ("b", "s2")], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


def test_bare_dims_set_the_first_input_and_the_batch_symbol_follows():
    net = load_network(audio_model(), "4x160")
    assert net.inputs == {"input": (4, 160), "state": (2, 4, 64), "gain": ()}
    assert net.input_shape == (4, 160)
    assert [l.macs for l in net.layers] == [4 * 160 * 64, 2 * 4 * 64 * 64]


def test_named_shapes_and_round_trip_through_input_shapes_text():
    net = load_network(audio_model(), ["state=2x3x64", "input=3x160"])
    assert net.inputs["state"] == (2, 3, 64)
    text = net.input_shapes_text()
    assert text == ["input=3x160", "state=2x3x64", "gain=scalar"]
    assert load_network(audio_model(), text).inputs == net.inputs


def test_one_input_round_trips_by_position():
    net = load_network("alexnet", "1x3x227x227")
    assert net.input_shapes_text() == ["1x3x227x227"]


@pytest.mark.parametrize("spec, match", [
    (None, r"input 'input' .* dynamic dimensions \(batchxn\)"),
    (["x=1x160"], r"names 'x', which is not an input.*'input', 'state', 'gain'"),
    (["1x160", "input=1x160"], "twice"),
    (["input=1x2x160"], "rank 3, but input 'input'"),
    (["state=scalar"], "rank 0"),
])
def test_shape_errors_name_the_input(spec, match):
    with pytest.raises(InputShapeError, match=match):
        load_network(audio_model(), spec)


def test_int64_token_input_with_dynamic_length():
    ids = helper.make_tensor_value_info("tokens", TensorProto.INT64, ["batch", "seq"])
    nodes = [helper.make_node("Gather", ["emb", "tokens"], ["e"]), helper.make_node("MatMul", ["e", "w"], ["y"])]
    inits = [numpy_helper.from_array(np.ones(s, np.float32), n) for n, s in (("emb", (100, 8)), ("w", (8, 4)))]
    graph = helper.make_graph(nodes, "text", [ids], [onnx.ValueInfoProto(name="y")], inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    assert load_network(m, "1x16").layers[0].macs == 16 * 8 * 4
    with pytest.raises(InputShapeError, match=r"tokens=1x224"):
        load_network(m)


def test_cli_takes_several_input_shapes(tmp_path, capsys):
    path = tmp_path / "audio.onnx"
    path.write_bytes(audio_model().SerializeToString())
    assert main(["inspect", str(path), "--input-shape", "input=2x160", "--input-shape", "state=2x2x64"]) == 0
    out = capsys.readouterr().out
    assert "inputs input 2x160, state 2x2x64, gain scalar" in out


def test_parse_input_shape_words():
    assert parse_input_shape("scalar") == ()
    assert parse_input_shape("2,3") == (2, 3)
