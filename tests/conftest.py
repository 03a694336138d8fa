import pytest
import torch

import landau_nb as ln


@pytest.fixture(autouse=True)
def _seeded():
    ln.seed_everything(0, threads=2)
    yield


def gen(seed=0):
    """A CPU generator for test data."""
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def cuda_devices():
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
