"""One run of an agent: options -> envs (preset, HER, normalization, pixels, NaN checks) -> model -> evaluation after
the updates -> checkpoints -> run folder. ``sb3-ddpg train``, the tuning objective and ``benchmarks/reproduce.py``
assemble their runs here, as rl-zoo3's ``ExperimentManager`` does for training and tuning alike.

    config = RunConfig("Pendulum-v1", timesteps=30_000, seed=0, checkpoint_every=10_000)
    result = train(config, Path("runs/pendulum"))              # evaluations.csv written as it goes
    result = train(read_config(Path("runs/pendulum")), Path("runs/pendulum"), resume=True)  # after a stop
"""

import inspect
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
from stable_baselines3 import HerReplayBuffer
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.vec_env import VecCheckNan, VecEnv, VecNormalize

from sb3_ddpg_ext.callbacks import EvalAfterUpdates, StopTrainingOnDivergence
from sb3_ddpg_ext.checkpoint import (
    CHECKPOINTS,
    Checkpointer,
    latest_checkpoint,
    load_checkpoint,
    read_state,
    restore_run_files,
    resumed_logger,
)
from sb3_ddpg_ext.envs import eval_seed, is_goal_env, make_pixel_env, make_vec_env, wrapper_chain
from sb3_ddpg_ext.errors import UserError
from sb3_ddpg_ext.models import build_model, with_her
from sb3_ddpg_ext.paper_ddpg import PaperDDPG
from sb3_ddpg_ext.paper_ddpg.budget import NoGradientStep
from sb3_ddpg_ext.paper_ddpg.save_util import atomic_file
from sb3_ddpg_ext.rundir import BEST_MODEL_FILE, NORMALIZATION_FILE, remove_scratch_files, run_folder_lock

