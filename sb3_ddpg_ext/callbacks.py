"""Training callbacks next to SB3's own: stop a run whose losses, weights or returns stop being finite."""

from typing import Any

import numpy as np
import torch as th
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback


def divergence_reason(model: BaseAlgorithm) -> str | None:
    """Why a model diverged (a non-finite ``train/`` loss in its logger, or non-finite weights), or None."""
    for name, value in model.logger.name_to_value.items():
        if name.startswith("train/") and not np.isfinite(value):
            return f"{name} is {value}"
    params = list(model.policy.parameters())
    # Runs at every step of `sb3-ddpg train`: one fused norm of all weights (about 5x cheaper than isfinite per tensor
    # on the paper's networks) is finite exactly when every weight is; only a non-finite norm (or an overflow of
    # weights above ~1e19) pays for the per-tensor scan that names the tensor.
    if params and not bool(th.stack(th._foreach_norm(params)).isfinite().all()):
        for name, p in model.policy.named_parameters():
            if not th.isfinite(p).all():
                return f"non-finite weights in {name}"
    return None


class StopTrainingOnDivergence(BaseCallback):
    """Stop ``learn()`` as soon as a loss, a weight, a reward or an episode return is NaN or infinite.

    After training, ``diverged_at`` is the step it stopped at and ``reason`` names the quantity (both None if the run
    stayed finite). Keep the model's last finite weights with SB3's ``EvalCallback(best_model_save_path=...)`` or
    ``CheckpointCallback``: a diverged model should not be saved as the result.

    :param check_freq: check the losses and weights every ``check_freq`` calls (rewards and returns: every call)
    :param verbose: 1 (default) prints one line when it stops: the step, the reason, and not to save the model as the
        result; 0 is silent (read ``reason``)
    """

    def __init__(self, check_freq: int = 1, verbose: int = 1) -> None:
        super().__init__(verbose)
        if check_freq < 1:
            raise ValueError(f"check_freq={check_freq} must be >= 1")
        self.check_freq = check_freq
        self.reason: str | None = None
        self.diverged_at: int | None = None

    def _on_step(self) -> bool:
        reason = self._step_reason()
        if reason is None and self.n_calls % self.check_freq == 0:
            reason = divergence_reason(self.model)
        if reason is None:
            return True
        self.reason, self.diverged_at = reason, self.num_timesteps
        if self.verbose:
            print(f"StopTrainingOnDivergence: training stopped at step {self.diverged_at}: {self.reason}; the model's "
                  "weights may not be finite: keep the last finite ones (EvalCallback's best_model_save_path), do not "
                  "save this model as the result")  # fmt: skip
        return False

    def _step_reason(self) -> str | None:
        rewards = self.locals.get("rewards")
        if rewards is not None and not np.all(np.isfinite(rewards)):
            return f"reward is {np.asarray(rewards)[~np.isfinite(rewards)][0]}"
        infos: list[dict[str, Any]] = self.locals.get("infos") or []
        for info in infos:
            episode_return = info.get("episode", {}).get("r")
            if episode_return is not None and not np.isfinite(episode_return):
                return f"episode return is {episode_return}"
        return None
