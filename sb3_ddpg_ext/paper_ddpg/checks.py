"""PaperDDPG's checks of its arguments: one clear error per mistake, raised before anything is built.

``check_hyperparameters`` checks the values alone (types, ranges, choices, and options that would have no effect
together); the glue runs it on ``-p`` values, zoo configs and study specs before it makes any env. The other checks
need the env, the replay buffer or the budget of a ``learn()`` call. Every error is a ValueError or TypeError whose
message names the argument and the fix; none comes from deep inside SB3 or torch.
"""

import difflib
import inspect
import math
import numbers
import os
from collections.abc import Callable
from typing import Any, cast

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from stable_baselines3 import HerReplayBuffer
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.noise import (
    ActionNoise,
    NormalActionNoise,
    OrnsteinUhlenbeckActionNoise,
    VectorizedActionNoise,
)
from stable_baselines3.common.preprocessing import is_image_space

from sb3_ddpg_ext.paper_ddpg.budget import NoGradientStep  # noqa: F401  # its public home before 0.5.2
from sb3_ddpg_ext.paper_ddpg.policies import BN_STATISTICS, CnnPolicy, MlpPolicy, MultiInputPolicy, PaperDDPGPolicy
from sb3_ddpg_ext.paper_ddpg.policy_checks import check_policy_keys, check_policy_kwargs

INTEGERS = ("buffer_size", "learning_starts", "batch_size", "gradient_steps", "n_steps", "stats_window_size")
SCHEDULABLE = ("actor_learning_rate", "critic_learning_rate")
NUMBERS = (
    *SCHEDULABLE,
    "critic_weight_decay",
    "tau",
    "gamma",
    "ou_sigma",
    "ou_theta",
    "ou_sigma_final",
    "actor_action_l2",
    "random_action_eps",
    *INTEGERS,
)
CHOICES: dict[str, tuple[Any, ...]] = {
    "critic_l2_on": ("weights", "hidden_weights", "all"),
    "target_bn_stats": ("average", "copy"),
    "bn_stats_for_y": BN_STATISTICS,
    "bn_stats_for_policy_gradient": BN_STATISTICS,
    "compile_update": (False, True, "cpp_wrapper"),
    "flush_denormal": (True, False),
    "optimize_memory_usage": (False, True),
}
OPTIONAL_NUMBERS = ("ou_sigma_final",)  # None: off
# The arguments checked by their own function below (types, objects, forms): with NUMBERS and CHOICES, every one of
# PaperDDPG's arguments (tests/test_api_errors.py checks that a new argument lands in one of them).
OBJECTS = (
    "action_noise",
    "device",
    "policy_kwargs",
    "replay_buffer_class",
    "replay_buffer_kwargs",
    "seed",
    "tensorboard_log",
    "train_freq",
    "verbose",
)
HER_STRATEGIES = ("future", "final", "episode")
NO_STEP = "makes no gradient step: use 1 (the paper's: one per env step) or -1 (as many as the env steps of a rollout)"
# Env id prefixes registered by gymnasium-robotics (the ``robotics`` extra), e.g. FetchPush-v4.
ROBOTICS_PREFIXES = ("Fetch", "HandManipulate", "HandReach", "AdroitHand", "PointMaze", "AntMaze", "FrankaKitchen")
GOAL_KEYS = ("observation", "achieved_goal", "desired_goal")


def check_action_space(action_space: spaces.Space) -> None:
    """DDPG needs a bounded continuous action space: the tanh actor output is scaled to [low, high]."""
    if not isinstance(action_space, spaces.Box):
        raise ValueError(
            f"PaperDDPG needs a continuous gymnasium.spaces.Box action space, got {action_space}. "
            "DDPG's actor outputs real-valued actions: use DQN or PPO for discrete actions."
        )
    with np.errstate(over="ignore"):  # a range wider than the dtype holds (+-3e38 in float32) overflows to inf
        finite = np.all(np.isfinite(action_space.low)) and np.all(np.isfinite(action_space.high - action_space.low))
    if not finite:
        raise ValueError(
            f"PaperDDPG needs finite action bounds whose range is finite, got low={action_space.low}, "
            f"high={action_space.high}. The tanh actor output is scaled to [low, high]: give the env an action space "
            "with the bounds its actions really have (a gymnasium.ActionWrapper that sets action_space and clips to "
            "it; gymnasium's ClipAction makes the bounds infinite)"
        )


def _initial_value(value: Any) -> float:
    return float(value(1.0)) if callable(value) else float(value)


