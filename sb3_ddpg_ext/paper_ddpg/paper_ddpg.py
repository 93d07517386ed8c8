"""DDPG as specified in Lillicrap et al. (2015), "Continuous control with deep reinforcement learning".

One module for the algorithm, as sb3-contrib's ``tqc.py`` and ``crossq.py``: the class docstring lists every
constructor parameter, and ``train()`` is the paper's Algorithm 1. Networks live in ``policies.py``; the update's
building blocks that need none of the class's state live in ``optim.py``, ``compiled.py`` and ``buffers.py``.
Why ~650 lines: the class documents ~35 arguments (the paper's, their deviation options, HER's), and its checks of
values, replay memory and saved files act on the class's own state; a split into mixins is the next step.
"""

import inspect
import io
import pathlib
import pickle
import warnings
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, TypeVar, cast

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.noise import ActionNoise, OrnsteinUhlenbeckActionNoise
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.preprocessing import get_action_dim
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, ReplayBufferSamples, Schedule, TrainFreq
from stable_baselines3.common.utils import FloatSchedule, update_learning_rate
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.td3 import TD3
from torch.nn import functional as F

from sb3_ddpg_ext.paper_ddpg.checks import (
    NoGradientStep,
    TooFewForABatch,
    check_action_space,
    check_budget,
    check_hyperparameters,
    check_space_settings,
    check_total_timesteps,
    make_env,
    ou_processes,
)
from sb3_ddpg_ext.paper_ddpg.compiled import CompiledUpdate, check_cpp_compiler
from sb3_ddpg_ext.paper_ddpg.loading import apply_load_overrides, check_load_overrides, replay_buffer_mismatch
from sb3_ddpg_ext.paper_ddpg.optim import AdamStep
from sb3_ddpg_ext.paper_ddpg.policies import (
    Actor,
    CnnPolicy,
    Critic,
    MlpPolicy,
    MultiInputPolicy,
    PaperDDPGPolicy,
    running_statistics,
)
from sb3_ddpg_ext.paper_ddpg.save_util import (
    PACKAGE_VERSION,
    VERSION_KEY,
    atomic_file,
    legacy_message,
    legacy_settings,
    normalization_state,
    read_saved_data,
    zip_path,
)

SelfPaperDDPG = TypeVar("SelfPaperDDPG", bound="PaperDDPG")


def _is_normalized(env: GymEnv) -> bool:
    from stable_baselines3.common.vec_env import unwrap_vec_normalize

    return isinstance(env, VecEnv) and unwrap_vec_normalize(env) is not None


