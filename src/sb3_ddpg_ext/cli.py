"""The ``sb3-ddpg`` command: train, evaluate, tune, tune-report and zoo."""

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from sb3_ddpg_ext import tuning  # optuna itself is imported only when a tuning command runs


class UserError(Exception):
    """A problem the user can fix: printed as one line, exit code 2."""


def make_vec_env(env_id: str, n_envs: int = 1, seed: int | None = None) -> Any:
    """SB3's make_vec_env, with one readable error for unknown ids and missing extras."""
    import gymnasium as gym
    from stable_baselines3.common.env_util import make_vec_env as sb3_make_vec_env

    try:
        gym.spec(env_id)
        return sb3_make_vec_env(env_id, n_envs=n_envs, seed=seed)
    except gym.error.DependencyNotInstalled as e:
        extra = "mujoco" if "mujoco" in str(e).lower() else "box2d"
        raise UserError(f"cannot make {env_id}: {e}. Install it with: pip install 'sb3-ddpg-ext[{extra}]'") from e
    except gym.error.Error as e:
        raise UserError(f"cannot make {env_id}: {e}") from e


def policy_for(observation_space: Any) -> str:
    """The policy alias for an observation space: Dict, image or flat vector."""
    from gymnasium import spaces
    from stable_baselines3.common.preprocessing import is_image_space

    if isinstance(observation_space, spaces.Dict):
        return "MultiInputPolicy"
    return "CnnPolicy" if is_image_space(observation_space) else "MlpPolicy"


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs (values parsed as YAML) checked against PaperDDPG's constructor."""
    from sb3_ddpg_ext import PaperDDPG

    valid = set(PaperDDPG.hyperparameter_defaults())
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise UserError(f"--param {pair!r} is not KEY=VALUE, e.g. --param tau=0.005")
        if key not in valid:
            raise UserError(f"unknown PaperDDPG parameter {key!r}; valid ones are: {', '.join(sorted(valid))}")
        params[key] = yaml.safe_load(value)
    return params


def write_learning_curve(csv_path: Path, png_path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    log = pd.read_csv(csv_path)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(log["timesteps"], log["mean_return"], marker="o")
    ax.fill_between(
        log["timesteps"], log["mean_return"] - log["std_return"], log["mean_return"] + log["std_return"], alpha=0.3
    )
    ax.set(xlabel="environment steps", ylabel="deterministic return", title=title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)


def save_eval_log(eval_callback: Any, csv_path: Path) -> None:
    """SB3's EvalCallback results as one CSV row per evaluation."""
    import pandas as pd

    rows = [
        dict(timesteps=t, mean_return=np.mean(r), std_return=np.std(r), min_return=np.min(r), max_return=np.max(r))
        for t, r in zip(eval_callback.evaluations_timesteps, eval_callback.evaluations_results, strict=True)
    ]
    columns = ["timesteps", "mean_return", "std_return", "min_return", "max_return"]
    pd.DataFrame(rows, columns=columns).to_csv(csv_path, index=False)


def cmd_train(args: argparse.Namespace) -> int:
    import torch as th
    from stable_baselines3.common.callbacks import EvalCallback

    from sb3_ddpg_ext import PaperDDPG

    th.set_num_threads(args.threads)
    params = parse_params(args.param)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    env = make_vec_env(args.env, n_envs=args.n_envs, seed=args.seed)
    eval_env = make_vec_env(args.env, n_envs=1, seed=args.seed + 10_000)
    try:
        model = PaperDDPG(
            policy_for(env.observation_space),
            env,
            seed=args.seed,
            device=args.device,
            verbose=args.verbose,
            tensorboard_log=args.tensorboard,
            **params,
        )
    except (ValueError, TypeError) as e:
        raise UserError(str(e)) from e
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
    csv_path = out / "evaluations.csv"
    save_eval_log(eval_callback, csv_path)
    if len(eval_callback.evaluations_timesteps) > 0:
        write_learning_curve(csv_path, out / "learning_curve.png", f"PaperDDPG on {args.env} (seed {args.seed})")
        last, at = eval_callback.evaluations_results[-1], eval_callback.evaluations_timesteps[-1]
        print(f"{args.env}: last evaluation at {at} steps: {np.mean(last):.1f} +/- {np.std(last):.1f}")
    if interrupted:
        print(f"interrupted at {model.num_timesteps} steps; model and logs saved to {out}", file=sys.stderr)
        return 130
    print(f"saved {out / 'model.zip'}, {csv_path} and {out / 'learning_curve.png'}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    import matplotlib
    import torch as th
    from stable_baselines3.common.evaluation import evaluate_policy

    from sb3_ddpg_ext import PaperDDPG

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    th.set_num_threads(args.threads)
    model_path = Path(args.model)
    if not model_path.exists() and not model_path.with_suffix(".zip").exists():
        raise UserError(f"no model at {model_path}: pass the .zip written by 'sb3-ddpg train'")
    env = make_vec_env(args.env, n_envs=1, seed=args.seed)
    model = PaperDDPG.load(model_path, env=env, device=args.device, buffer_size=1)  # no replay needed to evaluate
    returns, _ = evaluate_policy(model, env, n_eval_episodes=args.episodes, deterministic=True, return_episode_rewards=True)
    returns = np.asarray(returns, dtype=float)
    print(
        f"{args.env}, {args.episodes} episodes: mean {returns.mean():.2f}, std {returns.std():.2f}, "
        f"max {returns.max():.2f}, min {returns.min():.2f}, median {np.median(returns):.2f}"
    )
    png = Path(args.histogram) if args.histogram else model_path.with_name(model_path.stem + "_returns.png")
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.hist(returns, bins=min(20, max(5, len(returns) // 2)))
    ax.set(xlabel="episode return", ylabel="episodes", title=f"{model_path.name} on {args.env}")
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
    print(f"histogram: {png}")
    return 0


def _require(extra: str, module: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise UserError(f"this command needs the '{extra}' extra: pip install 'sb3-ddpg-ext[{extra}]'")


def cmd_zoo(args: argparse.Namespace) -> int:
    _require("zoo", "rl_zoo3")
    from sb3_ddpg_ext import zoo

    return zoo.main(args.zoo_args)


def cmd_tune(args: argparse.Namespace) -> int:
    _require("tune", "optuna")
    return tuning.cli_tune(args)


def cmd_tune_report(args: argparse.Namespace) -> int:
    _require("tune", "optuna")
    return tuning.cli_report(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sb3-ddpg", description=__doc__)
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
    zoo.set_defaults(func=cmd_zoo)

    tune = sub.add_parser("tune", help="Optuna study over tau, actor/critic learning rates and OU sigma")
    tune.set_defaults(func=cmd_tune)
    report = sub.add_parser("tune-report", help="report, plots and zoo YAML of a study")
    report.set_defaults(func=cmd_tune_report)
    tuning.add_arguments(tune, report)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UserError as e:
        print(f"sb3-ddpg {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
