"""Environments from gymnasium ids, with one clear error per mistake, the pixel pipeline of the paper's section 7, and
the policy alias each one needs."""

import functools
import importlib
import os
import sys
from collections.abc import Callable
from typing import Any, overload
from unittest import mock

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.envs.registration import EnvSpec
from gymnasium.wrappers import AddRenderObservation, FrameStackObservation, RepeatAction, TransformObservation
from PIL import Image
from stable_baselines3.common.env_util import make_vec_env as sb3_make_vec_env
from stable_baselines3.common.preprocessing import is_image_space
from stable_baselines3.common.vec_env import VecEnv

from sb3_ddpg_ext.errors import UserError
from sb3_ddpg_ext.paper_ddpg.checks import GOAL_KEYS, ROBOTICS_PREFIXES, check_action_space

# Evaluation envs are seeded apart from the training envs, so no evaluation episode replays a training one.
EVAL_SEED_OFFSET = 10_000

# gymnasium's DependencyNotInstalled message -> the extra that installs it, first match first: Box2D's envs name
# gymnasium[box2d] for pygame too (the box2d extra brings it); classic control renders with pygame (--pixels).
EXTRAS = {"mujoco": "mujoco", "box2d": "box2d", "robotics": "robotics", "pygame": "pixels"}


@overload
def eval_seed(seed: int) -> int: ...
@overload
def eval_seed(seed: None) -> None: ...
def eval_seed(seed: int | None) -> int | None:
    """The seed of the evaluation env that goes with a training seed."""
    return None if seed is None else seed + EVAL_SEED_OFFSET


def register_robotics_envs(name: str) -> None:
    """Import gymnasium-robotics (which registers its envs) when ``name`` is one of its ids, e.g. FetchPush-v4.

    Its import prints a notice about the Adroit tasks' rewards (farama_notifications): shown for an Adroit id only,
    since no other env's results depend on it.
    """
    if not name.startswith(ROBOTICS_PREFIXES) or name in gym.registry:
        return
    try:
        import farama_notifications

        with mock.patch.dict(farama_notifications.notifications):
            if not name.startswith("AdroitHand"):
                farama_notifications.notifications.pop("gymnasium_robotics", None)
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


def missing_dependency(error: gym.error.DependencyNotInstalled) -> str:
    """gymnasium's missing-dependency message, its first line, and the fix: the extra that installs what it names."""
    extra = next((x for key, x in EXTRAS.items() if key in str(error).lower()), None)
    fix = f"pip install 'sb3-ddpg-ext[{extra}]'" if extra else "install the package it names"
    return f"{str(error).strip().splitlines()[0]} Fix: {fix}"


def make_vec_env(env_id: str, n_envs: int = 1, seed: int | None = None, spec: EnvSpec | None = None, **kwargs: Any) -> VecEnv:
    """SB3's ``make_vec_env`` for a gymnasium id, with one readable error for unknown ids and missing extras. With a
    ``spec`` (a model's recorded training env, ``models.saved_env``), ``gym.make(spec)``: its kwargs, time limit and
    wrappers; a wrapper gymnasium cannot remake (one without ``RecordConstructorArgs``) is one line too."""
    check_env_id(env_id)
    name = env_id if spec is None else describe_spec(spec)
    try:
        return sb3_make_vec_env(
            env_id if spec is None else functools.partial(gym.make, spec), n_envs=n_envs, seed=seed, **kwargs
        )
    except gym.error.DependencyNotInstalled as e:
        raise UserError(f"cannot make {name}: {missing_dependency(e)}") from e
    except gym.error.Error as e:
        raise UserError(f"cannot make {name}: {e}") from e
    except (ValueError, TypeError) as e:  # gym.make(spec): a wrapper or kwargs it cannot remake
        if spec is None:
            raise
        raise UserError(f"cannot make {name}: {str(e).strip().splitlines()[0]}") from e


