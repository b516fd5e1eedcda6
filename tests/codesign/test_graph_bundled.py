"""The importer on the onnx wheel's real ImageNet graphs, against numbers computed here from the
published architectures (independently of the importer)."""
from math import prod

import pytest

from codesign.graph import load_network

from golden import ALEXNET_224_MACS, ALEXNET_224_PARAMS, ALEXNET_227_MACS


def conv(k_out, c_in, k, hw_out, groups=1, stride=1):
    return {"weight_shape": (k_out, c_in // groups, k, k), "groups": groups, "stride": stride,
            "out_hw": hw_out, "macs": hw_out * hw_out * k_out * (c_in // groups) * k * k}


def fc(n_out, n_in):
    return {"weight_shape": (n_out, n_in), "groups": 1, "stride": None, "out_hw": None,
            "macs": n_out * n_in}


def vgg19():
    layers, c, hw = [], 3, 224
    for stage_channels, repeats in [(64, 2), (128, 2), (256, 4), (512, 4), (512, 4)]:
        for _ in range(repeats):
            layers.append(conv(stage_channels, c, 3, hw))
            c = stage_channels
        hw //= 2
    return layers + [fc(4096, 512 * 7 * 7), fc(4096, 4096), fc(1000, 4096)]


def resnet50():
    """ResNet-50 with the stride on the 3x3 convolution (the 'v1.5' layout of this graph)."""
    layers = [conv(64, 3, 7, 112, stride=2)]
    c, hw = 64, 56
    for width, blocks, stride in [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]:
        for b in range(blocks):
            s = stride if b == 0 else 1
            out_hw = hw // s
            layers += [conv(width, c, 1, hw), conv(width, width, 3, out_hw, stride=s),
                       conv(4 * width, width, 1, out_hw)]
            if b == 0:
                layers.append(conv(4 * width, c, 1, out_hw, stride=s))
            c, hw = 4 * width, out_hw
    return layers + [fc(1000, 2048)]


def shufflenet(groups=4, stages=((136, 4), (272, 8), (544, 4))):
    """caffe2 ShuffleNet (g=4, 0.5x widths): a stride-2 unit concatenates its shortcut, so its
    convolutions produce out - in channels; every 1x1 conv is grouped, the 3x3 is depthwise."""
    layers = [conv(24, 3, 3, 112, stride=2)]
    c, hw = 24, 56
    for out, units in stages:
        for u in range(units):
            mid = out - c if u == 0 else out
            out_hw = hw // 2 if u == 0 else hw
            layers += [conv(mid, c, 1, hw, groups=groups),
                       conv(mid, mid, 3, out_hw, groups=mid, stride=2 if u == 0 else 1),
                       conv(mid, mid, 1, out_hw, groups=groups)]
            c, hw = out, out_hw
    return layers + [fc(1000, c)]


def observed(network):
    out = []
    for layer in network.layers:
        s = layer.shape
        conv_like = layer.op == "conv"
        out.append({"weight_shape": tuple(layer.weight_shape), "groups": s.groups,
                    "stride": s.stride[0] if conv_like else None,
                    "out_hw": s.out_spatial[0] if conv_like else None, "macs": layer.macs})
    return out


@pytest.mark.parametrize("name, builder", [("vgg19", vgg19), ("resnet50", resnet50),
                                           ("shufflenet", shufflenet)])
def test_bundled_graphs_match_independent_architecture(name, builder):
    network = load_network(name)
    expected = builder()
    assert observed(network) == expected
    assert network.total_params == sum(prod(e["weight_shape"]) for e in expected)
    assert network.total_macs == sum(e["macs"] for e in expected)


def test_known_totals():
    # totals quoted in published model cards: VGG19 143.7M weights / 19.6 GMACs; ResNet-50
    # 25.56M params of which 53,120 BN and 1,000 FC bias are not conv/FC weights.
    assert load_network("vgg19").total_macs == 19_632_062_464
    assert load_network("resnet50").total_params == 25_557_032 - 53_120 - 1_000


def test_shufflenet_has_depthwise_and_grouped_layers():
    layers = load_network("shufflenet").layers
    assert sum(l.shape.is_depthwise for l in layers) == 16
    assert sum(l.groups == 4 for l in layers) == 32


def test_alexnet_native_input():
    network = load_network("alexnet")
    assert network.input_shape == (1, 3, 224, 224)
    assert [l.params for l in network.layers] == ALEXNET_224_PARAMS
    assert [l.macs for l in network.layers] == ALEXNET_224_MACS
    assert [l.name for l in network.layers][:2] == ["conv1_w_0", "conv2_w_0"]
    assert network.layers[0].weight_source == "constant_of_shape"


def test_input_shape_override_reinfers_downstream():
    network = load_network("alexnet", "1x3x227x227")
    assert [l.macs for l in network.layers] == ALEXNET_227_MACS
    assert network.layers[0].output_shape == (1, 96, 55, 55)


def test_batch_scales_everything_and_batchless_shape_gets_batch_one():
    one = load_network("squeezenet", "3x224x224")
    four = load_network("squeezenet", "4x3x224x224")
    assert one.input_shape == (1, 3, 224, 224)
    assert four.total_macs == 4 * one.total_macs
    assert four.total_params == one.total_params


@pytest.mark.parametrize("name", ["densenet121", "inception_v1", "inception_v2", "zfnet512"])
def test_other_bundled_graphs_import(name):
    network = load_network(name)
    assert network.layers and network.graph.number_of_nodes() == len(network.model.graph.node)
    # every layer's MACs equal output elements times the dot-product length
    for layer in network.layers:
        assert layer.macs == layer.shape.out_elements * layer.shape.reduction


def test_network_graph_traces_residual_structure():
    network = load_network("resnet50")
    g = network.graph
    add_nodes = [n for n, d in g.nodes(data=True) if d["op_type"] in ("Add", "Sum")]
    assert len(add_nodes) == 16              # one residual join per bottleneck block
    assert all(g.in_degree(n) == 2 for n in add_nodes)
