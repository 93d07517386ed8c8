"""Training callbacks next to SB3's own: stop a run whose losses, weights or returns stop being finite; evaluate
after the updates of the steps an evaluation is labelled with."""

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, EvalCallback
from stable_baselines3.common.vec_env import VecEnv


def divergence_reason(model: BaseAlgorithm) -> str | None:
    """Why a model diverged (a non-finite ``train/`` loss in its logger, or non-finite weights), or None."""
    for name, value in model.logger.name_to_value.items():
        if name.startswith("train/") and not np.isfinite(value):
            return f"{name} is {value}"
    params: list[th.Tensor] = list(model.policy.parameters())
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
            print(
                f"StopTrainingOnDivergence: training stopped at step {self.diverged_at}: {self.reason}; the model's "
                "weights may not be finite: keep the last finite ones (EvalCallback's best_model_save_path), do not "
                "save this model as the result"
            )
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


class EvalAfterUpdates(EvalCallback):
    """SB3's ``EvalCallback``, taken after the gradient steps of the env steps it is labelled with.

    SB3 calls a callback's ``on_step`` after each env step and before that rollout's ``train()``: with an episode-based
    ``train_freq`` (the HER preset: 40 updates every 2 episodes) ``EvalCallback`` evaluates, and saves as
    ``best_model.zip``, weights that miss those updates. Here ``on_step`` only notes that an evaluation is due; it
    runs at the next rollout's start, after ``train()``, or at the end of ``learn()``, labelled with the steps trained.

    The schedule counts env steps (every ``eval_every``), not callback calls, so a resumed run keeps it; each
    evaluation seeds its env with ``seed + step``: the same episodes for every configuration at a step, whether or
    not the run was resumed. ``state()`` and ``restore()`` carry the evaluation history across a resume.
    With ``make_eval_env``, each evaluation after the first plays in a new env from it: a reseeded env is not enough
    where the simulator keeps state across resets (Box2D's world: BipedalWalker-v3 replays other episodes), and then
    an evaluation depends only on the weights and the step, as ``sb3-ddpg evaluate --seed`` replays it.
    Every other argument is ``EvalCallback``'s; its ``log_path`` file (evaluations.npz) is replaced atomically.
    """

    def __init__(
        self,
        eval_env: Any,
        eval_every: int,
        seed: int | None = None,
        make_eval_env: Callable[[], VecEnv] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(eval_env, eval_freq=1, **kwargs)
        self.eval_every, self.seed, self.make_eval_env = eval_every, seed, make_eval_env
        self.next_evaluation = eval_every
        self.stop = False  # an evaluation callback (callback_on_new_best) asked to stop
        self.eval_env_used = False

    def _on_step(self) -> bool:
        return not self.stop

    def _on_rollout_start(self) -> None:
        self.evaluate_if_due()

    def _on_training_end(self) -> None:
        self.evaluate_if_due()

    def evaluate_if_due(self) -> None:
        self.num_timesteps = self.model.num_timesteps
        if self.num_timesteps < self.next_evaluation:
            return
        self.next_evaluation = (self.num_timesteps // self.eval_every + 1) * self.eval_every
        if self.make_eval_env is not None and self.eval_env_used:
            self.eval_env.close()
            self.eval_env = self.make_eval_env()  # EvalCallback copies the training env's normalization into it
        self.eval_env_used = True
        if self.seed is not None:
            self.eval_env.seed(self.seed + self.num_timesteps)
        # SB3 keeps the history only when it writes evaluations.npz, and writes it in place: here it writes a scratch
        # file, renamed over the real one (or removed when no log_path was asked for).
        log_path = self.log_path
        folder = Path(log_path).parent if log_path is not None else Path(tempfile.gettempdir())
        scratch = folder / f".evaluations-{os.getpid()}-{id(self)}.partial"
        self.log_path = str(scratch)
        before = (len(self.evaluations_timesteps), self.best_mean_reward)
        try:
            self.n_calls = self.eval_freq  # EvalCallback._on_step evaluates when n_calls % eval_freq == 0
            self.stop = not super()._on_step()
        except KeyboardInterrupt:
            self.log_path = log_path
            scratch.with_name(scratch.name + ".npz").unlink(missing_ok=True)
            self._finish_interrupted(*before)
            raise
        finally:
            self.log_path = log_path
        self._replace_history(scratch.with_name(scratch.name + ".npz"))

    def _finish_interrupted(self, n_before: int, best_before: float) -> None:
        """Ctrl-C inside SB3's evaluation. During its episodes: nothing of it is kept. After them (SB3 has appended
        it, and may have saved best_model.zip): the rest is done as SB3 would, with the weights it evaluated (no
        update ran since), so that best_model.zip, evaluations.npz and the evaluation log agree."""
        history: list[list[Any]] = [self.evaluations_timesteps, self.evaluations_results, self.evaluations_length]
        kept = min(len(values) for values in history)  # SB3 appends them one after the other
        for values in history:
            del values[kept:]
        if kept > n_before:
            mean = float(np.mean(self.evaluations_results[-1]))
            self.last_mean_reward = mean
            if mean > best_before and self.best_mean_reward == best_before:  # SB3 records the best after saving it
                if self.best_model_save_path is not None:
                    self.model.save(os.path.join(self.best_model_save_path, "best_model"))
                self.best_mean_reward = mean
            if self.callback is not None:
                self.callback.on_step()  # the evaluation log (EvaluationLog writes each evaluation once)
        self.write_history()

    def write_history(self) -> None:
        """Rewrite ``evaluations.npz`` from the history held (a resumed run's, as at its checkpoint): the stopped
        run's evaluations after the checkpoint leave it; no history, no file."""
        if self.log_path is None:
            return
        if not self.evaluations_timesteps:
            Path(f"{self.log_path}.npz").unlink(missing_ok=True)
            return
        scratch = Path(self.log_path).parent / f".evaluations-{os.getpid()}-{id(self)}.partial.npz"
        arrays: dict[str, Any] = dict(
            timesteps=self.evaluations_timesteps, results=self.evaluations_results, ep_lengths=self.evaluations_length
        )
        if self.evaluations_successes:  # as EvalCallback writes it
            arrays["successes"] = self.evaluations_successes
        np.savez(scratch, **arrays)
        self._replace_history(scratch)

    def _replace_history(self, written: Path) -> None:
        if self.log_path is None or not written.exists():
            written.unlink(missing_ok=True)
            return
        with written.open("rb+") as f:
            os.fsync(f.fileno())
        os.replace(written, f"{self.log_path}.npz")

    def state(self) -> dict[str, Any]:
        keys = ("evaluations_timesteps", "evaluations_results", "evaluations_length", "evaluations_successes")
        return {
            **{k: list(getattr(self, k)) for k in keys},
            "best_mean_reward": self.best_mean_reward,
            "last_mean_reward": self.last_mean_reward,
            "next_evaluation": self.next_evaluation,
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
