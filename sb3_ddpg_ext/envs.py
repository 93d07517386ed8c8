"""Environments from gymnasium ids, with one clear error per mistake, and the policy alias each one needs."""

import importlib
from collections.abc import Callable
from typing import Any

import gymnasium as gym
from gymnasium import spaces
from stable_baselines3.common.env_util import make_vec_env as sb3_make_vec_env
from stable_baselines3.common.preprocessing import is_image_space
from stable_baselines3.common.vec_env import VecEnv

from sb3_ddpg_ext.errors import UserError

# Evaluation envs are seeded apart from the training envs, so no evaluation episode replays a training one.
EVAL_SEED_OFFSET = 10_000

# gymnasium's DependencyNotInstalled message -> the extra that installs it.
EXTRAS = {"mujoco": "mujoco", "box2d": "box2d", "robotics": "robotics"}


def eval_seed(seed: int | None) -> int | None:
    """The seed of the evaluation env that goes with a training seed."""
    return None if seed is None else seed + EVAL_SEED_OFFSET


# Env id prefixes registered by gymnasium-robotics (the ``robotics`` extra), e.g. FetchPush-v4.
ROBOTICS_PREFIXES = ("Fetch", "HandManipulate", "HandReach", "AdroitHand", "PointMaze", "AntMaze", "FrankaKitchen")
GOAL_KEYS = ("observation", "achieved_goal", "desired_goal")


def register_robotics_envs(name: str) -> None:
    """Import gymnasium-robotics (which registers its envs) when ``name`` is one of its ids, e.g. FetchPush-v4."""
    if not name.startswith(ROBOTICS_PREFIXES) or name in gym.registry:
        return
    try:
        import gymnasium_robotics
    except ImportError as e:
        raise UserError(f"{name} needs gymnasium-robotics: pip install 'sb3-ddpg-ext[robotics]'") from e
    gym.register_envs(gymnasium_robotics)


def is_goal_env(env: VecEnv) -> bool:
    """A goal-conditioned env, as SB3's HerReplayBuffer needs: Dict observations with ``observation``,
    ``achieved_goal`` and ``desired_goal``, and a ``compute_reward(achieved_goal, desired_goal, info)``."""
    space = env.observation_space
    return isinstance(space, spaces.Dict) and set(GOAL_KEYS) <= set(space.spaces) and env.has_attr("compute_reward")


def wrapper_chain(wrappers: list[Any]) -> Callable[[gym.Env], gym.Env] | None:
    """A ``wrapper_class`` for SB3's ``make_vec_env`` from a list of "module.Class" or {"module.Class": kwargs}
    (rl-zoo3's ``env_wrapper`` format), applied in order; None for an empty list."""
    if not wrappers:
        return None
    chain = []
    for item in wrappers:
        name, kwargs = next(iter(item.items())) if isinstance(item, dict) else (item, {})
        module, _, cls = str(name).rpartition(".")
        try:
            chain.append((getattr(importlib.import_module(module), cls), kwargs or {}))
        except (ImportError, AttributeError, ValueError) as e:
            raise UserError(f"env wrapper '{name}' cannot be imported: give it as module.Class ({e})") from e

    def wrap(env: gym.Env) -> gym.Env:
        for wrapper, kwargs in chain:
            env = wrapper(env, **kwargs)
        return env

    return wrap


def check_env_id(env_id: str) -> gym.envs.registration.EnvSpec:
    """The spec of ``env_id``; a ``module:Env-v0`` id imports its module first, as ``gym.make`` does."""
    module, _, name = env_id.rpartition(":")
    register_robotics_envs(name)
    if module:
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise UserError(f"cannot make {env_id}: module '{module}' cannot be imported ({e})") from e
    try:
        return gym.spec(name)
    except gym.error.Error as e:
        raise UserError(f"cannot make {env_id}: {e}") from e


def make_vec_env(env_id: str, n_envs: int = 1, seed: int | None = None, **kwargs: Any) -> VecEnv:
    """SB3's ``make_vec_env`` for a gymnasium id, with one readable error for unknown ids and missing extras."""
    check_env_id(env_id)
    try:
        return sb3_make_vec_env(env_id, n_envs=n_envs, seed=seed, **kwargs)
    except gym.error.DependencyNotInstalled as e:
        text = str(e).lower()
        extra = next((x for key, x in EXTRAS.items() if key in text), None)
        fix = f"pip install 'sb3-ddpg-ext[{extra}]'" if extra else "install the package it names"
        raise UserError(f"cannot make {env_id}: {str(e).strip().splitlines()[0]} Fix: {fix}") from e
    except gym.error.Error as e:
        raise UserError(f"cannot make {env_id}: {e}") from e


def policy_for(observation_space: spaces.Space) -> str:
    """The PaperDDPG policy alias for an observation space: Dict, image or flat vector."""
    if isinstance(observation_space, spaces.Dict):
        return "MultiInputPolicy"
    return "CnnPolicy" if is_image_space(observation_space) else "MlpPolicy"
