"""The ``sb3-ddpg`` command: train, evaluate, tune, tune-report and zoo.

Argument parsing and thin commands. This is the only module that turns a UserError into one line and exit code 2;
nothing imports it.
"""

import argparse
import importlib.util
import sys
from pathlib import Path
from typing import Any

import yaml

from sb3_ddpg_ext.errors import UserError


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs (values parsed as YAML), names checked against PaperDDPG's constructor."""
    from sb3_ddpg_ext.experiment import check_names

    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise UserError(f"--param {pair!r} is not KEY=VALUE, e.g. --param tau=0.005")
        params[key] = yaml.safe_load(value)
    check_names(params, "--param")
    return params


def save_eval_log(eval_callback: Any, csv_path: Path) -> None:
    """SB3's EvalCallback results as one CSV row per evaluation, with the success rate where the env reports one."""
    import numpy as np
    import pandas as pd

    rows = [
        dict(timesteps=t, mean_return=np.mean(r), std_return=np.std(r), min_return=np.min(r), max_return=np.max(r))
        for t, r in zip(eval_callback.evaluations_timesteps, eval_callback.evaluations_results, strict=True)
    ]
    columns = ["timesteps", "mean_return", "std_return", "min_return", "max_return"]
    successes = eval_callback.evaluations_successes  # SB3 collects info["is_success"] of each episode's last step
    if successes and len(successes) == len(rows):
        for row, s in zip(rows, successes, strict=True):
            row["success_rate"] = float(np.mean(s))
        columns.append("success_rate")
    pd.DataFrame(rows, columns=columns).to_csv(csv_path, index=False)


# --- Goal-conditioned envs: HER (Andrychowicz et al. 2017) and the HER paper's preset ------------------------------


def add_her_arguments(parser: argparse.ArgumentParser) -> None:
    her = parser.add_argument_group("goal-conditioned envs (HER)")
    her.add_argument(
        "--her",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="HerReplayBuffer (default: on for goal-conditioned envs such as FetchPush-v4, off otherwise)",
    )
    her.add_argument(
        "--her-strategy",
        default="future",
        choices=["future", "final", "episode"],
        help="goal selection strategy (the HER paper's: future)",
    )
    her.add_argument("--her-n-goals", type=int, default=4, help="relabelled goals per transition, k (the HER paper's: 4)")
    her.add_argument(
        "--preset",
        choices=["her-paper"],
        default=None,
        help="her-paper: the HER paper's DDPG settings and observation normalization (sb3_ddpg_ext.presets); "
        "-p values override them",
    )


def her_setup(args: argparse.Namespace, env: Any, eval_env: Any, params: dict[str, Any]) -> tuple[Any, Any, dict]:
    """The train and eval envs and the parameters with HER and the preset applied, as ``args`` ask."""
    from stable_baselines3 import HerReplayBuffer

    from sb3_ddpg_ext.envs import is_goal_env
    from sb3_ddpg_ext.experiment import with_her
    from sb3_ddpg_ext.presets import her_paper, her_paper_env

    if args.preset == "her-paper":
        user_buffer_kwargs = "replay_buffer_kwargs" in params
        params = her_paper(env, **params)
        if not user_buffer_kwargs:  # --her-strategy and --her-n-goals decide (their defaults are the preset's)
            params.pop("replay_buffer_kwargs")
        env, eval_env = her_paper_env(env), her_paper_env(eval_env, training=False)
    if is_goal_env(env) if args.her is None else args.her:
        params = with_her(env, params, args.her_strategy, args.her_n_goals)
        print(f"HER: {params['replay_buffer_kwargs']}")
    elif params.get("replay_buffer_class") is HerReplayBuffer:  # --no-her with the preset
        params = {k: v for k, v in params.items() if k not in ("replay_buffer_class", "replay_buffer_kwargs")}
    return env, eval_env, params


def load_normalization(model_path: Path, env: Any) -> Any:
    """``env`` wrapped in the VecNormalize statistics saved next to the model by ``train --preset her-paper``."""
    from stable_baselines3.common.vec_env import VecNormalize

    stats = model_path.with_name("vecnormalize.pkl")
    if not stats.exists():
        return env
    env = VecNormalize.load(str(stats), env)
    env.training, env.norm_reward = False, False
    return env