PRESETS = ("her-paper", "rllab")
EVAL_COLUMNS = ["timesteps", "mean_return", "std_return", "min_return", "max_return", "episodes", "wall_s"]


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run; saved with its checkpoints, so ``--resume`` needs nothing else.

    :param env_id: gymnasium id
    :param timesteps: the run's budget in env steps
    :param seed: seed of the training envs and the networks (the evaluation env: ``envs.eval_seed``)
    :param params: PaperDDPG constructor arguments over the paper's defaults (checked where they entered)
    :param preset: "her-paper" or "rllab" (``sb3_ddpg_ext.presets``); ``params`` override it
    :param her: SB3's HerReplayBuffer; None: on for goal-conditioned envs, off otherwise
    :param pixels: the paper's pixel observations and settings (section 7)
    :param normalize: SB3's VecNormalize: True, its keyword arguments, or None (the preset's where it has one)
    :param env_wrapper: gymnasium wrappers, "module.Class" or {"module.Class": kwargs}
    :param checkpoint_every: env steps between checkpoints (None: none)
    """

    env_id: str
    timesteps: int
    seed: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    n_envs: int = 1
    eval_every: int = 5_000
    eval_episodes: int = 10
    preset: str | None = None
    her: bool | None = None
    her_strategy: str = "future"
    her_n_goals: int = 4
    pixels: bool = False
    normalize: bool | dict[str, Any] | None = None
    env_wrapper: list[Any] = field(default_factory=list)
    policy: str | None = None
    device: str = "auto"
    verbose: int = 0
    tensorboard_log: str | None = None
    checkpoint_every: int | None = None

    def __post_init__(self) -> None:
        if self.preset not in (None, *PRESETS):
            raise UserError(f"preset '{self.preset}' is not one of {', '.join(PRESETS)}")
        for name in ("timesteps", "n_envs", "eval_every", "eval_episodes", "her_n_goals"):
            if getattr(self, name) < 1:
                raise UserError(f"{name}={getattr(self, name)} must be >= 1")
        if self.checkpoint_every is not None and self.checkpoint_every < 1:
            raise UserError(f"checkpoint_every={self.checkpoint_every} must be >= 1")
        if self.checkpoint_every is not None and self.checkpoint_every >= self.timesteps:
            raise UserError(
                f"checkpoint_every={self.checkpoint_every} >= timesteps={self.timesteps}: the run would end before its "
                "first checkpoint, and could not be resumed; give a smaller interval, or none"
            )


def make_envs(config: RunConfig) -> tuple[VecEnv, VecEnv]:
    """The training and evaluation envs: wrappers, pixels, normalization (the preset's or the config's) and SB3's
    ``VecCheckNan``, which stops a run on NaN/inf from the env or in the actions."""
    return make_env(config, training=True), make_env(config, training=False)


def make_env(config: RunConfig, training: bool) -> VecEnv:
    """The training env (``n_envs`` copies, seeded with ``seed``) or one evaluation env (seeded with ``eval_seed``,
    normalization statistics frozen: each evaluation copies the training env's)."""
    make = make_pixel_env if config.pixels else make_vec_env
    wrap = wrapper_chain(config.env_wrapper)
    kwargs: dict[str, Any] = {"wrapper_class": wrap} if wrap is not None else {}
    n_envs, seed = (config.n_envs, config.seed) if training else (1, eval_seed(config.seed))
    env = make(config.env_id, n_envs=n_envs, seed=seed, **kwargs)
    normalize = config.normalize
    if normalize is None and config.preset == "her-paper":
        from sb3_ddpg_ext.presets import HER_PAPER, NORMALIZE

        normalize = {**NORMALIZE, "gamma": config.params.get("gamma", HER_PAPER["gamma"])}
    if normalize:
        kwargs = normalize if isinstance(normalize, dict) else {}
        env = VecNormalize(env, **kwargs) if training else VecNormalize(env, **{**kwargs, "training": False})
    return VecCheckNan(env, raise_exception=True)


def model_params(config: RunConfig, env: VecEnv) -> dict[str, Any]:
    """The constructor arguments: the pixel settings, the preset, then ``params``; HER as ``her`` asks."""
    from sb3_ddpg_ext.presets import her_paper, rllab

    params = {**PaperDDPG.pixel_hyperparameters(), **config.params} if config.pixels else dict(config.params)
    if config.preset == "rllab":
        params = rllab(**params)
    elif config.preset == "her-paper":
        user_buffer_kwargs = "replay_buffer_kwargs" in params
        params = her_paper(env, **params)
        if not user_buffer_kwargs:  # her_strategy and her_n_goals decide (their defaults are the preset's)
            params.pop("replay_buffer_kwargs")
    if is_goal_env(env) if config.her is None else config.her:
        params = with_her(env, params, config.her_strategy, config.her_n_goals)
    elif params.get("replay_buffer_class") is HerReplayBuffer and config.her is False:
        params = {k: v for k, v in params.items() if k not in ("replay_buffer_class", "replay_buffer_kwargs")}
    return params


def build(config: RunConfig, env: VecEnv) -> PaperDDPG:
    """PaperDDPG on ``env`` with the config's parameters and settings."""
    return build_model(
        env,
        model_params(config, env),
        seed=config.seed,
        policy=config.policy,
        device=config.device,
        verbose=config.verbose,
        tensorboard_log=config.tensorboard_log,
        env_id=config.env_id,
    )


class EvaluationLog(BaseCallback):
    """Rewrites the evaluation CSV after each evaluation (SB3's ``callback_after_eval``), atomically: one row per
    evaluation step, with its wall-clock seconds since the run began (resumed runs add their earlier time)."""

    def __init__(self, path: Path, started: float, wall_before: float = 0.0) -> None:
        super().__init__()
        self.path, self.started, self.wall_before = path, started, wall_before
        self.walls: list[float] = []

    def _on_step(self) -> bool:
        evaluation = cast(EvalAfterUpdates, self.parent)  # called again for an evaluation Ctrl-C cut short
        while len(self.walls) < len(evaluation.evaluations_timesteps):
            self.walls.append(self.wall_before + time.time() - self.started)
        self.write()
        return True

    def write(self) -> None:
        import pandas as pd

        evaluation = cast(EvalAfterUpdates, self.parent)  # the callback_after_eval of train()'s EvalAfterUpdates
        results = evaluation.evaluations_results
        rows = [
            dict(
                timesteps=t,
                mean_return=np.mean(r),
                std_return=np.std(r),
                min_return=np.min(r),
                max_return=np.max(r),
                episodes=len(r),
                wall_s=round(w, 1),
            )
            for t, r, w in zip(evaluation.evaluations_timesteps, results, self.walls, strict=True)
        ]
        columns = list(EVAL_COLUMNS)
        successes = evaluation.evaluations_successes  # SB3 collects info["is_success"] at each episode's end
        if successes and len(successes) == len(rows):
            for row, s in zip(rows, successes, strict=True):
                row["success_rate"] = float(np.mean(s))
            columns.append("success_rate")
        with atomic_file(self.path) as tmp:
            pd.DataFrame(rows, columns=columns).to_csv(tmp, index=False)


@dataclass
class RunResult:
    """What a run did: the model, its evaluations, and how it ended."""

    model: OffPolicyAlgorithm
    evaluation: EvalAfterUpdates
    stopped: str | None = None  # why training stopped on non-finite values, or None
    interrupted: bool = False
    resumed_from: int | None = None  # the checkpoint's step, for a resumed run
    checkpoint: Path | None = None  # the last checkpoint written

    def best(self) -> tuple[int, float, float] | None:
        """(step, mean, std) of the best finite evaluation: the one ``best_model.zip`` holds, the first of equal means
        (SB3's ``EvalCallback`` saves only on a strictly greater mean; sparse rewards tie often: -50 on Fetch)."""
        ev = self.evaluation
        rows = zip(ev.evaluations_timesteps, ev.evaluations_results, strict=True)
        finite = [(int(t), float(np.mean(r)), float(np.std(r))) for t, r in rows if np.isfinite(np.mean(r))]
        return max(finite, key=lambda row: row[1]) if finite else None  # max() keeps the first of equal keys


def read_config(out: Path) -> RunConfig:
    """The options of the run in ``out``, from its newest checkpoint."""
    if out.is_file():
        raise UserError(f"{out} is a file: --resume takes the run's folder ({out.parent})")
    if not out.is_dir():
        raise UserError(f"{out}: no such run folder to resume")
    return read_state(resumable_checkpoint(out))["config"]


def resumable_checkpoint(out: Path) -> Path:
    """The newest checkpoint of the run in ``out``; a UserError if it has none."""
    checkpoint = latest_checkpoint(out / CHECKPOINTS)
    if checkpoint is None:
        raise UserError(
            f"{out} holds no checkpoint to resume: a run writes its first after --checkpoint-every N steps, and one "
            "started without that option cannot be resumed"
        )
    return checkpoint


def non_finite_reason(error: ValueError, model: BaseAlgorithm) -> str | None:
    """SB3's VecCheckNan error as one line: NaN/inf from the env, or actions from a diverged policy; else None."""
    from sb3_ddpg_ext.callbacks import divergence_reason

    found, sep, origin = str(error).partition(".\r\nOriginated from the ")
    if not sep:
        return None
    step = model.num_timesteps
    if origin.startswith("RL model"):
        return f"diverged at step {step}: {found.removeprefix('found ')} ({divergence_reason(model) or 'policy output'})"
    return f"the environment gave {found.removeprefix('found ')} at step {step} (SB3's VecCheckNan): fix or wrap the env"


def train(
    config: RunConfig,
    out: Path,
    resume: bool = False,
    eval_csv: Path | None = None,
    make_model: Callable[[VecEnv], OffPolicyAlgorithm] | None = None,
    progress_bar: bool = False,
    callbacks: list[BaseCallback] | None = None,
    after_evaluation: BaseCallback | None = None,
) -> RunResult:
    """Train ``config`` into the run folder ``out`` (which must exist): best_model.zip, evaluations.csv/.npz and,
    with ``checkpoint_every``, ``checkpoints/``. ``resume`` continues from the newest checkpoint to the budget: the step
    count, schedules, evaluations and the replay buffer continue, and a new training episode starts (an env's state
    cannot be saved in general). ``make_model`` builds another algorithm on the env (the benchmarks' SB3 DDPG).
    ``after_evaluation`` runs after each evaluation, with the ``EvalAfterUpdates`` as its ``parent``; returning False
    stops the run (the tuning objective reports and prunes there). The caller saves the final model: ``result.model``.
    """
    with run_folder_lock(out):  # another process training in ``out`` is refused here, in one line
        remove_scratch_files(out)  # a killed run's partial writes: nothing else writes here now
        return _train(config, out, resume, eval_csv, make_model, progress_bar, callbacks, after_evaluation)


def _train(
    config: RunConfig,
    out: Path,
    resume: bool,
    eval_csv: Path | None,
    make_model: Callable[[VecEnv], OffPolicyAlgorithm] | None,
    progress_bar: bool,
    callbacks: list[BaseCallback] | None,
    after_evaluation: BaseCallback | None,
) -> RunResult:
    started = time.time()
    env, eval_env = make_envs(config)
    state: dict[str, Any] = {}
    if resume:
        checkpoint = resumable_checkpoint(out)
        model, state = load_checkpoint(checkpoint, env, config.device)
        restore_run_files(checkpoint, out, [BEST_MODEL_FILE])  # the best as the evaluations restored below know it
        # SB3 has no purge on resume: without one, TensorBoard shows the stopped run's steps after the checkpoint too.
        tb_log_name = inspect.signature(model.learn).parameters["tb_log_name"].default
        logger = resumed_logger(model, tb_log_name, state.get("tensorboard_dir"))  # not a later run's in the same folder
        if logger is not None:
            model.set_logger(logger)
    else:
        model = make_model(env) if make_model is not None else build(config, env)
    divergence = StopTrainingOnDivergence(verbose=0)  # the callers say it in their own words
    log = EvaluationLog(eval_csv or out / "evaluations.csv", started, state.get("wall_s", 0.0))
    after: BaseCallback = log if after_evaluation is None else CallbackList([log, after_evaluation])
    evaluation = EvalAfterUpdates(
        eval_env,
        config.eval_every,
        seed=eval_seed(config.seed),
        make_eval_env=lambda: make_env(config, training=False),
        n_eval_episodes=config.eval_episodes,
        deterministic=True,
        best_model_save_path=str(out),
        log_path=str(out),
        verbose=0,
        callback_after_eval=after,
    )
    log.parent = evaluation  # in a CallbackList it gets it when learn() starts; a resumed log writes before
    if resume:
        evaluation.restore(state["evaluation"])
        log.walls = list(state["eval_walls"])
        log.write()  # the logs as they were at the checkpoint: the steps after it are evaluated again, once
        evaluation.write_history()
    run_callbacks: list[BaseCallback] = [divergence, evaluation, *(callbacks or [])]
    checkpointer = None
    if config.checkpoint_every:

        def run_state() -> dict[str, Any]:
            wall = log.wall_before + time.time() - started
            tensorboard = model.logger.get_dir() if model.tensorboard_log is not None else None
            return {
                "config": config,
                "evaluation": evaluation.state(),
                "eval_walls": log.walls,
                "wall_s": wall,
                "tensorboard_dir": tensorboard,
            }

        checkpointer = Checkpointer(out / CHECKPOINTS, config.checkpoint_every, run_state, [out / BEST_MODEL_FILE])
        run_callbacks.append(checkpointer)
    result = RunResult(model, evaluation, resumed_from=model.num_timesteps if resume else None)
    remaining = config.timesteps - model.num_timesteps
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", NoGradientStep)  # a whole run without a gradient step is an error
            if remaining > 0:
                model.learn(
                    remaining, callback=CallbackList(run_callbacks), reset_num_timesteps=not resume, progress_bar=progress_bar
                )
    except KeyboardInterrupt:
        result.interrupted = True
    except NoGradientStep as e:  # an episode-based train_freq: known only at the end
        raise UserError(str(e).removeprefix("PaperDDPG.learn: ") + f" ({out} holds the evaluations, if any ran)") from e
    except ValueError as e:
        result.stopped = non_finite_reason(e, model)
        if result.stopped is None:
            raise
    if divergence.reason is not None:
        result.stopped = f"diverged at step {divergence.diverged_at}: {divergence.reason}"
    evaluation.eval_env.close()
    reached = model.num_timesteps >= config.timesteps and not result.stopped  # not a run stopped early
    if reached and remaining > 0 and getattr(model, "_n_updates", 1) == 0:  # PaperDDPG says it above; SB3's say nothing
        raise UserError(
            f"{type(model).__name__} took no gradient step in {config.timesteps} steps (learning_starts "
            f"{getattr(model, 'learning_starts', '?')}): raise the budget ({out} holds the evaluations, if any ran)"
        )
    result.checkpoint = checkpointer.written if checkpointer is not None else None
    return result


def saved_normalization(env: VecEnv, model_path: str | Path) -> VecEnv:
    """``env`` normalized as the saved model saw its observations in training, for evaluation (statistics frozen,
    rewards raw): with the statistics saved inside it (``PaperDDPG.save``: those of the moment its weights were saved,
    so best_model.zip gets its step's, not the run's last), else from the vecnormalize.pkl beside the model (what
    rl-zoo3 and SB3 users write); ``env`` itself for a model trained without normalization."""
    from sb3_ddpg_ext.paper_ddpg.save_util import read_saved_data, zip_path

    try:
        state = read_saved_data(zip_path(model_path)).get("observation_normalization")
    except (OSError, ValueError):
        return env  # not a readable model: loading it says why, in one line
    stats = Path(model_path).with_name(NORMALIZATION_FILE)
    if state:
        normalized = VecNormalize(env, training=False, norm_reward=False)
        normalized.__dict__.update(state)
    elif stats.is_file():
        normalized = VecNormalize.load(str(stats), env)
    else:
        return env
    normalized.training, normalized.norm_reward = False, False
    return normalized
