"""The Optuna objective: sample, then train each seed as ``sb3-ddpg train`` would (``run.train``: the same envs,
model, evaluations after the updates, one ``learn()`` over the whole budget), in lockstep, reporting the mean over
seeds at every evaluation and pruning there."""

import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from sb3_ddpg_ext.callbacks import EvalAfterUpdates
from sb3_ddpg_ext.errors import UserError
from sb3_ddpg_ext.paper_ddpg.budget import NoGradientStep
from sb3_ddpg_ext.run import RunConfig, train
from sb3_ddpg_ext.search_space import sample_params
from sb3_ddpg_ext.tune.lockstep import Lockstep, StopWhenHalted, TakeTurns
from sb3_ddpg_ext.tune.spec import StudySpec

PRUNED = "pruned"


def run_config(spec: StudySpec, seed: int, sampled: dict[str, Any], device: str = "cpu") -> RunConfig:
    """One seed of a trial as a run of the run layer: the spec's ``fixed`` values, then the sampled ones, on the
    worker's torch ``device`` (``sb3-ddpg tune --device``)."""
    return RunConfig(
        spec.env_id,
        spec.timesteps,
        seed=seed,
        params={**spec.fixed_values(), **sampled},
        eval_every=spec.eval_every,
        eval_episodes=spec.eval_episodes,
        preset=spec.preset,
        normalize=spec.normalize,
        env_wrapper=list(spec.env_wrapper),
        policy=spec.policy,
        device=device,
    )


def evaluation_value(evaluation: EvalAfterUpdates) -> float:
    """The mean deterministic success rate where the env reports one (``info["is_success"]``, goal-conditioned
    tasks), else the mean return, of the evaluation just run (:func:`value_kind` says which)."""
    if value_kind(evaluation) == "success rate":
        return float(np.mean(evaluation.evaluations_successes[-1]))
    return float(evaluation.last_mean_reward)


def value_kind(evaluation: EvalAfterUpdates) -> str:
    """ "success rate" or "return": what :func:`evaluation_value` measures (recorded on each trial as ``value_is``)."""
    successes = evaluation.evaluations_successes  # SB3 collects them only from envs that report is_success
    return "success rate" if successes and len(successes) == len(evaluation.evaluations_results) else "return"


def objective(trial: Any, spec: StudySpec, device: str = "cpu") -> float:
    """Train ``n_seeds`` agents in lockstep; every ``eval_every`` steps report the mean of their evaluations
    (:func:`evaluation_value`). A seed that diverges, or never takes a gradient step, prunes the trial with its
    ``failure_reason``."""
    import optuna

    sampled = sample_params(trial, spec.search_space)
    seeds = [spec.seed + k for k in range(spec.n_seeds)]
    configs = [run_config(spec, seed, sampled, device) for seed in seeds]

    def on_round(step: int, values: list[float]) -> str | None:
        for seed, value in zip(seeds, values, strict=True):
            if not np.isfinite(value):
                return f"diverged at step {step}, seed {seed}: evaluation return is {value}"
        trial.report(float(np.mean(values)), step)
        return PRUNED if trial.should_prune() else None

    lockstep = Lockstep(len(seeds), on_round)
    errors: list[BaseException] = []
    kinds: set[str] = set()

    def run_seed(i: int) -> None:
        reason = None
        try:
            if not lockstep.wait_turn(i):
                return
            with tempfile.TemporaryDirectory(prefix="sb3-ddpg-trial-") as out:
                taking_turns = TakeTurns(lockstep, i, evaluation_value)
                result = train(configs[i], Path(out), callbacks=[StopWhenHalted(lockstep)], after_evaluation=taking_turns)
            kinds.add(value_kind(result.evaluation))
            if result.stopped is not None:  # diverged, or NaN/inf from the env (SB3's VecCheckNan)
                reason = f"seed {seeds[i]}: {result.stopped}"
        except BaseException as e:
            if isinstance(e, UserError) and isinstance(e.__cause__, NoGradientStep):  # episode-based train_freq
                reason = f"no gradient step in {spec.timesteps} steps (seed {seeds[i]}): raise timesteps or lower batch_size"
            else:
                errors.append(e)  # raised again in the trial's thread
                reason = f"error: {e}"
        finally:
            lockstep.finish(i, reason)

    threads = [
        threading.Thread(target=run_seed, args=(i,), name=f"trial seed {seed}", daemon=True) for i, seed in enumerate(seeds)
    ]
    with warnings.catch_warnings():  # what run.train's filters leave, entered and left by turns from the threads
        try:
            for thread in threads:
                thread.start()  # waits for the thread to start: Ctrl-C can land here too
            lockstep.wait_ended(len(threads))
        except KeyboardInterrupt:
            lockstep.halt("interrupted")  # every seed stops at its next env step
            # A thread left running in torch aborts the interpreter's exit ("terminate called ...").
            lockstep.wait_ended(sum(thread.ident is not None for thread in threads))
            raise
        finally:
            for thread in threads:
                if thread.ident is not None:
                    thread.join()  # each has called finish(): only its return is left
    if errors:
        raise errors[0]
    if lockstep.stop == PRUNED:
        raise optuna.TrialPruned()
    if lockstep.stop is not None:
        trial.set_user_attr("failure_reason", lockstep.stop)
        raise optuna.TrialPruned(lockstep.stop)
    trial.set_user_attr("seed_returns", lockstep.values)  # each seed's value (a success rate where value_is says so)
    trial.set_user_attr("value_is", " and ".join(sorted(kinds)))
    return float(np.mean(lockstep.values))
