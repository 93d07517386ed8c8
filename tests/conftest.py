import pytest
import torch as th


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Two tests run at once on a 2-core CI machine: one thread each avoids oversubscription."""
    th.set_num_threads(1)
