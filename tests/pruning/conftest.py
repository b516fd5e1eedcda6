"""One pretrained model for the tests that prune one: trained once per test session by the
project's own pretraining (pruning.pretrain, cached in the session's $CODESIGN_CACHE, see
tests/conftest.py) and handed out as a fresh copy each time (tests prune it in place)."""
import pytest
import torch

from pruning.data import load_dataset
from pruning.models import build_model
from pruning.pretrain import pretrained as pretrain


@pytest.fixture(scope="session")
def pretrained():
    """pretrained(model, limit, test_limit, epochs, batch_size) -> (dense model, digits data)."""
    datasets = {}

    def make(model="lenet300", limit=600, test_limit=300, epochs=4.0, batch_size=32):
        if (limit, test_limit) not in datasets:
            datasets[limit, test_limit] = load_dataset("digits", limit=limit, test_limit=test_limit)
        data = datasets[limit, test_limit]
        torch.manual_seed(0)
        net = build_model(model, data.input_shape, data.num_classes)
        pretrain(net, model, data, epochs, batch_size=batch_size)
        return net, data

    return make