def describe_spec(spec: EnvSpec) -> str:
    """``Pendulum-v1 (g=2.0, max_episode_steps=50, wrapped in RescaleAction(min_action=0.5, max_action=3.0))``."""
    made = [f"{k}={v!r}" for k, v in spec.kwargs.items()] + [f"max_episode_steps={spec.max_episode_steps}"]
    for w in spec.additional_wrappers:
        made.append(f"wrapped in {w.name}({', '.join(f'{k}={v!r}' for k, v in (w.kwargs or {}).items())})")
    return f"{spec.id} ({', '.join(made)})"


def check_env(env_id: str) -> bool:
    """``env_id`` can be made and has the bounded continuous actions DDPG needs (checked before a study is touched or
    a run folder made); returns whether it is goal-conditioned."""
    env = make_vec_env(env_id)
    try:
        check_action_space(env.action_space)
        return is_goal_env(env)
    except ValueError as e:
        raise UserError(f"{env_id}: {str(e).strip().splitlines()[0]}") from e
    finally:
        env.close()


def policy_for(observation_space: spaces.Space) -> str:
    """The PaperDDPG policy alias for an observation space: Dict, image or flat vector."""
    if isinstance(observation_space, spaces.Dict):
        return "MultiInputPolicy"
    return "CnnPolicy" if is_image_space(observation_space) else "MlpPolicy"


# Pixels, Lillicrap et al. (2015), section 4 and 7: "For each timestep of the agent, we step the simulation 3 timesteps,
# repeating the agent's action and rendering each time. Thus the observation reported to the agent contains 9 feature
# maps (the RGB of each of the 3 renderings) [...] The frames were downsampled to 64x64 pixels and the 8-bit RGB values
# were converted to floating point scaled to [0, 1]." The [0, 1] scaling happens at the network (SB3's
# ``preprocess_obs`` divides image observations by 255), so the env and the replay buffer keep uint8.
PIXEL_SIZE = 64
PIXEL_FRAMES = 3
PIXEL_ACTION_REPEAT = 3


def use_headless_rendering() -> None:
    """With no X or Wayland display: MuJoCo renders through EGL, and pygame (SDL) through its dummy drivers.

    ``MUJOCO_GL`` is read once, when mujoco is imported: it is set when unset and mujoco is not imported yet, since GLFW,
    mujoco's default, cannot open a context without a display. Classic control renders ``rgb_array`` on pygame surfaces,
    but calls ``pygame.display.init()`` first; SDL's default video driver then probes for Wayland and prints
    "XDG_RUNTIME_DIR is invalid" (and its audio driver ALSA errors, for envs that call ``pygame.init()``), though nothing
    is wrong. SDL reads ``SDL_VIDEODRIVER`` and ``SDL_AUDIODRIVER`` at each init; a value the user set is kept.
    """
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return
    if "MUJOCO_GL" not in os.environ and "mujoco" not in sys.modules:
        os.environ["MUJOCO_GL"] = "egl"
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")


use_headless_rendering()  # at import: rl-zoo3 makes its envs before any pixel wrapper of ours runs


def resize_frame(frame: np.ndarray, size: int) -> np.ndarray:
    """An (H, W, 3) uint8 render downsampled to (size, size, 3) by area averaging (PIL's box filter, OpenCV's INTER_AREA).

    gymnasium's ``ResizeObservation`` needs OpenCV; PIL is already installed with matplotlib.
    """
    if frame.shape[:2] == (size, size):
        return frame
    return np.asarray(Image.fromarray(frame).resize((size, size), Image.Resampling.BOX))


def frames_to_channels(frames: np.ndarray) -> np.ndarray:
    """Stacked frames (n, H, W, C) -> channels first (n*C, H, W): frame 0's RGB, then frame 1's, and so on."""
    n, h, w, c = frames.shape
    return np.ascontiguousarray(frames.transpose(0, 3, 1, 2).reshape(n * c, h, w))


