"""The ``sb3-ddpg`` command: train, evaluate, tune, tune-report and zoo.

Argument parsing and thin commands. This is the only module that turns a UserError into one line and exit code 2;
nothing imports it. Why ~500 lines: five commands whose every option carries help text, a default and a range check
(argparse definitions are about half of the file); the commands themselves stay thin.
"""

import argparse
import importlib.util
import sys
import warnings
from pathlib import Path
from typing import Any

from sb3_ddpg_ext.errors import Interrupted, UserError

# Exit codes: 0 done, 2 a mistake in the command (one line), 3 training stopped on non-finite values (divergence,
# or NaN/inf from the env), 130 interrupted (Ctrl-C).
EXIT_USER_ERROR, EXIT_NON_FINITE, EXIT_INTERRUPTED = 2, 3, 130


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
        default=None,
        choices=["future", "final", "episode"],
        help="goal selection strategy (default: the HER paper's future)",
    )
    her.add_argument("--her-n-goals", type=at_least(1), default=None,
                     help="relabelled goals per transition, k (default: the HER paper's 4)")  # fmt: skip
    her.add_argument(
        "--preset",
        choices=["her-paper", "rllab"],
        default=None,
        help="her-paper: the HER paper's DDPG settings and observation normalization; rllab: rllab's reading of batch "
        "norm (running statistics in the update passes, Lasagne's eps); see sb3_ddpg_ext.presets. -p values override them",
    )


def her_setup(args: argparse.Namespace, env: Any, eval_env: Any, params: dict[str, Any]) -> tuple[Any, Any, dict]:
    """The train and eval envs and the parameters with HER and the preset applied, as ``args`` ask."""
    from stable_baselines3 import HerReplayBuffer

    from sb3_ddpg_ext.envs import is_goal_env
    from sb3_ddpg_ext.experiment import with_her
    from sb3_ddpg_ext.presets import her_paper, her_paper_env, rllab

    if args.preset == "rllab":
        params = rllab(**params)
    if args.preset == "her-paper":
        user_buffer_kwargs = "replay_buffer_kwargs" in params
        params = her_paper(env, **params)
        if not user_buffer_kwargs:  # --her-strategy and --her-n-goals decide (their defaults are the preset's)
            params.pop("replay_buffer_kwargs")
        env, eval_env = her_paper_env(env), her_paper_env(eval_env, training=False)
    if is_goal_env(env) if args.her is None else args.her:  # preflight.check_her_options refused the contradictions
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


def best_evaluation(eval_callback: Any) -> tuple[int, float, float] | None:
    """(step, mean, std) of the best finite evaluation: the one ``best_model.zip`` holds."""
    import numpy as np

    finite = [(np.mean(r), np.std(r), t) for t, r in zip(eval_callback.evaluations_timesteps,
                                                          eval_callback.evaluations_results, strict=True)
              if np.isfinite(np.mean(r))]  # fmt: skip
    if not finite:
        return None
    mean, std, step = max(finite, key=lambda x: x[0])
    return int(step), float(mean), float(std)


def non_finite_reason(error: ValueError, model: Any) -> str | None:
    """SB3's VecCheckNan error as one line: NaN/inf from the env, or actions from a diverged policy; else None."""
    from sb3_ddpg_ext.callbacks import divergence_reason

    found, sep, origin = str(error).partition(".\r\nOriginated from the ")
    if not sep:
        return None
    step = model.num_timesteps
    if origin.startswith("RL model"):
        return f"diverged at step {step}: {found.removeprefix('found ')} ({divergence_reason(model) or 'policy output'})"
    return f"the environment gave {found.removeprefix('found ')} at step {step} (SB3's VecCheckNan): fix or wrap the env"


# --pixels (train, evaluate): the paper's pixel variant, section 7.
def add_pixel_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--pixels",
        action="store_true",
        help="learn from 9x64x64 renders (3 frames, action repeat 3) with the paper's pixel settings "
        "(CnnPolicy, batch 16, uint8 replay of 1e5 transitions); -p values override them",
    )


def pixel_env_maker(args: argparse.Namespace) -> Any:
    """``envs.make_pixel_env`` with ``--pixels``, else ``envs.make_vec_env``."""
    from sb3_ddpg_ext.envs import make_pixel_env, make_vec_env

    return make_pixel_env if args.pixels else make_vec_env


