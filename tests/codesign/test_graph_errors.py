"""Bad input: each case is one clear error naming the file or node, never a traceback."""
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from codesign.cli import main
from codesign.errors import InputShapeError, ModelImportError
from codesign.graph import load_network, parse_input_shape
from codesign.models import light_model_path


def model_with(nodes, inputs, inits=(), outputs=("y",)):
    graph = helper.make_graph(nodes, "g", inputs,
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
                              list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


def weight(shape, name="w"):
    return numpy_helper.from_array(np.ones(shape, np.float32), name)


X = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])


def save(tmp_path, model, name="m.onnx"):
    path = tmp_path / name
    path.write_bytes(model.SerializeToString())
    return path


def cli_error(capsys, *argv):
    code = main(list(argv))
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    return err


def test_missing_file(capsys, tmp_path):
    err = cli_error(capsys, "inspect", str(tmp_path / "nope.onnx"))
    assert "nope.onnx" in err and "not found" in err and "alexnet" in err


def test_not_onnx(capsys, tmp_path):
    path = tmp_path / "notes.onnx"
    path.write_text("this is not a protobuf\n" * 5)
    err = cli_error(capsys, "inspect", str(path))
    assert "notes.onnx" in err and "not a readable ONNX model" in err


def test_truncated_protobuf(capsys, tmp_path):
    data = light_model_path("alexnet").read_bytes()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: len(data) // 2])
    err = cli_error(capsys, "inspect", str(path))
    assert "cut.onnx" in err


def test_directory_instead_of_file(capsys, tmp_path):
    assert "directory" in cli_error(capsys, "inspect", str(tmp_path))


def test_no_compute_layer(capsys, tmp_path):
    path = save(tmp_path, model_with([helper.make_node("Relu", ["x"], ["y"])], [X]))
    assert "no Conv" in cli_error(capsys, "inspect", str(path))


def test_weight_from_a_random_op_is_named_as_not_modeled():
    nodes = [helper.make_node("RandomNormal", [], ["w"], shape=[4, 3, 3, 3]),
             helper.make_node("Conv", ["x", "w"], ["y"], name="conv")]
    with pytest.raises(ModelImportError, match=r"no compute layer can be modeled; node 'conv' \(Conv\).*"
                                               "run-time tensor"):
        load_network(model_with(nodes, [X]))


def test_weight_from_runtime_tensor(tmp_path):
    w_in = helper.make_tensor_value_info("w", TensorProto.FLOAT, [4, 3, 3, 3])
    model = model_with([helper.make_node("Conv", ["x", "w"], ["y"])], [X, w_in])
    with pytest.raises(ModelImportError, match="run-time tensor"):
        load_network(model)


def test_uninferable_shape(tmp_path):
    shape_in = helper.make_tensor_value_info("s", TensorProto.INT64, [4])
    nodes = [helper.make_node("Reshape", ["x", "s"], ["r"]), helper.make_node("Conv", ["r", "w"], ["y"])]
    model = model_with(nodes, [X, shape_in], [weight((4, 3, 3, 3))])
    with pytest.raises(ModelImportError, match="could not be inferred"):
        load_network(model)


def test_dynamic_input_needs_input_shape(capsys, tmp_path):
    dyn = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])
    path = save(tmp_path, model_with([helper.make_node("Conv", ["x", "w"], ["y"])], [dyn],
                                     [weight((4, 3, 3, 3))]))
    err = cli_error(capsys, "inspect", str(path))
    assert "dynamic" in err and "--input-shape" in err
    assert main(["inspect", str(path), "--input-shape", "2x3x16x16", "--json"]) == 0


@pytest.mark.parametrize("text", ["", "1x3xabc", "0x3x4x4", "1x-3x4x4", "axb"])
def test_malformed_input_shape(capsys, text):
    assert "--input-shape" in cli_error(capsys, "inspect", "alexnet", "--input-shape", text)


def test_input_shape_rank_mismatch():
    with pytest.raises(InputShapeError, match="rank"):
        load_network("alexnet", (224, 224))


def test_input_size_that_breaks_a_fixed_reshape():
    with pytest.raises(InputShapeError, match="Reshape"):
        load_network("alexnet", (1, 3, 256, 256))


def test_channel_mismatch_names_node():
    with pytest.raises(ModelImportError, match="input channels"):
        load_network("alexnet", (1, 4, 224, 224))


def test_debug_shows_traceback(tmp_path):
    with pytest.raises(ModelImportError):
        main(["--debug", "inspect", str(tmp_path / "missing.onnx")])


def test_parse_input_shape():
    assert parse_input_shape("1x3x224x224") == (1, 3, 224, 224)
    assert parse_input_shape("3X32X32") == (3, 32, 32)
