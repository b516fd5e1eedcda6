"""The shapes hwmodels tests read from data are what the importer gives today."""
import pytest

from codesign.graph import load_network
from network_shapes import NETWORKS, read_shapes


@pytest.mark.parametrize("network", NETWORKS)
def test_stored_shapes_are_the_importers(network):
    assert read_shapes(network) == list(load_network(network).shapes), (
        "the importer's shapes changed: if meant, rewrite tests/hwmodels/data/network_shapes.csv "
        "with network_shapes.write_shapes")
