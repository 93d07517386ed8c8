"""Actor, critic and policies of DDPG as specified in Lillicrap et al. (2015), supplementary section 7.

The networks in the order the paper describes them, from the building blocks of ``layers.py`` (init rules, batch norm,
the pixel encoder), and the policy aliases.
"""

from typing import Any, cast

import torch as th
from gymnasium import spaces
from sb3_contrib.common.torch_layers import BatchRenorm1d
from stable_baselines3.common.policies import BaseModel, BasePolicy
from stable_baselines3.common.preprocessing import get_action_dim
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, CombinedExtractor, FlattenExtractor
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule
from stable_baselines3.td3.policies import TD3Policy
from torch import nn
from torch.nn import functional as F

from sb3_ddpg_ext.paper_ddpg.layers import (
    BN_STATISTICS,
    FINAL_LAYER_INIT_LOW_DIM,
    FINAL_LAYER_INIT_PIXELS,
    NORM_LAYERS,
    PaperCNN,
    fan_in_uniform_,
    final_layer_uniform_,
    hidden_layers,
    make_norm_layer,
    norm_layers,
    running_statistics,
    set_bn_statistics,
)

__all__ = [
    "BN_STATISTICS",
    "FINAL_LAYER_INIT_LOW_DIM",
    "FINAL_LAYER_INIT_PIXELS",
    "NORM_LAYERS",
    "Actor",
    "CnnPolicy",
    "Critic",
    "MlpPolicy",
    "MultiInputPolicy",
    "PaperCNN",
    "PaperDDPGPolicy",
    "fan_in_uniform_",
    "final_layer_uniform_",
    "hidden_layers",
    "make_norm_layer",
    "norm_layers",
    "running_statistics",
    "set_bn_statistics",
]


