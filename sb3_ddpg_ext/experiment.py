"""Build and evaluate a PaperDDPG from hyperparameters: the one path shared by the CLI, the zoo glue and tuning."""

import difflib
from collections.abc import Iterable
from typing import Any, NamedTuple

import numpy as np
from stable_baselines3 import HerReplayBuffer
from stable_baselines3.common.buffers import DictReplayBuffer, ReplayBuffer
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import VecEnv

from sb3_ddpg_ext.envs import is_goal_env, policy_for
from sb3_ddpg_ext.errors import UserError
from sb3_ddpg_ext.paper_ddpg import PaperDDPG


def check_names(names: Iterable[str], where: str, extra: Iterable[str] = ()) -> None:
    """Every name must be a PaperDDPG argument (or one of ``extra``); an unknown one gets a did-you-mean."""
    valid = set(PaperDDPG.hyperparameter_defaults()) | set(extra)
    for name in names:
        if name not in valid:
            close = difflib.get_close_matches(name, valid, n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"valid names: {', '.join(sorted(valid))}"
            raise UserError(f"{where}: unknown PaperDDPG parameter '{name}'; {hint}")


def build_model(
    env: VecEnv,
    params: dict[str, Any] | None = None,
    seed: int | None = None,
    policy: str | None = None,
    **kwargs: Any,
) -> PaperDDPG:
    """PaperDDPG on ``env`` with ``params`` over the paper's defaults; the policy alias follows the observation space.

    ``kwargs`` are run settings (device, verbose, tensorboard_log). A value PaperDDPG rejects becomes a UserError.
    """
    params = resolve_replay_buffer(dict(params or {}))
    check_names(params, "hyperparameters")
    try:
        return PaperDDPG(policy or policy_for(env.observation_space), env, seed=seed, **params, **kwargs)
    except (ValueError, TypeError) as e:
        raise UserError(str(e).strip().splitlines()[0]) from e


def evaluate(model: PaperDDPG, env: VecEnv, n_episodes: int) -> np.ndarray:
    """Noise-free returns of ``n_episodes`` episodes (SB3's ``evaluate_policy``, deterministic)."""
    return evaluate_episodes(model, env, n_episodes).returns


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


# Names a config, -p value or study spec may give for ``replay_buffer_class``.
REPLAY_BUFFERS = {"ReplayBuffer": ReplayBuffer, "DictReplayBuffer": DictReplayBuffer, "HerReplayBuffer": HerReplayBuffer}


def resolve_replay_buffer(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with a ``replay_buffer_class`` given by name (``HerReplayBuffer``) replaced by the class."""
    name = params.get("replay_buffer_class")
    if not isinstance(name, str):
        return params
    if name not in REPLAY_BUFFERS:
        raise UserError(f"replay_buffer_class '{name}' is not one of {', '.join(REPLAY_BUFFERS)}")
    return {**params, "replay_buffer_class": REPLAY_BUFFERS[name]}


def with_her(env: VecEnv, params: dict[str, Any], strategy: str = "future", n_sampled_goal: int = 4) -> dict[str, Any]:
    """``params`` with SB3's HerReplayBuffer (Andrychowicz et al. 2017: ``future`` goals, k = 4) for a goal-conditioned
    env; ``replay_buffer_kwargs`` the user gave win over ``strategy`` and ``n_sampled_goal``."""
    if not is_goal_env(env):
        raise UserError(
            "HER needs a goal-conditioned env (Dict observations with observation, achieved_goal and desired_goal, "
            "and compute_reward)"
        )
    params = resolve_replay_buffer(params)
    if params.get("replay_buffer_class") not in (None, HerReplayBuffer):
        return params  # the user chose another buffer explicitly
    her_kwargs = {"goal_selection_strategy": strategy, "n_sampled_goal": n_sampled_goal}
    return {**params, "replay_buffer_class": HerReplayBuffer,
            "replay_buffer_kwargs": {**her_kwargs, **(params.get("replay_buffer_kwargs") or {})}}  # fmt: skip