def cmd_train(args: argparse.Namespace) -> int:
    import numpy as np
    from stable_baselines3.common.callbacks import EvalCallback

    from sb3_ddpg_ext import plots
    from sb3_ddpg_ext.envs import eval_seed, make_vec_env
    from sb3_ddpg_ext.experiment import build_model

    params = parse_params(args.param)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    env = make_vec_env(args.env, n_envs=args.n_envs, seed=args.seed)
    eval_env = make_vec_env(args.env, n_envs=1, seed=eval_seed(args.seed))
    env, eval_env, params = her_setup(args, env, eval_env, params)
    model = build_model(
        env, params, seed=args.seed, device=args.device, verbose=args.verbose, tensorboard_log=args.tensorboard
    )
    eval_callback = EvalCallback(
        eval_env,
        eval_freq=max(args.eval_every // args.n_envs, 1),
        n_eval_episodes=args.eval_episodes,
        deterministic=True,
        best_model_save_path=str(out),
        log_path=str(out),  # also SB3's evaluations.npz
        verbose=0,
    )
    interrupted = False
    try:
        model.learn(args.timesteps, callback=eval_callback, progress_bar=not args.no_progress_bar)
    except KeyboardInterrupt:
        interrupted = True
    model.save(out / "model.zip")
    if model.get_vec_normalize_env() is not None:
        model.get_vec_normalize_env().save(str(out / "vecnormalize.pkl"))  # read back by evaluate
    csv_path = out / "evaluations.csv"
    save_eval_log(eval_callback, csv_path)
    if len(eval_callback.evaluations_timesteps) > 0:
        plots.learning_curve(csv_path, out / "learning_curve.png", f"PaperDDPG on {args.env} (seed {args.seed})")
        last, at = eval_callback.evaluations_results[-1], eval_callback.evaluations_timesteps[-1]
        success = eval_callback.evaluations_successes[-1:] or [[]]
        rate = f", success rate {np.mean(success[-1]):.2f}" if success[-1] else ""
        print(f"{args.env}: last evaluation at {at} steps: {np.mean(last):.1f} +/- {np.std(last):.1f}{rate}")
    if interrupted:
        print(f"interrupted at {model.num_timesteps} steps; model and logs saved to {out}", file=sys.stderr)
        return 130
    print(f"saved {out / 'model.zip'}, {csv_path} and {out / 'learning_curve.png'}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    import numpy as np

    from sb3_ddpg_ext import PaperDDPG, plots
    from sb3_ddpg_ext.envs import make_vec_env
    from sb3_ddpg_ext.experiment import evaluate_episodes

    model_path = Path(args.model)
    if not model_path.exists() and not model_path.with_suffix(".zip").exists():
        raise UserError(f"no model at {model_path}: pass the .zip written by 'sb3-ddpg train'")
    env = make_vec_env(args.env, n_envs=1, seed=args.seed)
    env = load_normalization(model_path, env)
    model = PaperDDPG.load(model_path, env=env, device=args.device, buffer_size=1)  # no replay needed to evaluate
    result = evaluate_episodes(model, env, args.episodes)
    returns = result.returns
    success = "" if result.success_rate is None else f", success rate {result.success_rate:.2f}"
    print(
        f"{args.env}, {args.episodes} episodes: mean {returns.mean():.2f}, std {returns.std():.2f}, "
        f"max {returns.max():.2f}, min {returns.min():.2f}, median {np.median(returns):.2f}{success}"
    )
    png = Path(args.histogram) if args.histogram else model_path.with_name(model_path.stem + "_returns.png")
    plots.return_histogram(returns, png, f"{model_path.name} on {args.env}")
    print(f"histogram: {png}")
    return 0


def _require(extra: str, module: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise UserError(f"this command needs the '{extra}' extra: pip install 'sb3-ddpg-ext[{extra}]'")


def cmd_zoo(args: argparse.Namespace) -> int:
    _require("zoo", "rl_zoo3")
    from sb3_ddpg_ext import zoo

    return zoo.main(args.zoo_args)


def spec_from_args(args: argparse.Namespace) -> Any:
    """The study spec: ``--spec`` (a file or a shipped name) with the command-line values on top."""
    from sb3_ddpg_ext.tune.spec import StudySpec

    data: dict[str, Any] = {}
    if args.spec:
        data = StudySpec.from_yaml(args.spec).to_dict()
    overrides = {"env_id": args.env, "n_trials": args.n_trials, "timesteps": args.timesteps, "n_seeds": args.n_seeds,
                 "eval_every": args.eval_every, "study_name": args.study_name}  # fmt: skip
    if args.env and data.get("env_id") not in (None, args.env):
        raise UserError(f"--env {args.env} differs from the spec's env_id {data['env_id']}")
    data.update({k: v for k, v in overrides.items() if v is not None})
    if "env_id" not in data:
        raise UserError("give --env ENV_ID or --spec pendulum (a shipped spec) or --spec path/to/spec.yaml")
    return StudySpec.from_dict(data)


def cmd_tune(args: argparse.Namespace) -> int:
    _require("tune", "optuna")
    import optuna

    from sb3_ddpg_ext.envs import make_vec_env
    from sb3_ddpg_ext.tune.storage import EMBEDDED_STORAGE, open_storage
    from sb3_ddpg_ext.tune.workers import create_study, run_worker, worker_seed

    spec = spec_from_args(args)
    make_vec_env(spec.env_id).close()  # a clear error for a bad env id, before the study is touched
    storage = open_storage(args.storage, Path(args.out), args.heartbeat_interval, args.grace_period)
    seed = worker_seed(spec.seed) if args.sampler_seed is None else args.sampler_seed
    study = create_study(spec, storage, seed)
    print(f"study '{spec.name}' on {args.storage or Path(args.out) / EMBEDDED_STORAGE}; sampler seed {seed}")
    optuna.logging.set_verbosity(optuna.logging.INFO)
    run_worker(study, spec, spec.n_trials)
    best = study.best_trial
    print(f"best trial #{best.number}: {best.value:.2f} with {best.params}")
    return 0


def cmd_tune_report(args: argparse.Namespace) -> int:
    _require("tune", "optuna")
    from sb3_ddpg_ext.tune.report import write_report
    from sb3_ddpg_ext.tune.storage import open_storage

    print(write_report(open_storage(args.storage, Path(args.out)), args.study_name, Path(args.out), args.fresh_seeds))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sb3-ddpg", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train PaperDDPG with the paper's defaults")
    train.add_argument("--env", required=True, help="gymnasium environment id, e.g. Pendulum-v1")
    train.add_argument("--timesteps", type=int, required=True)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", required=True, help="folder for model.zip, evaluations.csv and learning_curve.png")
    train.add_argument("--eval-every", type=int, default=5000, help="deterministic evaluation every K steps")
    train.add_argument("--eval-episodes", type=int, default=10)
    train.add_argument("--n-envs", type=int, default=1)
    train.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE", help="override a PaperDDPG argument")
    train.add_argument("--device", default="auto")
    train.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest for the paper's small nets)")
    train.add_argument("--tensorboard", default=None, help="TensorBoard log folder")
    train.add_argument("--no-progress-bar", action="store_true")
    train.add_argument("-v", "--verbose", type=int, default=0)
    add_her_arguments(train)
    train.set_defaults(func=cmd_train)

    evaluate = sub.add_parser("evaluate", help="noise-free evaluation of a saved model")
    evaluate.add_argument("model")
    evaluate.add_argument("--env", required=True)
    evaluate.add_argument("--episodes", type=int, default=10)
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--histogram", default=None, help="PNG path (default: next to the model)")
    evaluate.add_argument("--device", default="auto")
    evaluate.add_argument("--threads", type=int, default=1)
    evaluate.set_defaults(func=cmd_evaluate)

    zoo = sub.add_parser("zoo", help="rl-zoo3 train/enjoy/optimize with the paper_ddpg algorithm", add_help=False)
    zoo.add_argument("zoo_args", nargs=argparse.REMAINDER)
    zoo.set_defaults(func=cmd_zoo, threads=None)

    tune = sub.add_parser("tune", help="Optuna study over tau, actor/critic learning rates and OU sigma")
    tune.add_argument("--env", default=None, help="gymnasium id (or take it from --spec)")
    tune.add_argument("--spec", default=None, help="study spec: a shipped name (pendulum, halfcheetah, ...) or a YAML path")
    tune.add_argument("--n-trials", type=int, default=None, help="finished trials of the whole study")
    tune.add_argument("--timesteps", type=int, default=None, help="env steps per trial and seed")
    tune.add_argument("--n-seeds", type=int, default=None, help="seeds per trial; the value is their mean")
    tune.add_argument("--eval-every", type=int, default=None)
    tune.add_argument("--storage", default=None, help="default: a journal file under --out; or postgresql+psycopg://...")
    tune.add_argument("--study-name", default=None)
    tune.add_argument("--out", default="runs/tune", help="run folder (embedded storage, logs)")
    tune.add_argument("--sampler-seed", type=int, default=None, help="default: derived from host and process id")
    tune.add_argument("--heartbeat-interval", type=int, default=60, help="RDB storages: seconds between heartbeats")
    tune.add_argument("--grace-period", type=int, default=180, help="RDB storages: seconds before a silent trial is stale")
    tune.add_argument("--threads", type=int, default=1)
    tune.set_defaults(func=cmd_tune)

    report = sub.add_parser("tune-report", help="report, plots and zoo YAML of a study")
    report.add_argument("--storage", default=None, help="as given to tune (default: the journal under --out)")
    report.add_argument("--study-name", required=True)
    report.add_argument("--out", default="runs/tune", help="where the plots, report.md and the zoo YAML go")
    report.add_argument("--fresh-seeds", type=int, default=0, help="re-train paper and best on N unseen seeds")
    report.set_defaults(func=cmd_tune_report, threads=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.threads is not None:
            import torch as th

            th.set_num_threads(args.threads)
        return args.func(args)
    except UserError as e:
        print(f"sb3-ddpg {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
