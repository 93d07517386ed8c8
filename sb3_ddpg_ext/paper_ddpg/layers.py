"""The paper's building blocks (Lillicrap et al. 2015, sections 3 and 7): the init rules, the normalization layers and
their per-pass statistics, the Linear -> BN -> ReLU stacks, and the pixel encoder. ``policies.py`` assembles them into
the actor, the critic and the policies.
"""

import math
from typing import Any

import torch as th
from gymnasium import spaces
from sb3_contrib.common.torch_layers import BatchRenorm1d
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

# Paper, section 7: final-layer init bound for low-dimensional and for pixel inputs.
FINAL_LAYER_INIT_LOW_DIM = 3e-3
FINAL_LAYER_INIT_PIXELS = 3e-4


def fan_in_uniform_(layer: nn.Linear | nn.Conv2d) -> None:
    """Hidden layers, section 7: weights and biases ~ U(-1/sqrt(f), 1/sqrt(f)), f the layer's fan-in.

    For the critic's second layer the fan-in counts the action inputs (400 + action_dim). A layer without a bias
    (one that feeds batch norm, see :func:`hidden_layers`) gets its weights only.
    """
    fan_in = layer.weight[0].numel()
    bound = 1.0 / math.sqrt(fan_in)
    nn.init.uniform_(layer.weight, -bound, bound)
    if layer.bias is not None:
        nn.init.uniform_(layer.bias, -bound, bound)


def final_layer_uniform_(layer: nn.Linear, bound: float) -> None:
    """Final layers, section 7: weights *and* biases ~ U(-bound, bound), bound 3e-3 (3e-4 for pixels)."""
    nn.init.uniform_(layer.weight, -bound, bound)
    nn.init.uniform_(layer.bias, -bound, bound)


# Normalization layers: torch's BatchNorm1d (the paper's batch norm, Ioffe & Szegedy 2015) or sb3-contrib's
# BatchRenorm1d (Ioffe 2017), the layer CrossQ uses to close the gap between batch and running statistics.
NORM_LAYERS: dict[str, type[nn.Module]] = {"batch_norm": nn.BatchNorm1d, "batch_renorm": BatchRenorm1d}
BN_STATISTICS = ("running", "batch")


def make_norm_layer(norm_layer: str, num_features: int, norm_layer_kwargs: dict[str, Any] | None) -> nn.Module:
    if norm_layer not in NORM_LAYERS:
        raise ValueError(f"norm_layer={norm_layer!r} must be one of {sorted(NORM_LAYERS)} (the paper uses 'batch_norm')")
    return NORM_LAYERS[norm_layer](num_features, **(norm_layer_kwargs or {}))


def norm_layers(module: nn.Module) -> list[nn.Module]:
    """The batch-norm (or batch-renorm) layers inside ``module``."""
    return [m for m in module.modules() if isinstance(m, (nn.BatchNorm1d, BatchRenorm1d))]


def running_statistics(module: nn.Module) -> list[th.Tensor]:
    """The float running statistics of the norm layers (mean and variance; not the integer batch counters)."""
    return [b for m in norm_layers(module) for b in m.buffers() if b.is_floating_point()]


def set_bn_statistics(norms: list[nn.Module], statistics: str) -> None:
    """Which statistics the norm layers use in the next forward passes.

    "train": batch statistics, running statistics updated (a training pass); "running": running statistics (eval
    mode); "batch": the batch's own statistics, running statistics left untouched (torch's
    ``track_running_stats=False`` in train mode; BatchNorm1d only). Set through ``__dict__``: it runs at every update.
    """
    for m in norms:
        m.__dict__["training"] = statistics != "running"
        if isinstance(m, nn.BatchNorm1d):
            m.__dict__["track_running_stats"] = statistics != "batch"
        elif statistics == "batch":
            raise ValueError("batch statistics without a running-statistics update need BatchNorm1d, not BatchRenorm1d")


def hidden_layers(
    in_dim: int,
    sizes: list[int],
    activation_fn: type[nn.Module],
    batch_norm: bool,
    norm_layer: str = "batch_norm",
    norm_layer_kwargs: dict[str, Any] | None = None,
    bias_before_norm: bool = False,
) -> list[nn.Module]:
    """Linear -> [norm layer] -> activation, for each hidden size, with the paper's fan-in init.

    A Linear layer that feeds a norm layer has no bias unless ``bias_before_norm``: batch norm subtracts the batch
    mean, which cancels any bias (Ioffe & Szegedy 2015, section 3.2, which the paper's section 3 applies), and
    rllab's ``batch_norm()`` deletes it (``rllab/core/lasagne_layers.py``). Kept, its true gradient is zero in a
    batch-statistics pass, yet Adam turns float32 rounding into a random walk that shifts the running-statistics
    path used to act and to evaluate.
    """
    layers: list[nn.Module] = []
    for size in sizes:
        linear = nn.Linear(in_dim, size, bias=bias_before_norm or not batch_norm)
        fan_in_uniform_(linear)
        layers += [linear, make_norm_layer(norm_layer, size, norm_layer_kwargs)] if batch_norm else [linear]
        layers.append(activation_fn())
        in_dim = size
    return layers


class PaperCNN(BaseFeaturesExtractor):
    """Pixel encoder, section 7: 3 convolutional layers of 32 filters, no pooling, ReLU, fan-in init.

    The input arrives scaled to [0, 1]: SB3's ``preprocess_obs`` divides uint8 image observations by 255 before
    ``forward`` (``normalize_images=True``). The paper gives neither kernel sizes nor strides; the defaults, 3x3 kernels
    with strides 2, 2, 1, map a 64x64 frame to 32x13x13 = 5408 features (the 2-1 stride pattern of the DQN encoder
    at the paper's 3 layers, small kernels for 64x64 rather than Atari's 84x84).

    :param kernel_sizes: kernel size of each conv layer (3, 3, 3); not in the paper
    :param strides: stride of each conv layer (2, 2, 1); not in the paper
    :param n_filters: filters per conv layer (32, the paper's)
    """

    def __init__(
        self,
        observation_space: spaces.Box,
        features_dim: int = 0,
        normalize_images: bool = True,
        kernel_sizes: tuple[int, ...] = (3, 3, 3),
        strides: tuple[int, ...] = (2, 2, 1),
        n_filters: int = 32,
    ) -> None:
        if len(kernel_sizes) != len(strides):
            raise ValueError(f"PaperCNN: {len(kernel_sizes)} kernel_sizes but {len(strides)} strides; give one per layer")
        layers: list[nn.Module] = []
        c_in = observation_space.shape[0]
        for kernel_size, stride in zip(kernel_sizes, strides, strict=True):
            conv = nn.Conv2d(c_in, n_filters, kernel_size=kernel_size, stride=stride)
            fan_in_uniform_(conv)
            layers += [conv, nn.ReLU()]
            c_in = n_filters
        cnn = nn.Sequential(*layers, nn.Flatten())
        with th.no_grad():
            n_flatten = cnn(th.as_tensor(observation_space.sample()[None]).float()).shape[1]
        super().__init__(observation_space, n_flatten)
        self.cnn = cnn

    def forward(self, observations: th.Tensor) -> th.Tensor:
        return self.cnn(observations)
