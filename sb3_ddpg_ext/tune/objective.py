"""The Optuna objective: sample, build, train with periodic deterministic evaluations that report and prune."""

from typing import Any

import numpy as np

from sb3_ddpg_ext.callbacks import divergence_reason
from sb3_ddpg_ext.envs import eval_seed, make_vec_env
from sb3_ddpg_ext.experiment import build_model, evaluate
from sb3_ddpg_ext.search_space import sample_params
from sb3_ddpg_ext.tune.spec import StudySpec


def objective(trial: Any, spec: StudySpec) -> float:
    """Train ``n_seeds`` agents side by side; report the mean deterministic return every ``eval_every`` steps."""
    import optuna

    params = {**spec.fixed, **sample_params(trial, spec.search_space)}
    seeds = [spec.seed + k for k in range(spec.n_seeds)]
    models = [build_model(make_vec_env(spec.env_id, seed=s), params, seed=s, device="cpu") for s in seeds]
    eval_envs = [make_vec_env(spec.env_id, seed=eval_seed(s)) for s in seeds]
    try:
        for step in range(spec.eval_every, spec.timesteps + 1, spec.eval_every):
            returns = []
            for seed, model, eval_env in zip(seeds, models, eval_envs, strict=True):
                model.learn(spec.eval_every, reset_num_timesteps=False)
                mean_return = float("nan")
                reason = divergence_reason(model)
                if reason is None:
                    mean_return = float(evaluate(model, eval_env, spec.eval_episodes).mean())
                    reason = None if np.isfinite(mean_return) else f"evaluation return is {mean_return}"
                if reason is not None:
                    trial.set_user_attr("failure_reason", f"diverged at step {step}, seed {seed}: {reason}")
                    raise optuna.TrialPruned(f"diverged: {reason}")
                returns.append(mean_return)
            value = float(np.mean(returns))
            trial.report(value, step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        trial.set_user_attr("seed_returns", returns)
        return value
    finally:
        for env in [*eval_envs, *(model.get_env() for model in models)]:
            env.close()