def _number(name: str, value: Any) -> Any:
    """``value`` checked as a finite number (a schedule for the learning rates); returned as a Python int for integer
    arguments (``1e5`` is one) and as a Python number for the others (``np.float32(1e-3)`` a float: SB3 needs it)."""
    if value is None and name in OPTIONAL_NUMBERS:
        return value
    if name in SCHEDULABLE and callable(value):
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        expected = "a number or a schedule" if name in SCHEDULABLE else ("an integer" if name in INTEGERS else "a number")
        raise TypeError(f"PaperDDPG: {name}={value!r} must be {expected}, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"PaperDDPG: {name}={value} must be a finite number")
    if name in INTEGERS:
        if not float(value).is_integer():
            raise TypeError(f"PaperDDPG: {name}={value!r} must be an integer")
        return int(float(value))
    return value if type(value) in (int, float) else float(value)  # numpy's numbers as Python's


def check_device(device: Any) -> None:
    """A torch device that exists on this machine ("auto", "cpu", "cuda", "cuda:1", a ``torch.device``)."""
    import torch as th

    if isinstance(device, str) and device == "auto":
        return
    try:
        parsed = th.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"PaperDDPG: device={device!r} is not a torch device: use 'auto', 'cpu' or 'cuda'") from None
    if parsed.type == "cuda" and not th.cuda.is_available():
        raise ValueError(f"PaperDDPG: device={device!r}: CUDA is not available on this machine; use 'cpu' (or 'auto')")
    if parsed.type == "meta":
        raise ValueError(f"PaperDDPG: device={device!r} holds no data: use 'cpu' (or 'auto')")
    if parsed.type != "cpu":  # mps, xpu, hpu, a CUDA index this machine lacks: torch says why at the first tensor
        try:
            th.empty(0, device=parsed)
        except Exception as e:  # RuntimeError, AssertionError, ModuleNotFoundError (torch.hpu), ...
            reason = (str(e).strip().splitlines() or [type(e).__name__])[0].split(". ")[0][:100]  # torch's can be long
            raise ValueError(f"PaperDDPG: device={device!r} cannot be used here ({reason}); use 'cpu' (or 'auto')") from None


def _seed(value: Any) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Real) or not float(value).is_integer()):
        raise TypeError(f"PaperDDPG: seed={value!r} must be an integer or None")
    if value is not None and not 0 <= float(value) < 2**32:
        raise ValueError(f"PaperDDPG: seed={value} must be in [0, 2**32) (numpy's seeds)")
    return None if value is None else int(float(value))


def _train_freq(value: Any) -> int | tuple[int, str]:
    """``train_freq``: an integer >= 1 (env steps), or ``(n, "step")`` / ``(n, "episode")``; integral floats -> int."""
    form = 'an integer >= 1 or a tuple (n, "step") / (n, "episode"), e.g. train_freq=1 (the paper\'s)'
    unit = None
    if isinstance(value, tuple | list) and len(value) == 2:
        value, unit = value
        if unit not in ("step", "episode"):
            raise ValueError(f"PaperDDPG: train_freq unit {unit!r} must be 'step' or 'episode'")
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not float(value).is_integer():
        raise TypeError(f"PaperDDPG: train_freq={value!r} must be {form}")
    if float(value) < 1:
        raise ValueError(f"PaperDDPG: train_freq={int(float(value))} must be >= 1 (SB3 would never collect a step); {form}")
    return int(float(value)) if unit is None else (int(float(value)), unit)


# The range of each of NUMBERS (tests/test_api_errors.py checks that each has one), checked after its type.
RANGES: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
    ("tau", lambda v: 0 < v <= 1, "must be in (0, 1]"),
    ("gamma", lambda v: 0 <= v <= 1, "must be in [0, 1]"),
    ("actor_learning_rate", lambda v: _initial_value(v) > 0, "must be > 0"),
    ("critic_learning_rate", lambda v: _initial_value(v) > 0, "must be > 0"),
    ("critic_weight_decay", lambda v: v >= 0, "must be >= 0"),
    ("ou_sigma", lambda v: v >= 0, "must be >= 0 (0 disables the noise)"),
    ("ou_sigma_final", lambda v: v is None or v >= 0, "must be >= 0 or None"),
    ("ou_theta", lambda v: 0 < v < 2, "must be in (0, 2) for a stationary OU process with dt=1"),
    ("buffer_size", lambda v: v >= 1, "must be >= 1"),
    ("learning_starts", lambda v: v >= 0, "must be >= 0"),
    ("batch_size", lambda v: v >= 1, "must be >= 1"),
    ("gradient_steps", lambda v: v != 0, NO_STEP),
    ("gradient_steps", lambda v: v >= -1, "must be >= 1, or -1 (SB3 would read any negative value as -1)"),
    ("n_steps", lambda v: v >= 1, "must be >= 1 (1: the paper's one-step return; SB3 would read it as 1)"),
    ("stats_window_size", lambda v: v >= 1, "must be >= 1"),
    ("actor_action_l2", lambda v: v >= 0, "must be >= 0 (0 disables the penalty)"),
    ("random_action_eps", lambda v: 0 <= v <= 1, "must be in [0, 1] (0 disables it)"),
)


