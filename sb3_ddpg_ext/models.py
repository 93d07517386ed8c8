"""Build, load and evaluate a PaperDDPG, for the run layer, the commands, tuning and the benchmarks.

The values given here were checked where they entered (``params.py``); a value PaperDDPG itself refuses (the
Python constructor's checks) or a replay buffer larger than the free memory becomes one UserError line.
"""

from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from gymnasium import spaces
from gymnasium.envs.registration import EnvSpec
from stable_baselines3 import HerReplayBuffer
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import VecEnv

from sb3_ddpg_ext.envs import PIXEL_FRAMES, PIXEL_SIZE, is_goal_env, policy_for
from sb3_ddpg_ext.errors import UserError
from sb3_ddpg_ext.paper_ddpg import PaperDDPG
from sb3_ddpg_ext.paper_ddpg.loading import check_saved_by_paper_ddpg
from sb3_ddpg_ext.preflight import make_action_noise


def build_model(
    env: VecEnv,
    params: dict[str, Any] | None = None,
    seed: int | None = None,
    policy: str | None = None,
    env_id: str | None = None,
    **kwargs: Any,
) -> PaperDDPG:
    """PaperDDPG on ``env`` with ``params`` over the paper's defaults; the policy alias follows the observation space.

    ``kwargs`` are run settings (device, verbose, tensorboard_log). ``env_id`` is saved with the model (``evaluate``
    reads it). A value PaperDDPG rejects, or a replay buffer larger than the free memory, becomes a UserError.
    """
    params = dict(params or {})
    if isinstance(params.get("action_noise"), str):
        params["action_noise"] = make_action_noise(params["action_noise"], tuple(env.action_space.shape or ()))
    try:
        model = PaperDDPG(policy or policy_for(env.observation_space), env, seed=seed, **params, **kwargs)
    except (ValueError, TypeError, MemoryError) as e:
        raise UserError(str(e).strip().splitlines()[0]) from e
    if env_id is not None:  # made from the id (and --pixels, which evaluate takes again): no spec to record
        model.env_id, model.env_spec, model.env_spec_unsaved = env_id, None, None
    return model


def saved_env(path: Path, with_spec: bool = True) -> tuple[str, EnvSpec | None]:
    """The env a model was trained on, as saved by ``sb3-ddpg train`` or the PaperDDPG constructor: its id, and (with
    ``with_spec``) its spec where it was made with other kwargs, time limit or wrappers than the id gives (None where
    the id alone makes it). Another algorithm's file is refused as such first (SB3's own DDPG saves no env id)."""
    try:
        data = PaperDDPG.read_saved_data(model_file(path))
        check_saved_by_paper_ddpg(path, data)
    except ValueError as e:
        raise UserError(str(e).strip().splitlines()[0]) from e
    env_id = data.get("env_id")
    if not env_id:
        raise UserError(f"{path} does not record the env it was trained on: pass --env ENV_ID")
    if not with_spec:
        return env_id, None
    if data.get("env_spec_unsaved"):
        raise UserError(
            f"{path} was trained on {env_id} made with {data['env_spec_unsaved']}, which sb3-ddpg evaluate cannot "
            f"remake: evaluate it in Python on that env, or pass --env {env_id} for the id's own env"
        )
    return env_id, EnvSpec.from_json(data["env_spec"]) if data.get("env_spec") else None


def trained_on_pixels(path: Path) -> bool:
    """Whether the saved model at ``path`` acts on the paper's pixel observations as ``make_pixel_env`` makes them
    (``sb3-ddpg train --pixels``): its observation space is theirs, uint8 (9, 64, 64)."""
    pixels = spaces.Box(0, 255, (3 * PIXEL_FRAMES, PIXEL_SIZE, PIXEL_SIZE), np.uint8)
    try:
        return PaperDDPG.read_saved_data(model_file(path)).get("observation_space") == pixels
    except (OSError, ValueError):
        return False  # not a readable model: loading it says why, in one line


def model_file(path: Path) -> Path:
    """The saved model at ``path`` (``.zip`` may be left out, as SB3 allows)."""
    if path.is_dir():
        raise UserError(f"{path} is a folder: pass the model file in it, e.g. {path / 'model.zip'}")
    if not path.is_file():
        if path.suffix != ".zip" and path.with_suffix(path.suffix + ".zip").is_file():
            return path.with_suffix(path.suffix + ".zip")
        raise UserError(f"no model at {path}: pass the .zip written by 'sb3-ddpg train'")
    return path


def load_model(path: Path, env: VecEnv | None = None, seed: int | None = None, **kwargs: Any) -> PaperDDPG:
    """``PaperDDPG.load`` with one line per mistake: no file, not a model, another algorithm, spaces that differ.

    SB3's ``load`` re-seeds ``env`` with the model's training seed; ``seed`` re-seeds it afterwards, so an evaluation
    seed is not silently replaced by the training one.
    """
    path = model_file(path)
    try:
        model = PaperDDPG.load(path, env=env, **kwargs)
    except (ValueError, TypeError, MemoryError) as e:
        raise UserError(str(e).strip().splitlines()[0]) from e
    if env is not None and seed is not None:
        env.seed(seed)
    return model


class Evaluation(NamedTuple):
    """Returns of noise-free episodes, and their successes (``info["is_success"]``) where the env reports one."""

    returns: np.ndarray
    successes: np.ndarray | None

    @property
    def success_rate(self) -> float | None:
        return None if self.successes is None else float(np.mean(self.successes))


def evaluate_episodes(model: PaperDDPG, env: VecEnv, n_episodes: int) -> Evaluation:
    """Noise-free returns of ``n_episodes`` episodes, with each episode's final ``is_success`` (as SB3's EvalCallback)."""
    successes: list[float] = []

    def record_success(local: dict[str, Any], _: dict[str, Any]) -> None:
        if local["done"] and local["info"].get("is_success") is not None:
            successes.append(float(local["info"]["is_success"]))

    returns, _ = evaluate_policy(
        model, env, n_eval_episodes=n_episodes, deterministic=True, return_episode_rewards=True, callback=record_success
    )
    return Evaluation(np.asarray(returns, dtype=float), np.asarray(successes) if successes else None)


def with_her(
    env: VecEnv, params: dict[str, Any], strategy: str | None = None, n_sampled_goal: int | None = None
) -> dict[str, Any]:
    """``params`` with SB3's HerReplayBuffer for a goal-conditioned env: ``strategy`` and ``n_sampled_goal`` (default:
    the HER paper's ``future`` goals, k = 4), unless ``replay_buffer_kwargs`` set them (the command line refuses both,
    ``preflight.check_her_options``)."""
    if not is_goal_env(env):
        raise UserError(
            "HER needs a goal-conditioned env (Dict observations with observation, achieved_goal and desired_goal, "
            "and compute_reward)"
        )
    if params.get("replay_buffer_class") not in (None, HerReplayBuffer):
        return params  # the user chose another buffer explicitly
    given = params.get("replay_buffer_kwargs") or {}
    her_kwargs = {"goal_selection_strategy": strategy or "future", "n_sampled_goal": n_sampled_goal or 4}
    return {**params, "replay_buffer_class": HerReplayBuffer, "replay_buffer_kwargs": {**her_kwargs, **given}}
