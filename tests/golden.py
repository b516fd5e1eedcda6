"""Reference numbers shared by tests (each with where it comes from)."""

# AlexNet as shipped in the onnx wheel (1x3x224x224), checked by hand from the architecture.
ALEXNET_224_PARAMS = [34_848, 307_200, 884_736, 663_552, 442_368, 37_748_736, 16_777_216, 4_096_000]
ALEXNET_224_MACS = [101_616_768, 207_667_200, 127_401_984, 95_551_488, 63_700_992, 37_748_736,
                    16_777_216, 4_096_000]
# Paper 001 Table 8 (AlexNet, 227x227), halved: one MAC per multiply-add.
ALEXNET_227_MACS = [105_415_200, 223_948_800, 149_520_384, 112_140_288, 74_760_192, 37_748_736,
                    16_777_216, 4_096_000]