def check_hyperparameters(
    hp: dict[str, Any], paper: dict[str, Any], defaults: dict[str, Any], combinations: bool = True
) -> dict[str, Any]:
    """Every value of ``hp`` (any of PaperDDPG's arguments) checked, and returned with integral floats of integer
    arguments as ints (``buffer_size=1e5``) and ``train_freq`` as SB3 reads it. ``combinations``: also the rules
    between arguments (batch_size <= buffer_size, an explicit action_noise with ou_* settings, the replay buffer's
    class with its kwargs and n_steps), the missing ones at their defaults.

    ``paper`` and ``defaults`` are the paper's values and the constructor's defaults, for the messages.
    Raises TypeError for a wrong type and ValueError for a wrong value, naming the argument and the fix.
    """
    hp = dict(hp)
    for name in NUMBERS:
        if name in hp:
            hp[name] = _number(name, hp[name])
    if "train_freq" in hp:
        hp["train_freq"] = _train_freq(hp["train_freq"])
    if "seed" in hp:
        hp["seed"] = _seed(hp["seed"])
    if "device" in hp:
        check_device(hp["device"])
    for name, choices in CHOICES.items():
        value = hp.get(name, choices[0])
        if (isinstance(value, numbers.Number) and not isinstance(value, bool)) or value not in choices:
            raise ValueError(f"PaperDDPG: {name}={value!r} must be one of {choices} (the default is {defaults[name]!r})")
    for name, ok, rule in RANGES:
        if name in hp and not ok(hp[name]):
            paper_value = paper.get(name) if "paper" not in rule else None  # the rule may name it already
            uses = f" (the paper uses {paper_value:g})" if isinstance(paper_value, numbers.Real) else ""
            raise ValueError(f"PaperDDPG: {name}={hp[name]} {rule}{uses}")
    _check_objects(hp)
    if combinations:
        if hp.get("batch_size", defaults["batch_size"]) > hp.get("buffer_size", defaults["buffer_size"]):
            raise ValueError(
                f"PaperDDPG: batch_size={hp.get('batch_size', defaults['batch_size'])} is larger than "
                f"buffer_size={hp.get('buffer_size', defaults['buffer_size'])}: raise buffer_size or lower batch_size"
            )
        policy_kwargs = hp.get("policy_kwargs") or {}
        if hp.get("batch_size", defaults["batch_size"]) < 2 and policy_kwargs.get("batch_norm", True):
            raise ValueError(
                "PaperDDPG: batch_size=1 with batch norm: a batch-norm layer needs 2 or more samples to normalize a "
                "training batch; raise batch_size (the paper's is 64) or pass policy_kwargs=dict(batch_norm=False)"
            )
        _check_noise(hp, defaults)
        _check_replay_buffer(hp)
    return hp


def _check_objects(hp: dict[str, Any]) -> None:
    """The arguments that take objects: an SB3 ActionNoise, a ReplayBuffer class, dicts of keyword arguments."""
    noise, buffer_class = hp.get("action_noise"), hp.get("replay_buffer_class")
    if noise is not None and not isinstance(noise, ActionNoise):
        raise TypeError(
            f"PaperDDPG: action_noise={noise!r} must be an SB3 ActionNoise (e.g. NormalActionNoise) or None "
            "(None: the paper's OU noise, built from ou_sigma and ou_theta)"
        )
    if buffer_class is not None and not (isinstance(buffer_class, type) and issubclass(buffer_class, ReplayBuffer)):
        raise TypeError(f"PaperDDPG: replay_buffer_class={buffer_class!r} must be a subclass of SB3's ReplayBuffer or None")
    for name in ("replay_buffer_kwargs", "policy_kwargs"):
        if hp.get(name) is not None and not isinstance(hp[name], dict):
            raise TypeError(f"PaperDDPG: {name}={hp[name]!r} must be a dict or None")
    check_policy_kwargs(hp.get("policy_kwargs") or {})
    verbose, log = hp.get("verbose", 0), hp.get("tensorboard_log")
    if isinstance(verbose, bool) or not isinstance(verbose, numbers.Integral) or verbose < 0:
        raise TypeError(f"PaperDDPG: verbose={verbose!r} must be 0 (none), 1 (info) or 2 (debug)")
    if log is not None and not isinstance(log, str | os.PathLike):
        raise TypeError(f"PaperDDPG: tensorboard_log={log!r} must be a folder path or None (no TensorBoard)")