class Actor(BasePolicy):
    """mu(s): [BN] -> 400 ReLU -> 300 ReLU -> action_dim, tanh (section 7).

    With ``batch_norm`` the state input and every hidden layer are batch-normalized (section 3 and 7).

    :param net_arch: hidden layer sizes
    :param batch_norm: batch-normalize the state input and each hidden layer
    :param final_layer_init: bound of the uniform init of the output layer
    :param norm_layer: "batch_norm" (the paper) or "batch_renorm" (sb3-contrib's BatchRenorm1d)
    :param norm_layer_kwargs: keyword arguments of the norm layer (e.g. ``momentum``, ``warmup_steps``)
    :param bias_before_norm: keep the bias of the Linear layers that feed a norm layer (see :func:`hidden_layers`)
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        net_arch: list[int],
        features_extractor: BaseFeaturesExtractor,
        features_dim: int,
        activation_fn: type[nn.Module] = nn.ReLU,
        normalize_images: bool = True,
        batch_norm: bool = True,
        final_layer_init: float = FINAL_LAYER_INIT_LOW_DIM,
        norm_layer: str = "batch_norm",
        norm_layer_kwargs: dict[str, Any] | None = None,
        bias_before_norm: bool = False,
    ) -> None:
        super().__init__(
            observation_space,
            action_space,
            features_extractor=features_extractor,
            normalize_images=normalize_images,
            squash_output=True,
        )
        self.net_arch = net_arch
        self.features_dim = features_dim
        self.activation_fn = activation_fn
        self.batch_norm = batch_norm
        self.final_layer_init = final_layer_init
        self.norm_layer = norm_layer
        self.norm_layer_kwargs = norm_layer_kwargs
        self.bias_before_norm = bias_before_norm

        output = nn.Linear(net_arch[-1] if net_arch else features_dim, get_action_dim(action_space))
        final_layer_uniform_(output, final_layer_init)
        state_bn = [make_norm_layer(norm_layer, features_dim, norm_layer_kwargs)] if batch_norm else []
        hidden = hidden_layers(
            features_dim, net_arch, activation_fn, batch_norm, norm_layer, norm_layer_kwargs, bias_before_norm
        )
        self.mu = nn.Sequential(*state_bn, *hidden, output, nn.Tanh())

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            net_arch=self.net_arch,
            features_dim=self.features_dim,
            activation_fn=self.activation_fn,
            features_extractor=self.features_extractor,
            batch_norm=self.batch_norm,
            final_layer_init=self.final_layer_init,
            norm_layer=self.norm_layer,
            norm_layer_kwargs=self.norm_layer_kwargs,
            bias_before_norm=self.bias_before_norm,
        )
        return data

    def set_bn_statistics(self, statistics: str) -> None:
        """Switch only the norm layers: "train", "running" or "batch" (see :func:`set_bn_statistics`)."""
        set_bn_statistics([m for m in self.mu if isinstance(m, (nn.BatchNorm1d, BatchRenorm1d))], statistics)

    def forward(self, obs: th.Tensor) -> th.Tensor:
        return self.mu(self.extract_features(obs, self.features_extractor))

    def _predict(self, observation: PyTorchObs, deterministic: bool = False) -> th.Tensor:
        # The DDPG actor is deterministic: exploration noise is added by the algorithm.
        return self(observation)


class Critic(BaseModel):
    """Q(s, a): [BN] -> 400 ReLU, then [h1, a] -> 300 ReLU -> 1 (section 7).

    "Actions were not included until the 2nd hidden layer of Q." Batch norm, when on, applies to
    the state input and to the layers before the action input only.

    :param net_arch: hidden layer sizes
    :param action_input_layer: index of the hidden layer whose input the action joins;
        1 is the paper's, 0 puts the action at the input (SB3/TD3 style)
    :param batch_norm: batch-normalize the state input and the layers before the action input
    :param final_layer_init: bound of the uniform init of the output layer
    :param norm_layer: "batch_norm" (the paper) or "batch_renorm" (sb3-contrib's BatchRenorm1d)
    :param norm_layer_kwargs: keyword arguments of the norm layer
    :param bias_before_norm: keep the bias of the Linear layers that feed a norm layer (see :func:`hidden_layers`)
    """

    features_extractor: BaseFeaturesExtractor  # required here, as in SB3's ContinuousCritic (BaseModel: optional)

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        net_arch: list[int],
        features_extractor: BaseFeaturesExtractor,
        features_dim: int,
        activation_fn: type[nn.Module] = nn.ReLU,
        normalize_images: bool = True,
        batch_norm: bool = True,
        final_layer_init: float = FINAL_LAYER_INIT_LOW_DIM,
        action_input_layer: int = 1,
        share_features_extractor: bool = False,
        norm_layer: str = "batch_norm",
        norm_layer_kwargs: dict[str, Any] | None = None,
        bias_before_norm: bool = False,
    ) -> None:
        super().__init__(
            observation_space, action_space, features_extractor=features_extractor, normalize_images=normalize_images
        )
        if not 0 <= action_input_layer <= len(net_arch):
            raise ValueError(
                f"action_input_layer={action_input_layer} is outside the critic's {len(net_arch)} hidden layers: "
                f"use a value from 0 to {len(net_arch)} (the paper uses 1)."
            )
        self.share_features_extractor = share_features_extractor
        self.action_input_layer = action_input_layer
        state_sizes, joint_sizes = net_arch[:action_input_layer], net_arch[action_input_layer:]
        state_dim = state_sizes[-1] if state_sizes else features_dim

        state_bn = (
            [make_norm_layer(norm_layer, features_dim, norm_layer_kwargs)] if batch_norm and action_input_layer > 0 else []
        )
        state_hidden = hidden_layers(
            features_dim, state_sizes, activation_fn, batch_norm, norm_layer, norm_layer_kwargs, bias_before_norm
        )
        self.state_net = nn.Sequential(*state_bn, *state_hidden)
        output = nn.Linear(joint_sizes[-1] if joint_sizes else state_dim + get_action_dim(action_space), 1)
        final_layer_uniform_(output, final_layer_init)
        self.q_net = nn.Sequential(
            *hidden_layers(state_dim + get_action_dim(action_space), joint_sizes, activation_fn, batch_norm=False), output
        )

    def set_bn_statistics(self, statistics: str) -> None:
        """Switch only the norm layers per forward pass, as sb3-contrib's CrossQ does: "train", "running" or "batch"."""
        set_bn_statistics([m for m in self.state_net if isinstance(m, (nn.BatchNorm1d, BatchRenorm1d))], statistics)

    def q1_forward(self, obs: th.Tensor, actions: th.Tensor) -> th.Tensor:
        """Q(s, a) as a (batch, 1) tensor."""
        with th.set_grad_enabled(not self.share_features_extractor):
            features = self.extract_features(obs, self.features_extractor)
        return self.q_net(th.cat([self.state_net(features), actions], dim=1))

    def q_for_policy_gradient(self, obs: th.Tensor, actions: th.Tensor) -> th.Tensor:
        """Q(s, a) for the actor's loss: equal to ``q1_forward``, built for a gradient w.r.t. ``actions`` only.

        The state branch runs without autograd, and the first joint layer is applied as W_s h + W_a a + b instead of
        W [h, a] + b, so the backward pass skips the (batch x 400) gradient of h that the actor does not need.
        """
        with th.no_grad():
            h = self.state_net(self.extract_features(obs, self.features_extractor))
        joint = cast(nn.Linear, self.q_net[0])
        n = h.shape[1]
        z = F.linear(h, joint.weight[:, :n]) + F.linear(actions, joint.weight[:, n:], joint.bias)
        return self.q_net[1:](z)

    def forward(self, obs: th.Tensor, actions: th.Tensor) -> tuple[th.Tensor, ...]:
        # A one-element tuple, as SB3's ContinuousCritic returns for n_critics=1.
        return (self.q1_forward(obs, actions),)


class PaperDDPGPolicy(TD3Policy):
    """Actor, critic and their target networks as in Lillicrap et al. (2015), section 7.

    Optimizer learning rates and the critic's L2 weight decay are set by :class:`PaperDDPG`.

    :param net_arch: hidden sizes, shared by actor and critic (list) or ``dict(pi=[...], qf=[...])``;
        default [400, 300] (low-dim) and [200, 200] after the pixel encoder
    :param batch_norm: batch normalization where the paper puts it (low-dimensional inputs)
    :param final_layer_init: bound of the uniform init of both output layers; default 3e-3 (3e-4 for pixels)
    :param action_input_layer: critic hidden layer the action joins (1 in the paper, 0 = at the input)
    :param critic_batch_norm: batch norm in the critic; None (default) follows ``batch_norm``, as the paper does
        (section 7). ``False`` with ``batch_norm=True`` keeps it in the actor only: a remedy for the critic-BN
        instability on Pendulum-v1 (docs/fidelity.md), not in the paper
    :param norm_layer: "batch_norm" (the paper's BatchNorm1d) or "batch_renorm": sb3-contrib's BatchRenorm1d
        (Ioffe 2017, as in CrossQ) in every normalized position; not in the paper
    :param norm_layer_kwargs: keyword arguments of the norm layer (torch's / sb3-contrib's defaults when None)
    :param bias_before_norm: keep the bias of every Linear layer that feeds a norm layer (False: dropped, as
        batch norm cancels it and rllab deletes it; True: this package's networks before 0.3.0)
    :param optimizer_kwargs: extra optimizer arguments; default ``fused=True`` for Adam (same update, one kernel)
    """

    actor: Actor  # type: ignore[assignment]  # the paper's Actor, not a subclass of TD3's: same forward
    actor_target: Actor  # type: ignore[assignment]  # the paper's Actor, not a subclass of TD3's: same forward
    critic: Critic  # type: ignore[assignment]  # the paper's Critic, not a ContinuousCritic: same forward, q1_forward
    critic_target: Critic  # type: ignore[assignment]  # the paper's Critic, not a ContinuousCritic: same forward, q1_forward

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        lr_schedule: Schedule,
        net_arch: list[int] | dict[str, list[int]] | None = None,
        activation_fn: type[nn.Module] = nn.ReLU,
        features_extractor_class: type[BaseFeaturesExtractor] = FlattenExtractor,
        features_extractor_kwargs: dict[str, Any] | None = None,
        normalize_images: bool = True,
        optimizer_class: type[th.optim.Optimizer] = th.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
        share_features_extractor: bool = False,
        batch_norm: bool = True,
        final_layer_init: float | None = None,
        action_input_layer: int = 1,
        critic_batch_norm: bool | None = None,
        norm_layer: str = "batch_norm",
        norm_layer_kwargs: dict[str, Any] | None = None,
        bias_before_norm: bool = False,
    ) -> None:
        pixels = issubclass(features_extractor_class, PaperCNN)
        if net_arch is None:
            net_arch = [200, 200] if pixels else [400, 300]
        if final_layer_init is None:
            final_layer_init = FINAL_LAYER_INIT_PIXELS if pixels else FINAL_LAYER_INIT_LOW_DIM
        if optimizer_kwargs is None and optimizer_class is th.optim.Adam:
            optimizer_kwargs = {"fused": True}  # ~20% faster updates on CPU than the per-tensor loop (docs/throughput.md)
        self.batch_norm = batch_norm
        self.final_layer_init = final_layer_init
        self.action_input_layer = action_input_layer
        self.critic_batch_norm = critic_batch_norm
        self.norm_layer = norm_layer
        self.norm_layer_kwargs = norm_layer_kwargs
        self.bias_before_norm = bias_before_norm
        self._mode_modules: list[nn.Module] | None = None
        super().__init__(
            observation_space,
            action_space,
            lr_schedule,
            net_arch=net_arch,
            activation_fn=activation_fn,
            features_extractor_class=features_extractor_class,
            features_extractor_kwargs=features_extractor_kwargs,
            normalize_images=normalize_images,
            optimizer_class=optimizer_class,
            optimizer_kwargs=optimizer_kwargs,
            n_critics=1,
            share_features_extractor=share_features_extractor,
        )

    def make_actor(self, features_extractor: BaseFeaturesExtractor | None = None) -> Actor:  # type: ignore[override]  # the paper's Actor (see actor above)
        actor_kwargs = self._update_features_extractor(self.actor_kwargs, features_extractor)
        return Actor(
            **actor_kwargs,
            batch_norm=self.batch_norm,
            final_layer_init=self.final_layer_init,
            norm_layer=self.norm_layer,
            norm_layer_kwargs=self.norm_layer_kwargs,
            bias_before_norm=self.bias_before_norm,
        ).to(self.device)

    def make_critic(self, features_extractor: BaseFeaturesExtractor | None = None) -> Critic:  # type: ignore[override]  # the paper's Critic (see critic above)
        critic_kwargs = self._update_features_extractor(self.critic_kwargs, features_extractor)
        critic_kwargs.pop("n_critics")
        return Critic(
            **critic_kwargs,
            batch_norm=self.batch_norm if self.critic_batch_norm is None else self.critic_batch_norm,
            final_layer_init=self.final_layer_init,
            action_input_layer=self.action_input_layer,
            norm_layer=self.norm_layer,
            norm_layer_kwargs=self.norm_layer_kwargs,
            bias_before_norm=self.bias_before_norm,
        ).to(self.device)

    def set_training_mode(self, mode: bool) -> None:
        """Train (batch statistics) or eval (running statistics) mode for actor and critic; the targets keep the mode
        ``PaperDDPG(bn_stats_for_y=...)`` gave them.

        Same effect as ``nn.Module.train`` on both, without its recursion: SB3 switches modes at every env step.
        """
        if self._mode_modules is None:
            self._mode_modules = [*self.actor.modules(), *self.critic.modules()]
        for module in self._mode_modules:
            module.__dict__["training"] = mode  # a plain attribute; nn.Module.__setattr__ costs ~10 us a call
        self.training = mode

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.pop("n_critics")
        data.update(
            batch_norm=self.batch_norm,
            final_layer_init=self.final_layer_init,
            action_input_layer=self.action_input_layer,
            critic_batch_norm=self.critic_batch_norm,
            norm_layer=self.norm_layer,
            norm_layer_kwargs=self.norm_layer_kwargs,
            bias_before_norm=self.bias_before_norm,
        )
        return data


MlpPolicy = PaperDDPGPolicy


class CnnPolicy(PaperDDPGPolicy):
    """Pixel policy of section 7: :class:`PaperCNN`, then 200-200 fully connected layers, final init 3e-4, no batch norm.

    The paper describes batch norm for the low-dimensional networks only, so it is off here by default. The action
    joins the critic at its 2nd fully connected layer (``action_input_layer=1``), the low-dimensional rule ("not
    included until the 2nd hidden layer of Q") applied to the fully connected part; the paper does not say where it
    joins the pixel critic, only that it is not at the convolutions. ``action_input_layer=0`` puts it at the first
    fully connected layer, next to the 5408 conv features. Kernel sizes and strides are ``PaperCNN`` options, through
    ``features_extractor_kwargs``. The pixel minibatch and replay settings are :meth:`PaperDDPG.pixel_hyperparameters`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("features_extractor_class", PaperCNN)
        kwargs.setdefault("batch_norm", False)
        super().__init__(*args, **kwargs)


class MultiInputPolicy(PaperDDPGPolicy):
    """Paper policy for Dict observations: SB3's CombinedExtractor, then the low-dimensional networks."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("features_extractor_class", CombinedExtractor)
        super().__init__(*args, **kwargs)
