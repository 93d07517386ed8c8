"""The Optuna objective: sample, build, train with periodic deterministic evaluations that report and prune."""

from typing import Any

import numpy as np
from stable_baselines3.common.vec_env import VecEnv, VecNormalize, sync_envs_normalization

from sb3_ddpg_ext.callbacks import divergence_reason
from sb3_ddpg_ext.envs import eval_seed, is_goal_env, make_vec_env, wrapper_chain
from sb3_ddpg_ext.experiment import build_model, evaluate_episodes, with_her
from sb3_ddpg_ext.search_space import sample_params
from sb3_ddpg_ext.tune.spec import StudySpec


def make_envs(spec: StudySpec, seed: int) -> tuple[VecEnv, VecEnv]:
    """The training and evaluation envs of one seed, with the spec's wrappers and VecNormalize."""
    wrap = wrapper_chain(spec.env_wrapper)
    env = make_vec_env(spec.env_id, seed=seed, wrapper_class=wrap)
    eval_env = make_vec_env(spec.env_id, seed=eval_seed(seed), wrapper_class=wrap)
    normalize = spec.normalize
    if normalize is None and spec.preset == "her-paper":
        from sb3_ddpg_ext.presets import NORMALIZE

        normalize = NORMALIZE
    if normalize:
        kwargs = normalize if isinstance(normalize, dict) else {}
        env, eval_env = VecNormalize(env, **kwargs), VecNormalize(eval_env, training=False, **kwargs)
    return env, eval_env


def model_params(spec: StudySpec, env: VecEnv, sampled: dict[str, Any]) -> dict[str, Any]:
    """The spec's preset, then ``fixed``, then the sampled values; HER for a goal-conditioned env that names no buffer."""
    params = {**spec.fixed_values(), **sampled}
    if spec.preset == "her-paper":
        from sb3_ddpg_ext.presets import her_paper

        params = her_paper(env, **params)
    if is_goal_env(env) and "replay_buffer_class" not in params:
        params = with_her(env, params)
    return params


def objective(trial: Any, spec: StudySpec) -> float:
    """Train ``n_seeds`` agents side by side; every ``eval_every`` steps report the mean deterministic success rate
    where the env reports one (``info["is_success"]``, goal-conditioned tasks), else the mean return."""
    import optuna

    sampled = sample_params(trial, spec.search_space)
    seeds = [spec.seed + k for k in range(spec.n_seeds)]
    envs = [make_envs(spec, s) for s in seeds]
    models = [build_model(env, model_params(spec, env, sampled), seed=s, policy=spec.policy, device="cpu")
              for s, (env, _) in zip(seeds, envs, strict=True)]  # fmt: skip
    eval_envs = [eval_env for _, eval_env in envs]
    try:
        for step in range(spec.eval_every, spec.timesteps + 1, spec.eval_every):
            returns = []
            for seed, model, eval_env in zip(seeds, models, eval_envs, strict=True):
                model.learn(spec.eval_every, reset_num_timesteps=False)
                mean_return = float("nan")
                reason = divergence_reason(model)
                if reason is None:
                    sync_envs_normalization(model.get_env(), eval_env)
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
        for env in [*eval_envs, *(model.get_env() for model in models)]:
            env.close()
