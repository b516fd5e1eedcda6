import pytest

from hwmodels.configs import ConfigArray
from hwmodels.paper001 import ALEXNET_CONV
from hwmodels.presets import read_preset
from hwmodels.workload import LayerArray


@pytest.fixture(scope="session")
def alexnet_layers() -> LayerArray:
    return LayerArray.from_shapes(ALEXNET_CONV)


@pytest.fixture(scope="session")
def smic40():
    return read_preset("smic40")


@pytest.fixture(scope="session")
def admmnn():
    return read_preset("smic40-admmnn")


def configs(*specs) -> ConfigArray:
    return ConfigArray.from_specs(list(specs))