def pixel_wrapper(
    env: gym.Env, size: int = PIXEL_SIZE, n_frames: int = PIXEL_FRAMES, action_repeat: int = PIXEL_ACTION_REPEAT
) -> gym.Env:
    """The paper's pixel observations for an env made with ``render_mode="rgb_array"``: uint8 (3*n_frames, size, size).

    render -> resize -> stack the renders of the last ``n_frames`` simulator steps -> repeat each action
    ``action_repeat`` times. The stack sits inside the action repeat, so with the paper's 3 and 3 an observation holds
    exactly the 3 renderings of one agent step; at reset the first render fills the stack. Usable as rl-zoo3's
    ``env_wrapper`` (with ``env_kwargs: {render_mode: rgb_array}``, see ``zoo_configs/paper_ddpg_pixels.yml``).
    """
    if env.render_mode != "rgb_array":
        raise UserError(
            f"pixel observations need an env made with render_mode='rgb_array', got render_mode={env.render_mode!r}"
        )
    try:
        env = AddRenderObservation(env, render_only=True)  # renders once here: pygame for classic control
    except gym.error.DependencyNotInstalled as e:  # also reached through rl-zoo3's env_wrapper
        name = env.spec.id if env.spec is not None else type(env.unwrapped).__name__
        raise UserError(f"cannot render {name} as pixels: {missing_dependency(e)}") from e
    frame = spaces.Box(0, 255, (size, size, 3), np.uint8)
    env = TransformObservation(env, functools.partial(resize_frame, size=size), frame)
    env = FrameStackObservation(env, n_frames)
    stacked = spaces.Box(0, 255, (3 * n_frames, size, size), np.uint8)
    env = TransformObservation(env, frames_to_channels, stacked)
    # Section 4's action repeat: gymnasium's RepeatAction sums the rewards and stops at the first termination or
    # truncation, so a TimeLimit inside it counts simulator steps (Pendulum-v1: 200 simulator, 67 agent steps).
    return RepeatAction(env, action_repeat) if action_repeat > 1 else env


def pixel_env_kwargs(env_id: str, size: int = PIXEL_SIZE) -> dict[str, Any]:
    """``gym.make`` arguments for rendering: ``rgb_array``, and MuJoCo envs render at ``size`` directly (no resize)."""
    kwargs: dict[str, Any] = {"render_mode": "rgb_array"}
    entry_point = check_env_id(env_id).entry_point
    if isinstance(entry_point, str) and entry_point.startswith("gymnasium.envs.mujoco"):
        kwargs.update(width=size, height=size)
    return kwargs


def make_pixel_env(
    env_id: str,
    n_envs: int = 1,
    seed: int | None = None,
    size: int = PIXEL_SIZE,
    n_frames: int = PIXEL_FRAMES,
    action_repeat: int = PIXEL_ACTION_REPEAT,
    env_kwargs: dict[str, Any] | None = None,
    **kwargs: Any,
) -> VecEnv:
    """A VecEnv of the paper's pixel observations (section 4 and 7) for any env that renders ``rgb_array``.

    Observations are uint8 (9, 64, 64) with the defaults; each agent step is ``action_repeat`` simulator steps, and
    SB3's ``Monitor`` (inside the wrapper) records episode returns and lengths in simulator steps. Use with
    ``PaperDDPG("CnnPolicy", env, **PaperDDPG.pixel_hyperparameters())``.
    """
    wrapper_kwargs = dict(size=size, n_frames=n_frames, action_repeat=action_repeat)
    try:
        return make_vec_env(
            env_id,
            n_envs=n_envs,
            seed=seed,
            env_kwargs={**pixel_env_kwargs(env_id, size), **(env_kwargs or {})},
            wrapper_class=pixel_wrapper,
            wrapper_kwargs=wrapper_kwargs,
            **kwargs,
        )
    except (TypeError, gym.error.Error) as e:
        raise UserError(f"cannot render {env_id} as pixels: {str(e).strip().splitlines()[0]}") from e
