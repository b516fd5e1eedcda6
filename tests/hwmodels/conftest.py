import numpy as np
import pytest

from hwmodels.arch import ConfigArray, HwConfig
from hwmodels.cost import LayerArray
from hwmodels.paper001 import ALEXNET_CONV


@pytest.fixture(scope="session")
def alexnet_layers() -> LayerArray:
    return LayerArray.from_shapes(ALEXNET_CONV)


@pytest.fixture(scope="session")
def smic40() -> HwConfig:
    from codesign.hwconfig import load_hw
    return load_hw("smic40")


def configs(*cfgs: HwConfig) -> ConfigArray:
    return ConfigArray.from_configs(list(cfgs))
