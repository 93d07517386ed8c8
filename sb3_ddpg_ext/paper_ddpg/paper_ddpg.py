"""DDPG as specified in Lillicrap et al. (2015), "Continuous control with deep reinforcement learning".

The algorithm, as sb3-contrib's ``tqc.py`` and ``crossq.py``: the class docstring lists every constructor
parameter, and ``train()`` is the paper's Algorithm 1. Around it: the networks (``policies.py``, ``layers.py``),
exploration (``noise.py``), target updates (``targets.py``), the SB3 interface (``base.py``: arguments, schedules,
files; ``checks.py``, ``policy_checks.py``, ``budget.py``, ``save_util.py``, ``loading.py``), the replay buffer
(``buffers.py``) and the update's speed paths (``optim.py``, ``compiled.py``: an option that changes the update goes
into ``_gradient_step`` and, as it takes the gradients, ``optim.AdamStep`` and ``compiled.GraphAdamStep``). The
reference update of ``tests/test_equivalence.py`` covers the options it names only: a new one needs its own test.
"""

import inspect
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.noise import ActionNoise, OrnsteinUhlenbeckActionNoise
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, ReplayBufferSamples, Schedule
from stable_baselines3.td3 import TD3
from torch.nn import functional as F

from sb3_ddpg_ext import __version__ as PACKAGE_VERSION  # version.txt: the code that runs, not an installed copy's
from sb3_ddpg_ext.paper_ddpg.base import PaperDDPGBase
from sb3_ddpg_ext.paper_ddpg.budget import check_learn_budget, check_total_timesteps, warn_no_gradient_step
from sb3_ddpg_ext.paper_ddpg.buffers import check_replay_buffer_memory, ready_to_sample
from sb3_ddpg_ext.paper_ddpg.checks import check_action_noise, check_bn_statistics, check_space_settings, make_env
from sb3_ddpg_ext.paper_ddpg.compiled import CompiledUpdate, check_cpp_compiler
from sb3_ddpg_ext.paper_ddpg.noise import noisy_policy_action, paper_ou_noise, replace_with_uniform, set_ou_sigma
from sb3_ddpg_ext.paper_ddpg.optim import AdamStep, critic_adam, flushed_denormals
from sb3_ddpg_ext.paper_ddpg.policies import (
    Actor,
    CnnPolicy,
    Critic,
    MlpPolicy,
    MultiInputPolicy,
    PaperDDPGPolicy,
)
from sb3_ddpg_ext.paper_ddpg.save_util import VERSION_KEY
from sb3_ddpg_ext.paper_ddpg.targets import SoftTargetUpdate

SelfPaperDDPG = TypeVar("SelfPaperDDPG", bound="PaperDDPG")