def _check_noise(hp: dict[str, Any], defaults: dict[str, Any]) -> None:
    """An explicit ``action_noise`` replaces the OU noise built from ``ou_*``: those settings would have no effect."""
    noise = hp.get("action_noise")
    if noise is not None:
        for name in ("ou_sigma", "ou_theta", "ou_sigma_final"):
            value = hp.get(name, defaults[name])
            if value != defaults[name] and not (name == "ou_sigma" and value == 0):
                raise ValueError(
                    f"PaperDDPG: {name}={value} has no effect with action_noise={noise}: an explicit action_noise "
                    f"replaces the OU noise built from ou_sigma and ou_theta; drop one of the two"
                )
    elif hp.get("ou_sigma_final") is not None and hp.get("ou_sigma", defaults["ou_sigma"]) == 0:
        raise ValueError(
            f"PaperDDPG: ou_sigma_final={hp['ou_sigma_final']} has no effect with ou_sigma=0 (no OU noise is built); "
            "set ou_sigma > 0 to anneal from it"
        )


def _buffer_arguments(buffer_class: type) -> set[str]:
    """The keyword arguments a user may give a replay buffer class (PaperDDPG passes the others itself)."""
    passed = {"self", "buffer_size", "observation_space", "action_space", "device", "n_envs", "optimize_memory_usage", "env"}
    return set(inspect.signature(buffer_class).parameters) - {"self"} - passed


