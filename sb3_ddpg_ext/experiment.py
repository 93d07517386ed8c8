"""Build and evaluate a PaperDDPG from hyperparameters: the one path shared by the CLI, the zoo glue and tuning."""

import difflib
from collections.abc import Iterable
from typing import Any

import numpy as np
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import VecEnv

from sb3_ddpg_ext.envs import policy_for
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
    params = dict(params or {})
    check_names(params, "hyperparameters")
    try:
        return PaperDDPG(policy or policy_for(env.observation_space), env, seed=seed, **params, **kwargs)
    except (ValueError, TypeError) as e:
        raise UserError(str(e).strip().splitlines()[0]) from e


def evaluate(model: PaperDDPG, env: VecEnv, n_episodes: int) -> np.ndarray:
    """Noise-free returns of ``n_episodes`` episodes (SB3's ``evaluate_policy``, deterministic)."""
    returns, _ = evaluate_policy(model, env, n_eval_episodes=n_episodes, deterministic=True, return_episode_rewards=True)
    return np.asarray(returns, dtype=float)