class PaperDDPG(PaperDDPGBase):
    """
    Deep Deterministic Policy Gradient with the settings of Lillicrap et al. (2015), section 7.
    Paper: https://arxiv.org/abs/1509.02971

    Differences from SB3's DDPG (a TD3 variant): the action enters the critic at its second hidden layer,
    batch norm, fan-in/final-layer init, separate actor and critic learning rates, L2 on the critic,
    OU exploration noise with dt=1, batch 64, tau 1e-3, and warm-up with the policy plus noise.

    :param policy: the policy ("MlpPolicy", "CnnPolicy", "MultiInputPolicy" or a class)
    :param env: the environment to learn from (a gymnasium id, env or VecEnv)
    :param actor_learning_rate: Adam learning rate of the actor, float or schedule of progress remaining (1e-4)
    :param critic_learning_rate: Adam learning rate of the critic, float or schedule (1e-3)
    :param critic_weight_decay: L2 penalty on the critic weights, as Adam's ``weight_decay`` (1e-2)
    :param critic_l2_on: "weights" (default): the L2 penalty applies to the critic's weight matrices only, the
        output layer's included, not to biases or batch-norm scale/shift, as rllab does; "hidden_weights": the
        weight matrices but the output layer's, as OpenAI baselines does; "all": every critic parameter
    :param target_bn_stats: "average" (default): the target networks' BN running statistics are soft-updated with
        tau like every other target parameter (rllab), so each target is a lagged copy of its network (section 3);
        "copy": copied from the online networks at every update (SB3's TD3)
    :param bn_stats_for_y: statistics the target networks' BN uses to compute y: "batch" (default: the batch of
        next states, running statistics untouched) or "running" (rllab's code). Section 3 keeps the running
        statistics for testing, that is for exploration and evaluation: y is computed in training
    :param bn_stats_for_policy_gradient: statistics the critic's BN uses in the actor-loss pass (dQ/da): "batch"
        (default: the minibatch's, as in the critic's own loss, running statistics untouched) or "running" (rllab
        and CrossQ). Same reading of section 3. ``norm_layer="batch_renorm"`` needs "running" for both
        (BatchRenorm1d updates its statistics whenever it normalizes a batch)
    :param compile_update: run each gradient step as one ``torch.compile(fullgraph=True)`` graph (critic step, actor
        step, target update, Adam inside; ``compiled.py``): False (default, eager), True (Inductor) or "cpp_wrapper"
        (Inductor with its C++ wrapper). Needs a C++ compiler; the first update compiles (about a minute on a 2-core
        machine, docs/throughput.md). Same update as the eager path to rounding (tests/test_equivalence.py)
    :param flush_denormal: flush denormal floats to zero on the CPU during ``learn()`` (``optim.flushed_denormals``;
        the process's mode is restored after). True (default): the critic's L2 decay makes denormals that slowed
        learning 3-6x; False keeps IEEE denormals. Not a setting of the paper: a floating-point mode
    :param buffer_size: replay buffer size (1e6)
    :param learning_starts: steps of uniform random actions before the policy acts (SB3's warm-up).
        The paper's 0: the policy plus noise acts from the first step and updates start once
        ``batch_size`` transitions are stored (with HER, once an episode has also ended).
    :param batch_size: minibatch size (64)
    :param tau: soft target update coefficient (1e-3)
    :param gamma: discount factor (0.99)
    :param train_freq: update the model every ``train_freq`` steps, or ``(n, "episode")`` (1)
    :param gradient_steps: gradient steps after each rollout, -1 for as many as env steps (1)
    :param ou_sigma: sigma of the Ornstein-Uhlenbeck exploration noise; 0 disables it (0.2)
    :param ou_theta: theta of the OU noise (0.15); its time step is dt=1 as in the paper
    :param ou_sigma_final: if set, sigma anneals linearly from ``ou_sigma`` to this value over SB3's training
        progress, as learning-rate schedules do: over a ``learn()`` call; over both calls' steps for a
        ``learn(n, reset_num_timesteps=False)`` that continues one (half-way at its start, after one as long), and over
        the budget for a resumed run (off by default; not in the paper)
    :param action_noise: an explicit action noise; it replaces the OU noise built from ``ou_*``. None (the default)
        means that OU noise, not SB3 DDPG's "no noise": pass ``ou_sigma=0`` for none
    :param actor_action_l2: weight of a penalty on the squared (scaled, [-1, 1]) actions in the actor loss,
        ``actor_action_l2 * mean(mu(s)^2)``. Not in the DDPG paper (0.0, off); Andrychowicz et al. (2017),
        "Hindsight Experience Replay", appendix A, use 1.0 (as OpenAI baselines' HER ``action_l2``:
        the mean of the squared actions scaled to [-1, 1])
    :param random_action_eps: probability that an env's exploratory action is replaced by a uniformly random
        action (after the noise). Not in the DDPG paper (0.0, off); Andrychowicz et al. (2017), appendix A, use 0.3
    :param replay_buffer_class: replay buffer class (SB3's ReplayBuffer / DictReplayBuffer by default;
        ``buffers.Float32ReplayBuffer`` halves the memory of float64 observations, same batches)
    :param replay_buffer_kwargs: keyword arguments for the replay buffer
    :param optimize_memory_usage: SB3's memory-efficient replay buffer
    :param n_steps: n-step returns (1 in the paper)
    :param stats_window_size: window for the rollout logging
    :param tensorboard_log: TensorBoard log folder (None: no TensorBoard)
    :param policy_kwargs: policy keyword arguments, see :class:`PaperDDPGPolicy`
    :param verbose: 0 none, 1 info, 2 debug
    :param seed: seed of the pseudo-random generators
    :param device: "cpu", "cuda" or "auto"
    :param _init_setup_model: build the networks at construction
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": MlpPolicy,
        "CnnPolicy": CnnPolicy,
        "MultiInputPolicy": MultiInputPolicy,
    }
    policy: PaperDDPGPolicy
    action_space: spaces.Box  # check_action_space refuses any other
    actor: Actor  # type: ignore[assignment]  # the paper's Actor, not a subclass of TD3's (see PaperDDPGPolicy)
    actor_target: Actor  # type: ignore[assignment]  # the paper's Actor, not a subclass of TD3's (see PaperDDPGPolicy)
    critic: Critic  # type: ignore[assignment]  # the paper's Critic, not a ContinuousCritic (see PaperDDPGPolicy)
    critic_target: Critic  # type: ignore[assignment]  # the paper's Critic, not a ContinuousCritic (see PaperDDPGPolicy)

    def __init__(
        self,
        policy: str | type[PaperDDPGPolicy],
        env: GymEnv | str | None,
        actor_learning_rate: float | Schedule = 1e-4,
        critic_learning_rate: float | Schedule = 1e-3,
        critic_weight_decay: float = 1e-2,
        critic_l2_on: str = "weights",
        target_bn_stats: str = "average",
        bn_stats_for_y: str = "batch",
        bn_stats_for_policy_gradient: str = "batch",
        compile_update: bool | str = False,
        flush_denormal: bool = True,
        buffer_size: int = 1_000_000,
        learning_starts: int = 0,
        batch_size: int = 64,
        tau: float = 1e-3,
        gamma: float = 0.99,
        train_freq: int | tuple[int, str] = 1,
        gradient_steps: int = 1,
        ou_sigma: float = 0.2,
        ou_theta: float = 0.15,
        ou_sigma_final: float | None = None,
        action_noise: ActionNoise | None = None,
        actor_action_l2: float = 0.0,
        random_action_eps: float = 0.0,
        replay_buffer_class: type[ReplayBuffer] | None = None,
        replay_buffer_kwargs: dict[str, Any] | None = None,
        optimize_memory_usage: bool = False,
        n_steps: int = 1,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: th.device | str = "auto",
        _init_setup_model: bool = True,
    ) -> None:
        arguments = {k: v for k, v in locals().items() if k in self.hyperparameter_defaults()}  # every argument
        hp = self.check_hyperparameters(**arguments)  # as ints (buffer_size=1e5) and floats (np.float32) SB3 can use
        # Each argument is kept as checked (``hp``). Those named as TD3's arguments reach TD3, which keeps and saves
        # them, through the ``hp`` of super().__init__ below: set here only the others, and pass none twice.
        self.critic_learning_rate = hp["critic_learning_rate"]
        self.critic_weight_decay = hp["critic_weight_decay"]
        self.critic_l2_on, self.target_bn_stats = hp["critic_l2_on"], hp["target_bn_stats"]
        self.bn_stats_for_y, self.bn_stats_for_policy_gradient = hp["bn_stats_for_y"], hp["bn_stats_for_policy_gradient"]
        self.compile_update, self.flush_denormal = hp["compile_update"], hp["flush_denormal"]
        if self.compile_update:
            check_cpp_compiler()
        self.ou_sigma, self.ou_theta, self.ou_sigma_final = hp["ou_sigma"], hp["ou_theta"], hp["ou_sigma_final"]
        self.actor_action_l2 = hp["actor_action_l2"]  # HER paper settings, off by default
        self.random_action_eps = hp["random_action_eps"]
        if env is None and _init_setup_model:
            raise ValueError("PaperDDPG: env=None: pass the env to learn from (a gymnasium id, env or VecEnv)")
        env_object = make_env(env) if isinstance(env, str) else env  # an unregistered id: one ValueError naming it
        if env_object is not None:  # SB3 would fail later, in a conv layer or a buffer: say which policy and space
            policy_class = self.policy_aliases.get(policy, policy) if isinstance(policy, str) else policy
            if isinstance(policy_class, type):
                env_name = env if isinstance(env, str) else getattr(getattr(env_object, "spec", None), "id", "this env")
                check_space_settings(policy_class, env_object.observation_space, hp, env_name)
        td3_arguments = inspect.signature(TD3.__init__).parameters
        super().__init__(
            policy,
            env_object,  # type: ignore[arg-type]  # None from load(): TD3's annotation omits it, BaseAlgorithm's has it
            learning_rate=hp["actor_learning_rate"],  # SB3's lr_schedule is the actor's
            policy_delay=1,  # DDPG has none of TD3's delay or target smoothing
            target_policy_noise=0.0,
            target_noise_clip=0.0,
            _init_setup_model=False,
            **{k: v for k, v in hp.items() if k in td3_arguments},  # the others, as checked (buffer_size=1e5 an int)
        )
        if self.action_noise is None and ou_sigma > 0 and env is not None:
            self.action_noise = self.make_ou_noise()
        self._record_env(env)  # its id, and its spec if made otherwise (base.py): saved for sb3-ddpg evaluate
        setattr(self, VERSION_KEY, PACKAGE_VERSION)  # saved with the model: which defaults it was trained with
        self.observation_normalization: dict[str, Any] | None = None  # VecNormalize statistics, set by save()
        if _init_setup_model:
            self._setup_model()

    def make_ou_noise(self) -> OrnsteinUhlenbeckActionNoise:
        """The exploration noise of section 7 from ``ou_sigma`` and ``ou_theta`` (``noise.paper_ou_noise``, dt=1)."""
        return paper_ou_noise(self.action_space.shape, self.ou_sigma, self.ou_theta)

    def _setup_model(self) -> None:
        env_name = getattr(self, "env_id", None) or "this env"
        check_space_settings(self.policy_class, self.observation_space, self.__dict__, env_name)
        check_action_noise(self.action_noise, self.action_space)
        check_replay_buffer_memory(  # before SB3 allocates the buffer
            self.observation_space, self.action_space, self.buffer_size, self.n_envs, self.optimize_memory_usage
        )
        super()._setup_model()
        self.critic.optimizer = self._make_critic_optimizer()
        self._collect_update_tensors()
        check_bn_statistics(self.policy.norm_layer, self.bn_stats_for_y, self.bn_stats_for_policy_gradient)
        self._set_target_bn_statistics()

    def _set_target_bn_statistics(self) -> None:
        """The targets are only used for y: their batch norm uses ``bn_stats_for_y``, and never trains."""
        self.actor_target.set_bn_statistics(self.bn_stats_for_y)
        self.critic_target.set_bn_statistics(self.bn_stats_for_y)

    def _collect_update_tensors(self) -> None:
        """The soft target update (``targets.py``). Call again if the policy's tensors are replaced (``.double()``)."""
        pairs = [(self.actor, self.actor_target), (self.critic, self.critic_target)]
        self._soft_update = SoftTargetUpdate(pairs, self.target_bn_stats)

    def _make_critic_optimizer(self) -> th.optim.Optimizer:
        """Adam on Q with the paper's L2 weight decay, on the parameters ``critic_l2_on`` names (``critic_adam``)."""
        return critic_adam(self.policy, self.critic_l2_on, self.critic_weight_decay, self.critic_lr_schedule(1.0))

    def _on_step(self) -> None:
        if self.ou_sigma_final is not None:
            progress = self._current_progress_remaining
            sigma = self.ou_sigma_final + (self.ou_sigma - self.ou_sigma_final) * progress
            set_ou_sigma(self.action_noise, sigma)
            self.logger.record("rollout/ou_sigma", sigma)

    def actor_action_penalty(self, actions: th.Tensor) -> th.Tensor:
        """Andrychowicz et al. (2017), appendix A: ``actor_action_l2 * mean(a^2)`` over the batch and the action
        dimensions, ``a`` the actor's tanh output in [-1, 1] (OpenAI baselines' ``action_l2``, ``pi / max_u``)."""
        return self.actor_action_l2 * actions.pow(2).mean()

    def _sample_action(
        self, learning_starts: int, action_noise: ActionNoise | None = None, n_envs: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        """The exploratory action mu(s_t) + N_t (``noise.noisy_policy_action``; warm-up, dict observations and SDE take
        SB3's path); with ``random_action_eps`` each env's action is replaced, with that probability, by a uniformly
        random one (``noise.replace_with_uniform``, the HER paper's appendix A).
        """
        if self.num_timesteps < learning_starts or not isinstance(self._last_obs, np.ndarray) or self.use_sde:
            action, buffer_action = super()._sample_action(learning_starts, action_noise, n_envs)
        else:
            action, buffer_action = noisy_policy_action(self, action_noise)
        if self.random_action_eps > 0:
            eps, scale_action = self.random_action_eps, self.policy.scale_action
            return replace_with_uniform(action, buffer_action, self.action_space, eps, scale_action)
        return action, buffer_action

    def _adam_step(self, optimizer: th.optim.Optimizer) -> AdamStep:
        """The one-call Adam step of ``optimizer``, cached while the optimizer object stays the same."""
        steps = self.__dict__.setdefault("_adam_steps", {})
        if id(optimizer) not in steps or steps[id(optimizer)].optimizer is not optimizer:
            steps[id(optimizer)] = AdamStep(optimizer)
        return steps[id(optimizer)]

    def _gradient_step(self, data: ReplayBufferSamples, critic_step: Callable, actor_step: Callable) -> th.Tensor:
        """The inner loop of Algorithm 1 on one minibatch; returns (critic loss, actor loss, mean Q).

        ``critic_step(loss)`` and ``actor_step(loss)`` are Adam steps on that loss (``optim.AdamStep``, or the
        traceable ``compiled.GraphAdamStep`` when the whole step is compiled).
        """
        discounts = data.discounts if data.discounts is not None else self.gamma

        # Set y_i = r_i + gamma * Q'(s_i+1, mu'(s_i+1)); the targets' BN uses ``bn_stats_for_y`` (batch)
        with th.no_grad():
            next_q = self.critic_target.q1_forward(data.next_observations, self.actor_target(data.next_observations))
            y = data.rewards + (1 - data.dones) * discounts * next_q

        # Update the critic by minimizing L = 1/N sum_i (y_i - Q(s_i, a_i))^2 (L2 on its weights via Adam)
        q = self.critic.q1_forward(data.observations, data.actions)
        critic_loss = F.mse_loss(q, y)
        critic_step(critic_loss)

        # Update the actor with the sampled policy gradient: grad of 1/N sum_i Q(s_i, mu(s_i)).
        # The critic's BN uses ``bn_stats_for_policy_gradient`` here (the minibatch's statistics by default) and
        # leaves its running statistics alone, so they move once per step.
        self.critic.set_bn_statistics(self.bn_stats_for_policy_gradient)
        actions_pi = self.actor(data.observations)
        actor_loss = -self.critic.q_for_policy_gradient(data.observations, actions_pi).mean()
        if self.actor_action_l2 > 0:  # not in the DDPG paper: the HER paper's action penalty
            actor_loss = actor_loss + self.actor_action_penalty(actions_pi)
        self.critic.set_bn_statistics("train")
        actor_step(actor_loss)  # gradients for the actor's parameters only, not the critic's

        # Update the target networks: theta' <- tau * theta + (1 - tau) * theta' (BN statistics: ``target_bn_stats``)
        self._soft_update(self.tau)

        return th.stack([critic_loss.detach(), actor_loss.detach(), q.detach().mean()])

    def _compiled_step(self) -> CompiledUpdate:
        """``_gradient_step`` compiled into one graph (``compile_update``), built at the first update."""
        compiled = self.__dict__.get("_compiled_update")
        if compiled is None or compiled.optimizers != (self.critic.optimizer, self.actor.optimizer):
            compiled = CompiledUpdate(
                self._gradient_step,
                self.critic.optimizer,
                self.actor.optimizer,
                cpp_wrapper=self.compile_update == "cpp_wrapper",
            )
            self._compiled_update = compiled
        return compiled

    def train(self, gradient_steps: int, batch_size: int = 64) -> None:
        """Algorithm 1 of the paper, ``gradient_steps`` times."""
        assert self.replay_buffer is not None
        if not ready_to_sample(self.replay_buffer, batch_size, self.n_envs):
            return  # the paper starts updating once a minibatch is available (HER: and an episode has ended)
        self.policy.set_training_mode(True)
        self._set_target_bn_statistics()  # again: torch's policy.eval() or .train() (a user's) would have changed them
        self._update_learning_rate([self.actor.optimizer, self.critic.optimizer])

        critic_step, actor_step = self._adam_step(self.critic.optimizer), self._adam_step(self.actor.optimizer)
        compiled = self._compiled_step() if self.compile_update else None
        stats = []  # (critic loss, actor loss, mean Q) per step, read back once: no device sync per step
        for _ in range(gradient_steps):
            self._n_updates += 1
            # Sample a random minibatch of N transitions (s_i, a_i, r_i, s_i+1) from R
            data = self.replay_buffer.sample(batch_size, env=self._vec_normalize_env)
            if compiled is not None and compiled.ready():  # the same step as one graph (compiled.py)
                stats.append(compiled(data))
            else:
                stats.append(self._gradient_step(data, critic_step, actor_step))

        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        critic_loss_mean, actor_loss_mean, q_mean = th.stack(stats).mean(dim=0).tolist()
        self.logger.record("train/critic_loss", critic_loss_mean)
        self.logger.record("train/actor_loss", actor_loss_mean)
        self.logger.record("train/q_mean", q_mean)

    def learn(
        self: SelfPaperDDPG,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 4,
        tb_log_name: str = "PaperDDPG",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfPaperDDPG:
        """SB3's ``learn``. A run (``reset_num_timesteps=True``) that cannot reach ``learning_starts`` is refused with
        a ValueError before it starts. One that stores fewer transitions than a batch (it can go on in the next call),
        or that ends without a gradient step (an episode-based ``train_freq``), warns with :class:`NoGradientStep`
        (``warnings.simplefilter("error", NoGradientStep)`` makes it an error, as the commands do). A continued run
        (``reset_num_timesteps=False``) is not checked."""
        total_timesteps = check_total_timesteps(total_timesteps)
        if reset_num_timesteps:
            stored = self.replay_buffer.size() * self.n_envs if self.replay_buffer is not None else 0
            check_learn_budget(total_timesteps, self.learning_starts, self.batch_size, self.train_freq, self.n_envs, stored)
        updates = self._n_updates
        with flushed_denormals(self.flush_denormal):
            super().learn(
                total_timesteps=total_timesteps,
                callback=callback,
                log_interval=log_interval,
                tb_log_name=tb_log_name,
                reset_num_timesteps=reset_num_timesteps,
                progress_bar=progress_bar,
            )
        if reset_num_timesteps and self._n_updates == updates and self.num_timesteps >= total_timesteps:
            warn_no_gradient_step(self)
        return self

    def _excluded_save_params(self) -> list[str]:
        derived = ["_adam_steps", "_compiled_update", "_soft_update"]
        return super()._excluded_save_params() + derived