def _check_replay_buffer(hp: dict[str, Any]) -> None:
    buffer_class, kwargs = hp.get("replay_buffer_class"), hp.get("replay_buffer_kwargs") or {}
    valid = _buffer_arguments(buffer_class or ReplayBuffer)
    for key in kwargs if "replay_buffer_class" in hp else ():  # not given: the command line may add HER later
        if key not in valid:
            close = difflib.get_close_matches(key, valid, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"its arguments: {', '.join(sorted(valid))}"
            name = (buffer_class or ReplayBuffer).__name__
            raise ValueError(f"PaperDDPG: replay_buffer_kwargs: {name} takes no argument '{key}'; {hint}")
    if buffer_class is not None and issubclass(buffer_class, HerReplayBuffer):
        k = kwargs.get("n_sampled_goal", 4)
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
            raise ValueError(
                f"PaperDDPG: replay_buffer_kwargs n_sampled_goal={k!r} must be an integer >= 1, the relabelled goals "
                "per transition (the HER paper's 4)"
            )
        strategy = getattr(kwargs.get("goal_selection_strategy", "future"), "name", None)
        strategy = strategy.lower() if strategy else kwargs.get("goal_selection_strategy", "future")
        if strategy not in HER_STRATEGIES:
            raise ValueError(
                f"PaperDDPG: replay_buffer_kwargs goal_selection_strategy={strategy!r} must be one of {HER_STRATEGIES} "
                "(the HER paper's: future)"
            )
    n_steps = hp.get("n_steps", 1)
    if n_steps > 1 and buffer_class is not None:
        raise ValueError(
            f"PaperDDPG: n_steps={n_steps} has no effect with replay_buffer_class={buffer_class.__name__}: SB3 sets up "
            "n-step returns only with its default buffer; drop replay_buffer_class, or give the buffer n_steps itself"
        )
    if hp.get("optimize_memory_usage") and kwargs.get("handle_timeout_termination", True):
        raise ValueError(
            "PaperDDPG: optimize_memory_usage=True needs replay_buffer_kwargs=dict(handle_timeout_termination=False) "
            "(SB3 supports only that combination)"
        )


def check_space_settings(policy_class: type, observation_space: spaces.Space, hp: dict[str, Any], env_name: str) -> None:
    """The policy class, and the settings that depend on the observation space: the policy alias, HER's goal keys,
    n-step returns."""
    if not issubclass(policy_class, PaperDDPGPolicy):
        raise TypeError(
            f"PaperDDPG: policy={policy_class.__name__} is not a PaperDDPG policy: use 'MlpPolicy', 'CnnPolicy', "
            "'MultiInputPolicy' or a subclass of sb3_ddpg_ext.paper_ddpg.policies.PaperDDPGPolicy"
        )
    check_policy_keys(policy_class, hp.get("policy_kwargs") or {})
    is_dict = isinstance(observation_space, spaces.Dict)
    fix = None
    if policy_class is MultiInputPolicy and not is_dict:
        fix = "MultiInputPolicy needs Dict observations; use MlpPolicy (CnnPolicy for images)"
    elif policy_class is CnnPolicy and not is_image_space(observation_space, check_channels=False):
        fix = (
            "CnnPolicy needs image observations (a uint8 Box of shape (C, H, W) in [0, 255]); use "
            f"{'MultiInputPolicy' if is_dict else 'MlpPolicy'}, or sb3_ddpg_ext.envs.make_pixel_env for pixels"
        )
    elif is_dict and policy_class is MlpPolicy:
        fix = "Dict observations need MultiInputPolicy, not MlpPolicy"
    if fix:
        raise ValueError(f"PaperDDPG: {env_name} has observation space {observation_space}: {fix}")
    buffer_class = hp.get("replay_buffer_class")
    if (
        buffer_class is not None
        and issubclass(buffer_class, HerReplayBuffer)
        and not (is_dict and set(GOAL_KEYS) <= set(cast(spaces.Dict, observation_space).spaces))
    ):
        raise ValueError(
            f"PaperDDPG: replay_buffer_class=HerReplayBuffer needs a goal-conditioned env (Dict observations with "
            f"{', '.join(GOAL_KEYS)}), but {env_name} has {observation_space}; drop replay_buffer_class"
        )
    if is_dict and hp.get("n_steps", 1) > 1:
        raise ValueError(f"PaperDDPG: n_steps={hp['n_steps']} is not supported for Dict observations (SB3); use n_steps=1")
    if is_dict and hp.get("optimize_memory_usage"):
        raise ValueError("PaperDDPG: optimize_memory_usage=True is not supported for Dict observations (SB3)")


def check_action_noise(noise: ActionNoise | None, action_space: spaces.Box) -> None:
    """SB3's normal and OU noises draw one value per action dimension: a noise of another size would be broadcast
    to every dimension, or fail in the replay buffer."""
    noises = noise.noises if isinstance(noise, VectorizedActionNoise) else [noise]
    sizes = {np.shape(n._mu) for n in noises if isinstance(n, NormalActionNoise | OrnsteinUhlenbeckActionNoise)}
    if sizes - {action_space.shape}:
        shape = action_space.shape[0] if len(action_space.shape) == 1 else action_space.shape
        raise ValueError(
            f"PaperDDPG: action_noise={noise} has shape {sorted(sizes - {action_space.shape})[0]} but the actions have "
            f"{action_space.shape}: build it with np.zeros({shape}) (one value per action entry)"
        )


def make_env(env_id: str) -> gym.Env:
    """``gym.make(env_id)`` as SB3 does for a string env, with one line for an id that is not registered."""
    try:
        return gym.make(env_id)
    except gym.error.Error as e:
        name = env_id.rpartition(":")[2]
        hint = ""
        if name.startswith(ROBOTICS_PREFIXES):
            hint = (
                f"; {name} is a gymnasium-robotics env: import gymnasium_robotics and call "
                "gymnasium.register_envs(gymnasium_robotics) first (pip install 'sb3-ddpg-ext[robotics]')"
            )
        raise ValueError(f"PaperDDPG: cannot make {env_id}: {str(e).strip().splitlines()[0].rstrip('.')}{hint}") from None


def check_bn_statistics(norm_layer: str, bn_stats_for_y: str, bn_stats_for_policy_gradient: str) -> None:
    """Batch statistics need batch norm: the other norm layers normalize with running statistics only."""
    batch_stats = [
        name
        for name, value in (("bn_stats_for_y", bn_stats_for_y), ("bn_stats_for_policy_gradient", bn_stats_for_policy_gradient))
        if value == "batch"
    ]
    if batch_stats and norm_layer != "batch_norm":
        fix = ", ".join(f"{name}='running'" for name in batch_stats)
        raise ValueError(f"PaperDDPG: norm_layer={norm_layer!r} normalizes with running statistics only; pass {fix} with it")
