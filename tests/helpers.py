"""Assertions shared by several test modules (fixtures live in conftest.py)."""

import math

import torch as th
from torch import nn


def linears(module: nn.Module) -> list[nn.Linear]:
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


def assert_uniform(tensor: th.Tensor, bound: float) -> None:
    """U(-bound, bound): inside the bound, reaching it, mean 0, std bound/sqrt(3). Needs >= 64 samples."""
    x = tensor.detach().flatten().double()
    n = x.numel()
    assert n >= 64, "too few samples to tell U(-b, b) from a constant"
    assert x.abs().max() <= bound
    # The largest |x| of n uniform draws falls short of the bound by about bound/n; 64 draws all below bound/2:
    # probability 2^-64. A zero or tiny tensor fails here.
    assert x.abs().max() >= bound * max(0.5, 1 - 20 / n)
    se = bound / math.sqrt(3 * n)
    assert abs(x.mean()) < 5 * se
    assert abs(x.std() - bound / math.sqrt(3)) < 6 * bound / math.sqrt(n)