def replay_buffer_nbytes(
    observation_space: spaces.Space, action_space: spaces.Space, buffer_size: int, n_envs: int, optimize_memory_usage: bool
) -> int:
    """Bytes SB3's replay buffer allocates: observations (and next observations unless ``optimize_memory_usage``),
    actions, rewards, dones and timeouts, for ``buffer_size // n_envs`` rows of ``n_envs`` transitions."""
    rows = max(buffer_size // n_envs, 1) * n_envs
    subspaces = observation_space.spaces.values() if isinstance(observation_space, spaces.Dict) else [observation_space]
    obs = sum(int(np.prod(cast(tuple[int, ...], s.shape))) * np.dtype(s.dtype).itemsize for s in subspaces)
    obs_copies = 1 if optimize_memory_usage and not isinstance(observation_space, spaces.Dict) else 2
    action_itemsize = 4 if np.dtype(action_space.dtype) == np.float64 else np.dtype(action_space.dtype).itemsize
    return rows * (obs * obs_copies + get_action_dim(action_space) * action_itemsize + 3 * 4)


def _gib(nbytes: float) -> str:
    return f"{nbytes / 2**30:.1f} GiB"


class PaperDDPG(TD3):
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
    :param critic_l2_on: "weights" (default): the L2 penalty applies to the critic's weight matrices only, not to
        biases or batch-norm scale/shift, as rllab and OpenAI baselines do; "all": every critic parameter
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
    :param buffer_size: replay buffer size (1e6)
    :param learning_starts: steps of uniform random actions before the policy acts (SB3's warm-up).
        The paper's 0: the policy plus noise acts from the first step and updates start once
        ``batch_size`` transitions are stored.
    :param batch_size: minibatch size (64)
    :param tau: soft target update coefficient (1e-3)
    :param gamma: discount factor (0.99)
    :param train_freq: update the model every ``train_freq`` steps, or ``(n, "episode")`` (1)
    :param gradient_steps: gradient steps after each rollout, -1 for as many as env steps (1)
    :param ou_sigma: sigma of the Ornstein-Uhlenbeck exploration noise; 0 disables it (0.2)
    :param ou_theta: theta of the OU noise (0.15); its time step is dt=1 as in the paper
    :param ou_sigma_final: if set, sigma anneals linearly from ``ou_sigma`` to this value over each
        ``learn()`` call (off by default; not in the paper)
    :param action_noise: an explicit action noise; it replaces the OU noise built from ``ou_*``
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
        hp = self.check_hyperparameters(**arguments)  # integral floats (buffer_size=1e5) come back as ints
        buffer_size, learning_starts, batch_size = hp["buffer_size"], hp["learning_starts"], hp["batch_size"]
        gradient_steps, n_steps, train_freq = hp["gradient_steps"], hp["n_steps"], hp["train_freq"]
        stats_window_size = hp["stats_window_size"]
        self.critic_learning_rate = critic_learning_rate
        self.critic_weight_decay = critic_weight_decay
        self.critic_l2_on = critic_l2_on
        self.target_bn_stats = target_bn_stats
        self.bn_stats_for_y = bn_stats_for_y
        self.bn_stats_for_policy_gradient = bn_stats_for_policy_gradient
        self.compile_update = compile_update
        if compile_update:
            check_cpp_compiler()
        self.ou_sigma = ou_sigma
        self.ou_theta = ou_theta
        self.ou_sigma_final = ou_sigma_final
        self.actor_action_l2 = actor_action_l2  # HER paper settings, off by default
        self.random_action_eps = random_action_eps
        env_object = make_env(env) if isinstance(env, str) else env  # an unregistered id: one ValueError naming it
        if env_object is not None:  # SB3 would fail later, in a conv layer or a buffer: say which policy and space
            policy_class = self.policy_aliases.get(policy, policy) if isinstance(policy, str) else policy
            if isinstance(policy_class, type):
                env_name = env if isinstance(env, str) else getattr(getattr(env_object, "spec", None), "id", "this env")
                check_space_settings(policy_class, env_object.observation_space, hp, env_name)
        super().__init__(
            policy,
            env_object,  # type: ignore[arg-type]  # None from load(): TD3's annotation omits it, BaseAlgorithm's has it
            learning_rate=actor_learning_rate,  # SB3's lr_schedule is the actor's
            buffer_size=buffer_size,
            learning_starts=learning_starts,
            batch_size=batch_size,
            tau=tau,
            gamma=gamma,
            train_freq=train_freq,
            gradient_steps=gradient_steps,
            action_noise=action_noise,
            replay_buffer_class=replay_buffer_class,
            replay_buffer_kwargs=replay_buffer_kwargs,
            optimize_memory_usage=optimize_memory_usage,
            n_steps=n_steps,
            policy_delay=1,  # DDPG has none of TD3's delay or target smoothing
            target_policy_noise=0.0,
            target_noise_clip=0.0,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            policy_kwargs=policy_kwargs,
            verbose=verbose,
            seed=seed,
            device=device,
            _init_setup_model=False,
        )
        if self.action_noise is None and ou_sigma > 0 and env is not None:
            self.action_noise = self.make_ou_noise()
        # The gymnasium id of the training env, saved with the model (``sb3-ddpg evaluate`` reads it); None if unknown.
        self.env_id: str | None = env if isinstance(env, str) else self._spec_id()
        setattr(self, VERSION_KEY, PACKAGE_VERSION)  # saved with the model: which defaults it was trained with
        self.observation_normalization: dict[str, Any] | None = None  # VecNormalize statistics, set by save()
        if _init_setup_model:
            self._setup_model()

    # The constructor arguments whose defaults are the paper's section 7 values. Their defaults are the single
    # source of those values: error messages, the tuning study's enqueued paper trial and zoo exports derive from them.
    PAPER_HYPERPARAMETERS: ClassVar[tuple[str, ...]] = (
        "actor_learning_rate",
        "critic_learning_rate",
        "critic_weight_decay",
        "buffer_size",
        "learning_starts",
        "batch_size",
        "tau",
        "gamma",
        "train_freq",
        "gradient_steps",
        "ou_sigma",
        "ou_theta",
    )

    @classmethod
    def hyperparameter_defaults(cls) -> dict[str, Any]:
        """Every constructor argument a config, CLI override or study may set, with its default."""
        parameters = inspect.signature(cls.__init__).parameters
        return {k: p.default for k, p in parameters.items() if k not in ("self", "policy", "env", "_init_setup_model")}

    @classmethod
    def paper_hyperparameters(cls) -> dict[str, Any]:
        """The paper's values (section 7), read from the constructor defaults."""
        defaults = cls.hyperparameter_defaults()
        return {name: defaults[name] for name in cls.PAPER_HYPERPARAMETERS}

    # Pixels, section 7: minibatch 16 and no batch norm (CnnPolicy's default); replay stored as uint8 observations.
    # The paper's 1e6 transitions of 9x64x64 bytes would be 37 GB. 1e5 transitions are 3.7 GB with SB3's
    # optimize_memory_usage (each next observation is the following row, not a second copy), half a 8 GB machine's
    # memory, and 300k simulator steps at action repeat 3: more than any run in docs/results.md, so the buffer never
    # wraps there. SB3 allows optimize_memory_usage only with handle_timeout_termination=False: a time-limit
    # truncation is stored as a terminal transition (no bootstrap), which the low-dimensional default avoids.
    PIXEL_BATCH_SIZE: ClassVar[int] = 16
    PIXEL_BUFFER_SIZE: ClassVar[int] = 100_000

    @classmethod
    def pixel_hyperparameters(cls, buffer_size: int = PIXEL_BUFFER_SIZE) -> dict[str, Any]:
        """The paper's pixel settings (section 7) as constructor arguments, replay size ``buffer_size``.

        ``PaperDDPG("CnnPolicy", make_pixel_env("Pendulum-v1"), **PaperDDPG.pixel_hyperparameters())``.
        """
        return dict(
            batch_size=cls.PIXEL_BATCH_SIZE,
            buffer_size=buffer_size,
            optimize_memory_usage=True,
            replay_buffer_kwargs=dict(handle_timeout_termination=False),
        )

    @classmethod
    def check_hyperparameters(cls, **hp: Any) -> dict[str, Any]:
        """Check the arguments given (any subset of the constructor's) without building anything: one TypeError or
        ValueError per mistake, naming the argument and the fix (``checks.py``). Returns them with integral floats of
        integer arguments as ints. The command line, zoo configs and study specs run it where their values enter."""
        return check_hyperparameters(hp, cls.paper_hyperparameters(), cls.hyperparameter_defaults())

    @staticmethod
    def _wrap_env(env: GymEnv, verbose: int = 0, monitor_wrapper: bool = True) -> VecEnv:
        # SB3 only asserts on the action space; check it first and say how to fix it (also on set_env).
        check_action_space(env.action_space)
        return TD3._wrap_env(env, verbose, monitor_wrapper)

    def make_ou_noise(self) -> OrnsteinUhlenbeckActionNoise:
        """Exploration noise, section 7: OU with theta 0.15, sigma 0.2 and dt=1 (rllab's update rule).

        SB3's default dt=1e-2 would give a correlation time of ~667 steps instead of ~7.
        """
        action_dim = int(np.prod(self.action_space.shape))
        return OrnsteinUhlenbeckActionNoise(
            mean=np.zeros(action_dim), sigma=self.ou_sigma * np.ones(action_dim), theta=self.ou_theta, dt=1.0
        )

    def _setup_lr_schedule(self) -> None:
        self.lr_schedule = FloatSchedule(self.learning_rate)
        self.critic_lr_schedule = FloatSchedule(self.critic_learning_rate)

    def _setup_model(self) -> None:
        env_name = getattr(self, "env_id", None) or "this env"
        check_space_settings(self.policy_class, self.observation_space, self.__dict__, env_name)
        self._check_replay_buffer_memory()  # before SB3 allocates the buffer
        super()._setup_model()
        self.critic.optimizer = self._make_critic_optimizer()
        self._collect_update_tensors()
        batch_stats = [n for n in ("bn_stats_for_y", "bn_stats_for_policy_gradient") if getattr(self, n) == "batch"]
        if batch_stats and self.policy.norm_layer != "batch_norm":
            fix = ", ".join(f"{name}='running'" for name in batch_stats)
            raise ValueError(
                f"PaperDDPG: norm_layer={self.policy.norm_layer!r} normalizes with running statistics only; pass {fix} with it"
            )
        # The targets are only ever used for y: their BN mode is set once (they never train).
        self.actor_target.set_bn_statistics(self.bn_stats_for_y)
        self.critic_target.set_bn_statistics(self.bn_stats_for_y)

    def _check_replay_buffer_memory(self) -> None:
        """Refuse a replay buffer larger than the free memory, with the estimate and the fix, before allocating it."""
        import psutil

        nbytes = replay_buffer_nbytes(
            self.observation_space, self.action_space, self.buffer_size, self.n_envs, self.optimize_memory_usage
        )
        available = psutil.virtual_memory().available
        if nbytes <= available:
            return
        fits = max(int(self.buffer_size * available / nbytes / 2), 1)  # half the free memory: nets and envs need some
        fits = int(float(f"{fits:.1g}"))  # one significant digit
        halve = (
            ""
            if self.optimize_memory_usage or isinstance(self.observation_space, spaces.Dict)
            else (
                ", or optimize_memory_usage=True with replay_buffer_kwargs=dict(handle_timeout_termination=False) "
                "(one copy of the observations instead of two)"
            )
        )
        raise MemoryError(
            f"PaperDDPG: a replay buffer of buffer_size={self.buffer_size} needs {_gib(nbytes)} but {_gib(available)} "
            f"is available: lower buffer_size (e.g. buffer_size={fits}){halve}"
        )

    def _spec_id(self) -> str | None:
        try:
            spec = self.env.get_attr("spec", [0])[0] if self.env is not None else None
        except AttributeError:
            return None
        return getattr(spec, "id", None)

    read_saved_data = staticmethod(read_saved_data)

    def save(
        self,
        path: str | pathlib.Path | io.BufferedIOBase,
        exclude: Iterable[str] | None = None,
        include: Iterable[str] | None = None,
    ) -> None:
        """SB3's ``save``, atomic for a path: a kill or a full disk mid-save leaves the previous file, not a truncated one.

        The observation statistics of the env's VecNormalize (where there is one) are saved with the model
        (``observation_normalization``): ``sb3-ddpg evaluate`` normalizes with them when vecnormalize.pkl is missing.
        """
        if self.get_vec_normalize_env() is not None:  # else keep what a loaded model brought
            self.observation_normalization = normalization_state(self.get_vec_normalize_env())
        if isinstance(path, io.BufferedIOBase):
            return super().save(path, exclude, include)
        with atomic_file(zip_path(path)) as tmp:
            super().save(tmp, exclude, include)

    def save_replay_buffer(self, path: str | pathlib.Path | io.BufferedIOBase) -> None:
        """SB3's ``save_replay_buffer``, atomic for a path (``.pkl`` appended when the name has no suffix)."""
        if isinstance(path, io.BufferedIOBase):
            return super().save_replay_buffer(path)
        final = pathlib.Path(path) if pathlib.Path(path).suffix else pathlib.Path(f"{path}.pkl")
        with atomic_file(final) as tmp:
            super().save_replay_buffer(tmp)

    @classmethod
    def load(
        cls: type[SelfPaperDDPG],
        path: str | pathlib.Path | io.BufferedIOBase,
        env: GymEnv | None = None,
        device: th.device | str = "auto",
        custom_objects: dict[str, Any] | None = None,
        print_system_info: bool = False,
        force_reset: bool = True,
        **kwargs: Any,
    ) -> SelfPaperDDPG:
        """SB3's ``load``, after checking that the file holds a PaperDDPG (not another algorithm's model) and that
        ``env`` has the spaces the model was trained on. Each mistake raises one ValueError naming it.

        Values given in ``custom_objects`` or as keywords take effect or are refused: they are checked as the
        constructor checks them, PaperDDPG's names are accepted (``actor_learning_rate``), and what the constructor
        derives from them (the OU noise, the critic's weight decay, the optimizers' learning rates) follows."""
        custom_objects = dict(custom_objects or {})
        data = cls.read_saved_data(path, custom_objects)
        policy_class = data.get("policy_class")
        if not isinstance(policy_class, type) or not issubclass(policy_class, PaperDDPGPolicy):
            name = getattr(policy_class, "__qualname__", None)
            held = f"a {policy_class.__module__}.{name} policy" if name else "no PaperDDPG policy"
            raise ValueError(
                f"{path} was not saved by PaperDDPG: it holds {held}; load it with the algorithm that saved it "
                "(e.g. stable_baselines3.DDPG, TD3 or SAC)"
            )
        if env is not None:
            for kind, saved, given in (
                ("observation", data.get("observation_space"), env.observation_space),
                ("action", data.get("action_space"), env.action_space),
            ):
                if saved is not None and saved != given:
                    shapes = (getattr(saved, "shape", saved), getattr(given, "shape", given))
                    what = "shape" if shapes[0] != shapes[1] else "space"
                    env_id = data.get("env_id") or "its training env"
                    raise ValueError(
                        f"the model was trained on {env_id} with {kind} {what} {shapes[0] if what == 'shape' else saved}, "
                        f"but this env has {shapes[1] if what == 'shape' else given}"
                    )
        paper, defaults = cls.paper_hyperparameters(), cls.hyperparameter_defaults()
        overrides = check_load_overrides(data, custom_objects, kwargs, paper, defaults)
        # Files of earlier versions load with the settings they were trained with (save_util.LEGACY_DEFAULTS).
        attributes, policy_kwargs = legacy_settings(data)
        for name, value in attributes.items():
            kwargs.setdefault(name, value)
        if policy_kwargs:
            custom_objects["policy_kwargs"] = {**policy_kwargs, **(data.get("policy_kwargs") or {})}
        if attributes or policy_kwargs:
            warnings.warn(legacy_message(data, attributes, policy_kwargs), stacklevel=2)
        if data.get("observation_normalization") and env is not None and not _is_normalized(env):
            warnings.warn(
                f"PaperDDPG: {path} was trained on normalized observations (VecNormalize) and this env is not "
                "normalized: its actions would be wrong. Wrap it: env = sb3_ddpg_ext.run.saved_normalization(env, path)",
                stacklevel=2,
            )
        model = super().load(path, env, device, custom_objects, print_system_info, force_reset, **kwargs)
        apply_load_overrides(model, overrides)
        return model

    def load_replay_buffer(self, path: str | pathlib.Path | io.BufferedIOBase, truncate_last_traj: bool = True) -> None:
        """SB3's ``load_replay_buffer``; a file that holds no replay buffer, or one of another env (spaces or number
        of envs), is refused with one ValueError and the model keeps its buffer."""
        previous = self.replay_buffer
        try:
            super().load_replay_buffer(path, truncate_last_traj)
            error = ""
        except (pickle.UnpicklingError, EOFError, AssertionError, AttributeError, ImportError, IndexError) as e:
            error = f"it cannot be read as a replay buffer ({str(e).splitlines()[0]})"
        buffer = self.replay_buffer if self.replay_buffer is not previous else None  # what SB3 put in its place
        mismatch = buffer is not None and replay_buffer_mismatch(
            buffer, self.observation_space, self.action_space, self.n_envs
        )
        problem = mismatch or error
        if problem:
            self.replay_buffer = previous
            raise ValueError(f"PaperDDPG.load_replay_buffer: {path}: {problem}")

    def _collect_update_tensors(self) -> None:
        """Tensor lists for the one-call soft update. Call again if the policy's buffers are replaced (``.double()``)."""
        self._online_params: list[th.Tensor] = [*self.actor.parameters(), *self.critic.parameters()]
        self._target_params: list[th.Tensor] = [*self.actor_target.parameters(), *self.critic_target.parameters()]
        self._online_bn_stats = [*running_statistics(self.actor), *running_statistics(self.critic)]
        self._target_bn_stats = [*running_statistics(self.actor_target), *running_statistics(self.critic_target)]
        if self.target_bn_stats == "average":  # soft-updated in the same call as the weights
            self._online_params += self._online_bn_stats
            self._target_params += self._target_bn_stats

    def _make_critic_optimizer(self) -> th.optim.Optimizer:
        """Adam on Q with the paper's L2 weight decay (section 7; Adam's ``weight_decay`` adds it to the gradient).

        "weights": two parameter groups, the weight matrices (Linear, Conv) decayed and the biases and BN scale/shift
        not, as rllab (``regularizable=True``) and OpenAI baselines do; "all": one group, every parameter decayed.
        """
        params = [p for group in self.critic.optimizer.param_groups for p in group["params"]]  # TD3Policy's choice
        if self.critic_l2_on == "weights":
            groups = [
                {"params": [p for p in params if p.dim() > 1], "weight_decay": self.critic_weight_decay},
                {"params": [p for p in params if p.dim() <= 1], "weight_decay": 0.0},
            ]
        else:
            groups = [{"params": params, "weight_decay": self.critic_weight_decay}]
        return self.policy.optimizer_class(groups, lr=self.critic_lr_schedule(1.0), **self.policy.optimizer_kwargs)  # type: ignore[call-arg]  # type[Optimizer] has no lr; SB3 ignores it too

    def _update_learning_rate(self, optimizers: list[th.optim.Optimizer] | th.optim.Optimizer) -> None:
        # TD3 sets one schedule on both optimizers; the paper has one learning rate per network.
        actor_lr = self.lr_schedule(self._current_progress_remaining)
        critic_lr = self.critic_lr_schedule(self._current_progress_remaining)
        update_learning_rate(self.actor.optimizer, actor_lr)
        update_learning_rate(self.critic.optimizer, critic_lr)
        self.logger.record("train/actor_learning_rate", actor_lr)
        self.logger.record("train/critic_learning_rate", critic_lr)

    def _on_step(self) -> None:
        if self.ou_sigma_final is not None:
            progress = self._current_progress_remaining
            sigma = self.ou_sigma_final + (self.ou_sigma - self.ou_sigma_final) * progress
            for noise in ou_processes(self.action_noise):
                noise._sigma = np.full_like(noise._sigma, sigma)  # SB3's OU noise has no sigma setter
            self.logger.record("rollout/ou_sigma", sigma)

    def actor_action_penalty(self, actions: th.Tensor) -> th.Tensor:
        """Andrychowicz et al. (2017), appendix A: ``actor_action_l2 * mean(a^2)`` over the batch and the action
        dimensions, ``a`` the actor's tanh output in [-1, 1] (OpenAI baselines' ``action_l2``, ``pi / max_u``)."""
        return self.actor_action_l2 * actions.pow(2).mean()

    def _sample_action(
        self, learning_starts: int, action_noise: ActionNoise | None = None, n_envs: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        """The exploratory action mu(s_t) + N_t (``_noisy_policy_action``); with ``random_action_eps`` each env's action
        is replaced, with that probability, by a uniformly random one (Andrychowicz et al. 2017, appendix A: epsilon 0.3,
        OpenAI baselines' ``random_eps``).
        """
        action, buffer_action = self._noisy_policy_action(learning_starts, action_noise, n_envs)
        if self.random_action_eps > 0 and isinstance(self.action_space, spaces.Box):
            replace = np.random.random(n_envs) < self.random_action_eps
            if replace.any():
                uniform = np.array([self.action_space.sample() for _ in range(n_envs)])
                action, buffer_action = action.copy(), buffer_action.copy()
                action[replace] = uniform[replace]
                buffer_action[replace] = self.policy.scale_action(uniform)[replace]
        return action, buffer_action

    def _noisy_policy_action(
        self, learning_starts: int, action_noise: ActionNoise | None, n_envs: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """mu(s_t) + N_t, the same actions as SB3's ``predict`` path, in one tensor conversion and one actor call.

        SB3 goes through ``predict`` (mode switch, observation checks and reshapes, ``no_grad``); here the actor runs
        under ``inference_mode`` and the rest stays in numpy, with SB3's own scale/unscale and clip, in SB3's order.
        Warm-up, dict observations and SDE take SB3's path.
        """
        if self.num_timesteps < learning_starts or not isinstance(self._last_obs, np.ndarray) or self.use_sde:
            return super()._sample_action(learning_starts, action_noise, n_envs)
        policy = self.policy
        if policy.training:  # collect_rollouts has already switched to eval mode: this is predict's switch
            policy.set_training_mode(False)
        with th.inference_mode():
            mu = self.actor(th.as_tensor(self._last_obs, device=self.device)).cpu().numpy()
        scaled_action = policy.scale_action(policy.unscale_action(mu.reshape((-1, *self.action_space.shape))))
        if action_noise is not None:
            scaled_action = np.clip(scaled_action + action_noise(), -1, 1)
        return policy.unscale_action(scaled_action), scaled_action

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

        # Update the target networks: theta' <- tau * theta + (1 - tau) * theta', BN running statistics included
        # ("average"). The integer batch counters are left alone: a target never normalizes in train mode.
        with th.no_grad():
            th._foreach_lerp_(self._target_params, self._online_params, self.tau)
            if self.target_bn_stats == "copy" and self._online_bn_stats:
                th._foreach_copy_(self._target_bn_stats, self._online_bn_stats)

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
        if self.replay_buffer.size() * self.n_envs < batch_size:
            return  # the paper starts updating once a minibatch is available
        self.policy.set_training_mode(True)
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
            try:
                check_budget(total_timesteps, self.learning_starts, self.batch_size, self.train_freq, self.n_envs, stored)
            except TooFewForABatch as e:
                warnings.warn(f"PaperDDPG.learn: {e}", NoGradientStep, stacklevel=2)
            except ValueError as e:
                raise ValueError(f"PaperDDPG.learn: {e}") from None
        updates = self._n_updates
        super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )
        if reset_num_timesteps and self._n_updates == updates and self.num_timesteps >= total_timesteps:
            train_freq = cast(TrainFreq, self.train_freq)  # SB3's _convert_train_freq made it one at setup
            frequency, unit = train_freq.frequency, train_freq.unit.value
            if unit == "episode":  # a step-based train_freq was warned about at the start
                warnings.warn(
                    f"PaperDDPG.learn: no gradient step in {self.num_timesteps} steps (train_freq={frequency} {unit}(s), "
                    f"learning_starts={self.learning_starts}, batch_size={self.batch_size}): updates start after "
                    "learning_starts steps, once batch_size transitions are stored; train longer or lower them",
                    NoGradientStep,
                    stacklevel=2,
                )
        return self

    def _excluded_save_params(self) -> list[str]:
        derived = [
            "_adam_steps",
            "_compiled_update",
            "_online_params",
            "_target_params",
            "_online_bn_stats",
            "_target_bn_stats",
        ]
        return super()._excluded_save_params() + derived