def cmd_train(args: argparse.Namespace) -> int:
    import numpy as np
    from stable_baselines3.common.callbacks import EvalCallback
    from stable_baselines3.common.vec_env import VecCheckNan

    from sb3_ddpg_ext import plots
    from sb3_ddpg_ext.callbacks import StopTrainingOnDivergence
    from sb3_ddpg_ext.envs import eval_seed
    from sb3_ddpg_ext.errors import interrupted_message
    from sb3_ddpg_ext.experiment import build_model, check_device, parse_params, prepare_run_dir, writable_folder
    from sb3_ddpg_ext.paper_ddpg.checks import NoGradientStep
    from sb3_ddpg_ext.preflight import check_her_options, check_planned_run

    # Pre-flight: every value and the run folder are checked before anything is built or trained.
    params = parse_params(args.param)
    check_device(args.device)
    her = check_her_options(args.env, args.pixels, args.her, params, args.her_strategy, args.her_n_goals)
    check_planned_run(params, args.timesteps, args.n_envs, args.pixels, args.preset, her)
    out = prepare_run_dir(Path(args.out), args.overwrite)
    if args.tensorboard:
        writable_folder(Path(args.tensorboard), "--tensorboard")
    if args.pixels:
        from sb3_ddpg_ext import PaperDDPG

        params = {**PaperDDPG.pixel_hyperparameters(), **params}
    make_env = pixel_env_maker(args)
    env = VecCheckNan(make_env(args.env, n_envs=args.n_envs, seed=args.seed), raise_exception=True)
    eval_env = VecCheckNan(make_env(args.env, n_envs=1, seed=eval_seed(args.seed)), raise_exception=True)
    env, eval_env, params = her_setup(args, env, eval_env, params)
    model = build_model(
        env, params, seed=args.seed, device=args.device, verbose=args.verbose, tensorboard_log=args.tensorboard,
        env_id=args.env,
    )  # fmt: skip
    divergence = StopTrainingOnDivergence(verbose=0)  # the command says it in its own last line
    eval_callback = EvalCallback(
        eval_env,
        eval_freq=max(args.eval_every // args.n_envs, 1),
        n_eval_episodes=args.eval_episodes,
        deterministic=True,
        best_model_save_path=str(out),  # saved only when a finite evaluation improves: the last good weights
        log_path=str(out),  # also SB3's evaluations.npz
        verbose=0,
    )
    stopped, interrupted = None, False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", NoGradientStep)  # a whole run without a gradient step is an error
            model.learn(args.timesteps, callback=[divergence, eval_callback], progress_bar=not args.no_progress_bar)
    except KeyboardInterrupt:
        interrupted = True
    except NoGradientStep as e:  # an episode-based train_freq: known only at the end
        raise UserError(str(e).removeprefix("PaperDDPG.learn: ") + f" ({out} holds the evaluations, if any ran)") from e
    except ValueError as e:
        stopped = non_finite_reason(e, model)
        if stopped is None:
            raise
    if divergence.reason is not None:
        stopped = f"diverged at step {divergence.diverged_at}: {divergence.reason}"

    written = []
    if stopped is None:
        model.save(out / "model.zip")
        written.append(out / "model.zip")
    if model.get_vec_normalize_env() is not None:
        model.get_vec_normalize_env().save(str(out / "vecnormalize.pkl"))  # read back by evaluate
        written.append(out / "vecnormalize.pkl")
    best = best_evaluation(eval_callback)
    if eval_callback.evaluations_timesteps:
        save_eval_log(eval_callback, out / "evaluations.csv")
        title = f"PaperDDPG on {args.env} (seed {args.seed})"
        plots.learning_curve(out / "evaluations.csv", out / "learning_curve.png", title, args.eval_episodes)
        written += [out / "evaluations.csv", out / "evaluations.npz", out / "learning_curve.png"]
    if best is not None:
        written.insert(1 if stopped is None else 0, out / "best_model.zip")
        print(f"{args.env}: best evaluation {best[1]:.1f} +/- {best[2]:.1f} at step {best[0]} "
              f"({args.eval_episodes} episodes): {out / 'best_model.zip'}")  # fmt: skip
        if eval_callback.evaluations_successes:
            at = eval_callback.evaluations_timesteps[-1]
            rate = np.mean(eval_callback.evaluations_successes[-1])
            print(f"{args.env}: success rate {rate:.2f} at the last evaluation ({at} steps)")
    else:
        print(f"{args.env}: no evaluation ran (--eval-every {args.eval_every}, {model.num_timesteps} steps trained)")
    if written:
        print("wrote " + ", ".join(str(p) for p in written if p.exists()))
    if stopped is not None:
        last = f"last finite checkpoint: {out / 'best_model.zip'}" if best else "no finite checkpoint was saved"
        print(f"sb3-ddpg train: {stopped}; model.zip not saved (non-finite); {last}", file=sys.stderr)
        return EXIT_NON_FINITE
    if interrupted:
        print(interrupted_message(model.num_timesteps, out), file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    import numpy as np

    from sb3_ddpg_ext import plots
    from sb3_ddpg_ext.experiment import check_device, evaluate_episodes, load_model, model_file, saved_env_id, writable_file

    model_path = model_file(Path(args.model))
    check_device(args.device)
    env_id = args.env or saved_env_id(model_path)
    png = Path(args.histogram) if args.histogram else model_path.with_name(model_path.stem + "_returns.png")
    writable_file(png, "--histogram")
    env = load_normalization(model_path, pixel_env_maker(args)(env_id, n_envs=1, seed=args.seed))
    try:
        model = load_model(model_path, env=env, seed=args.seed, device=args.device, buffer_size=1)  # no replay needed
    except UserError as e:
        if args.pixels or "observation" not in str(e):
            raise
        raise UserError(f"{e} (a model trained with --pixels needs --pixels here too)") from e
    result = evaluate_episodes(model, env, args.episodes)
    returns = result.returns
    success = "" if result.success_rate is None else f", success rate {result.success_rate:.2f}"
    print(
        f"{env_id}, {args.episodes} episodes: mean {returns.mean():.2f}, std {returns.std():.2f}, "
        f"max {returns.max():.2f}, min {returns.min():.2f}, median {np.median(returns):.2f}{success}"
    )
    plots.return_histogram(returns, png, f"{model_path.name} on {env_id} (seed {args.seed})")
    print(f"histogram: {png}")
    return 0


def _require(extra: str, module: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise UserError(f"this command needs the '{extra}' extra: pip install 'sb3-ddpg-ext[{extra}]'")


def cmd_zoo(args: argparse.Namespace) -> int:
    _require("zoo", "rl_zoo3")
    import torch as th

    zoo_args, threads = take_threads(args.zoo_args)
    th.set_num_threads(threads)
    if zoo_args[:1] == ["optimize"]:
        storage = next((a.split("=", 1)[1] for a in zoo_args if a.startswith("--storage=")), None)
        if "--storage" in zoo_args[:-1]:
            storage = zoo_args[zoo_args.index("--storage") + 1]
        if storage is not None and "://" in storage:  # rl-zoo3 opens it only after building everything
            _require("tune", "optuna")
            from sb3_ddpg_ext.tune.storage import open_storage

            open_storage(storage, Path.cwd())
    from sb3_ddpg_ext import zoo

    return zoo.main(zoo_args)


def take_threads(zoo_args: list[str]) -> tuple[list[str], int]:
    """``--threads N`` (default 1) taken out of the arguments handed to rl-zoo3 (whose own flag is --num-threads)."""
    rest, threads, i = [], 1, 0
    while i < len(zoo_args):
        arg = zoo_args[i]
        if arg == "--threads" or arg.startswith("--threads="):
            value = arg.partition("=")[2] if "=" in arg else (zoo_args[i + 1] if i + 1 < len(zoo_args) else "")
            try:
                threads = at_least(1)(value)
            except argparse.ArgumentTypeError as e:
                raise UserError(f"--threads: {e}") from None
            i += 1 if "=" in arg else 2
            continue
        rest.append(arg)
        i += 1
    return rest, threads


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

    from sb3_ddpg_ext.tune.storage import EMBEDDED_STORAGE, open_storage
    from sb3_ddpg_ext.tune.workers import WorkerInterrupted, create_study, run_worker, worker_seed

    spec = spec_from_args(args)
    spec.check_env()  # an unknown id, discrete actions, buffer settings for another buffer: before the study is touched
    storage = open_storage(args.storage, Path(args.out), args.heartbeat_interval, args.grace_period)
    seed = worker_seed(spec.seed) if args.sampler_seed is None else args.sampler_seed
    study = create_study(spec, storage, seed, allow_spec_change=args.allow_spec_change)
    print(f"study '{spec.name}' on {args.storage or Path(args.out) / EMBEDDED_STORAGE}; sampler seed {seed}")
    optuna.logging.set_verbosity(optuna.logging.INFO)
    try:
        run_worker(study, spec, spec.n_trials)
    except WorkerInterrupted as e:
        moved = ", ".join(f"#{old} as #{new}" if new is not None else f"#{old}" for old, new in e.requeued.items())
        requeued = f"re-queued trial {moved}" if moved else "no trial was running"
        print(f"sb3-ddpg tune: interrupted; {requeued}; the same command resumes the study", file=sys.stderr)
        return EXIT_INTERRUPTED
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        print(f"no trial of study '{spec.name}' completed (all pruned or failed): see each trial's failure_reason")
        return 0
    best = study.best_trial
    print(f"best trial #{best.number}: {best.value:.2f} with {best.params}")
    return 0


def cmd_tune_report(args: argparse.Namespace) -> int:
    _require("tune", "optuna")
    from sb3_ddpg_ext.experiment import writable_folder
    from sb3_ddpg_ext.tune.report import write_report
    from sb3_ddpg_ext.tune.storage import open_storage

    storage = open_storage(args.storage, Path(args.out), create=False)  # reading: a wrong path creates nothing
    if Path(args.out).exists():
        writable_folder(Path(args.out), "--out")
    print(write_report(storage, args.study_name, Path(args.out), args.fresh_seeds))
    return 0


def at_least(minimum: int) -> Any:
    """An argparse type: an integer >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            number = float(text)  # 1e4 and 10_000 are integers too
            if not number.is_integer():
                raise ValueError
            value = int(number)
        except (ValueError, OverflowError):
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """argparse's "(default: X)" after each option's help, except where there is none to show: required options,
    on/off flags, and options whose help says what their absence means."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.required or action.default is None or action.nargs == 0:
            return action.help or ""
        return super()._get_help_string(action) or ""


def _threads(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=at_least(1), default=1,
                        help="torch threads (1 is fastest for the paper's small networks)")  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    from sb3_ddpg_ext import __version__

    formatter = HelpFormatter
    parser = argparse.ArgumentParser(prog="sb3-ddpg", description=__doc__.splitlines()[0], formatter_class=formatter)
    parser.add_argument("--version", action="version", version=f"sb3-ddpg {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    codes = ("Exit codes: 0 done, 2 a mistake in the command, 3 stopped on non-finite values (divergence or NaN from the "
             "env; model.zip is not written), 130 Ctrl-C.")  # fmt: skip
    train = sub.add_parser("train", help="train PaperDDPG with the paper's defaults", formatter_class=formatter,
                           description=f"Train PaperDDPG. {codes}")  # fmt: skip
    train.add_argument("--env", required=True, help="gymnasium environment id, e.g. Pendulum-v1")
    add_pixel_arguments(train)
    train.add_argument("--timesteps", type=at_least(1), required=True, help="environment steps to train")
    train.add_argument("--seed", type=at_least(0), default=0, help="seed of the training env and the networks")
    train.add_argument("--out", required=True, help="new folder for model.zip, best_model.zip, evaluations.csv, "
                       "learning_curve.png")  # fmt: skip
    train.add_argument("--overwrite", action="store_true", help="replace the run already in --out (its files are removed)")
    train.add_argument("--eval-every", type=at_least(1), default=5000, help="deterministic evaluation every K steps")
    train.add_argument("--eval-episodes", type=at_least(1), default=10, help="episodes per evaluation")
    train.add_argument("--n-envs", type=at_least(1), default=1, help="parallel training envs (DummyVecEnv)")
    train.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                       help="override a PaperDDPG argument; VALUE is a Python literal (1e-4, True, None, [400, 300], "
                       "(1, 'episode'), dict(net_arch=[64, 64])), lin_X for a learning-rate decay, "
                       "action_noise=normal:0.1 or ou:0.2, replay_buffer_class=HerReplayBuffer")  # fmt: skip
    train.add_argument("--device", default="auto", help="torch device: auto, cpu or cuda")
    _threads(train)
    train.add_argument("--tensorboard", default=None, help="TensorBoard log folder")
    train.add_argument("--no-progress-bar", action="store_true", help="hide the progress bar")
    train.add_argument("-v", "--verbose", type=at_least(0), default=0, help="SB3 verbosity: 0 none, 1 training log")
    add_her_arguments(train)
    train.set_defaults(func=cmd_train)

    evaluate = sub.add_parser("evaluate", help="noise-free evaluation of a saved model", formatter_class=formatter)
    evaluate.add_argument("model", help="a model.zip written by 'sb3-ddpg train' (or PaperDDPG.save)")
    evaluate.add_argument("--env", default=None, help="gymnasium id (default: the env saved with the model)")
    add_pixel_arguments(evaluate)
    evaluate.add_argument("--episodes", type=at_least(1), default=10, help="episodes to run")
    evaluate.add_argument("--seed", type=at_least(0), default=0, help="seed of the evaluation env")
    evaluate.add_argument("--histogram", default=None, help="PNG path (default: <model>_returns.png next to the model)")
    evaluate.add_argument("--device", default="auto", help="torch device: auto, cpu or cuda")
    _threads(evaluate)
    evaluate.set_defaults(func=cmd_evaluate)

    zoo = sub.add_parser("zoo", help="rl-zoo3 train/enjoy/optimize with the paper_ddpg algorithm "
                         "(sb3-ddpg zoo --help)", add_help=False)  # fmt: skip
    zoo.add_argument("zoo_args", nargs=argparse.REMAINDER)
    zoo.set_defaults(func=cmd_zoo, threads=1)

    tune = sub.add_parser("tune", help="Optuna study over tau, actor/critic learning rates and OU sigma",
                          formatter_class=formatter)  # fmt: skip
    tune.add_argument("--env", default=None, help="gymnasium id (or take it from --spec)")
    tune.add_argument("--spec", default=None, help="study spec: a shipped name (pendulum, halfcheetah, ...) or a YAML path")
    tune.add_argument("--n-trials", type=at_least(1), default=None, help="finished trials of the whole study (spec: 20)")
    tune.add_argument("--timesteps", type=at_least(1), default=None, help="env steps per trial and seed (spec: 10000)")
    tune.add_argument("--n-seeds", type=at_least(1), default=None, help="seeds per trial; the value is their mean (spec: 1)")
    tune.add_argument("--eval-every", type=at_least(1), default=None, help="steps between evaluations (spec: 2000)")
    tune.add_argument("--storage", default=None, help="default: a journal file under --out; or postgresql+psycopg://...")
    tune.add_argument("--study-name", default=None, help="default: paper_ddpg-<env id>")
    tune.add_argument("--out", default="runs/tune", help="run folder (embedded storage, logs)")
    tune.add_argument("--sampler-seed", type=at_least(0), default=None, help="default: derived from host and process id")
    tune.add_argument("--heartbeat-interval", type=at_least(1), default=60, help="RDB storages: seconds between heartbeats")
    tune.add_argument(
        "--grace-period", type=at_least(1), default=180, help="RDB storages: seconds before a silent trial is stale"
    )
    tune.add_argument("--allow-spec-change", action="store_true", help="resume a study with another budget or schedule; "
                      "each trial records its own")  # fmt: skip
    _threads(tune)
    tune.set_defaults(func=cmd_tune)

    report = sub.add_parser("tune-report", help="report, plots and zoo YAML of a study", formatter_class=formatter)
    report.add_argument("--storage", default=None, help="as given to tune (default: the journal under --out)")
    report.add_argument("--study-name", required=True, help="the study's name (as printed by tune)")
    report.add_argument("--out", default="runs/tune", help="where the plots, report.md and the zoo YAML go")
    report.add_argument("--fresh-seeds", type=at_least(0), default=0, help="re-train paper and best on N unseen seeds")
    _threads(report)
    report.set_defaults(func=cmd_tune_report)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["zoo"]:  # everything after "zoo" is rl-zoo3's (its -h included)
        args = argparse.Namespace(command="zoo", func=cmd_zoo, zoo_args=argv[1:], threads=1)
    else:
        args = build_parser().parse_args(argv)
    try:
        import torch as th

        th.set_num_threads(args.threads)  # one thread by default: fastest for the paper's networks
        return args.func(args)
    except UserError as e:
        print(f"sb3-ddpg {args.command}: error: {e}", file=sys.stderr)
        return EXIT_USER_ERROR
    except Interrupted as e:  # saved before it stopped: the message says where
        print(e, file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print(f"sb3-ddpg {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
