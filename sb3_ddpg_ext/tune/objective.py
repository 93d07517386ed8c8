"""The Optuna objective: sample, build (through the run layer, as ``sb3-ddpg train``), train with periodic
deterministic evaluations that report and prune."""

from typing import Any

import numpy as np
from stable_baselines3.common.vec_env import sync_envs_normalization

from sb3_ddpg_ext.callbacks import divergence_reason
from sb3_ddpg_ext.envs import eval_seed
from sb3_ddpg_ext.models import evaluate_episodes
from sb3_ddpg_ext.run import RunConfig, build, make_envs, non_finite_reason
from sb3_ddpg_ext.search_space import sample_params
from sb3_ddpg_ext.tune.spec import StudySpec


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


def objective(trial: Any, spec: StudySpec, device: str = "cpu") -> float:
    """Train ``n_seeds`` agents side by side; every ``eval_every`` steps report the mean deterministic success rate
    where the env reports one (``info["is_success"]``, goal-conditioned tasks), else the mean return."""
    import optuna

    sampled = sample_params(trial, spec.search_space)
    seeds = [spec.seed + k for k in range(spec.n_seeds)]
    configs = [run_config(spec, seed, sampled, device) for seed in seeds]
    envs = [make_envs(config) for config in configs]
    models = [build(config, env) for config, (env, _) in zip(configs, envs, strict=True)]
    try:
        for step in range(spec.eval_every, spec.timesteps + 1, spec.eval_every):
            returns = []
            for seed, model, (env, eval_env) in zip(seeds, models, envs, strict=True):
                try:
                    model.learn(spec.eval_every, reset_num_timesteps=False)
                    reason = divergence_reason(model)
                except ValueError as e:  # SB3's VecCheckNan: NaN/inf from the env or in the actions
                    reason = non_finite_reason(e, model)
                    if reason is None:
                        raise
                mean_return = float("nan")
                if reason is None:
                    sync_envs_normalization(env, eval_env)
                    eval_env.seed(eval_seed(seed) + step)  # the episodes EvalAfterUpdates would run at this step
                    result = evaluate_episodes(model, eval_env, spec.eval_episodes)
                    mean_return = float(result.returns.mean())
                    reason = None if np.isfinite(mean_return) else f"evaluation return is {mean_return}"
                    if reason is None and result.success_rate is not None:
                        mean_return = result.success_rate
                if reason is not None:
                    trial.set_user_attr("failure_reason", f"diverged at step {step}, seed {seed}: {reason}")
                    raise optuna.TrialPruned(f"diverged: {reason}")
                returns.append(mean_return)
            value = float(np.mean(returns))
            trial.report(value, step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        idle = [seed for seed, model in zip(seeds, models, strict=True) if model._n_updates == 0]
        if idle:  # an episode-based train_freq: the spec check could not tell; the value would be an untrained agent's
            reason = f"no gradient step in {spec.timesteps} steps (seed {idle[0]}): raise timesteps or lower batch_size"
            trial.set_user_attr("failure_reason", reason)
            raise optuna.TrialPruned(reason)
        trial.set_user_attr("seed_returns", returns)
        return value
    finally:
        for env, eval_env in envs:
            env.close()
            eval_env.close()
