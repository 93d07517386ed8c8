"""The ``sb3-ddpg`` command: train, evaluate, tune, tune-report and zoo.

Argument parsing and thin commands. This is the only module that turns a UserError into one line and exit code 2;
nothing imports it. Why ~500 lines: five commands whose every option carries help text, a default and a range check
(argparse definitions are about half of the file); the commands themselves stay thin.
"""

import argparse
import importlib.util
import sys
from pathlib import Path
from typing import Any

from sb3_ddpg_ext.errors import Interrupted, UserError

# Exit codes: 0 done, 2 a mistake in the command (one line), 3 training stopped on non-finite values (divergence,
# or NaN/inf from the env), 4 a write failed (full disk, read-only folder), 130 interrupted (Ctrl-C).
EXIT_USER_ERROR, EXIT_NON_FINITE, EXIT_WRITE_ERROR, EXIT_INTERRUPTED = 2, 3, 4, 130


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
    her.add_argument(
        "--her-n-goals", type=at_least(1), default=None, help="relabelled goals per transition, k (default: the HER paper's 4)"
    )
    her.add_argument(
        "--preset",
        choices=["her-paper", "rllab"],
        default=None,
        help="her-paper: the HER paper's DDPG settings and observation normalization; rllab: rllab's reading of batch "
        "norm (running statistics in the update passes, Lasagne's eps); see sb3_ddpg_ext.presets. -p values override them",
    )


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


# train options -> RunConfig fields: --resume takes them from the checkpoint, and refuses a given value that differs.
TRAIN_OPTIONS = {
    "env": "env_id",
    "timesteps": "timesteps",
    "seed": "seed",
    "eval_every": "eval_every",
    "eval_episodes": "eval_episodes",
    "n_envs": "n_envs",
    "device": "device",
    "tensorboard": "tensorboard_log",
    "verbose": "verbose",
    "pixels": "pixels",
    "preset": "preset",
    "her": "her",
    "her_strategy": "her_strategy",
    "her_n_goals": "her_n_goals",
    "checkpoint_every": "checkpoint_every",
}


def train_config(args: argparse.Namespace) -> tuple[Any, Path]:
    """The run's options and folder: from the command line, or with ``--resume`` from the run's checkpoint."""
    from sb3_ddpg_ext.experiment import check_device, parse_params, prepare_run_dir, writable_folder
    from sb3_ddpg_ext.preflight import check_her_options, check_planned_run
    from sb3_ddpg_ext.run import RunConfig, read_config

    params = parse_params(args.param)
    check_device(args.device)
    if args.resume is None:
        missing = [f"--{name}" for name in ("env", "timesteps", "out") if getattr(args, name) is None]
        if missing:
            raise UserError(f"{', '.join(missing)} required (or --resume RUN_FOLDER to continue a run)")
        # Pre-flight: every value and the run folder are checked before anything is built or trained.
        her = check_her_options(args.env, args.pixels, args.her, params, args.her_strategy, args.her_n_goals)
        check_planned_run(params, args.timesteps, args.n_envs, args.pixels, args.preset, her)
        out = prepare_run_dir(Path(args.out), args.overwrite)
        if args.tensorboard:
            writable_folder(Path(args.tensorboard), "--tensorboard")
        fields = {field: getattr(args, option) for option, field in TRAIN_OPTIONS.items()}
        fields.update(her_strategy=args.her_strategy or "future", her_n_goals=args.her_n_goals or 4)
        return RunConfig(**fields, params=params), out
    out = Path(args.resume)
    if args.out is not None and Path(args.out) != out:
        raise UserError(f"--resume continues the run in {out}: drop --out {args.out}")
    config = read_config(out)
    given = {option: getattr(args, option) for option in TRAIN_OPTIONS if getattr(args, option) != args.defaults[option]}
    conflicts = [
        f"--{o.replace('_', '-')} {v} (the run's: {getattr(config, TRAIN_OPTIONS[o])})"
        for o, v in given.items()
        if v != getattr(config, TRAIN_OPTIONS[o])
    ]
    conflicts += [
        f"-p {k}={v!r} (the run's: {config.params.get(k, 'default')!r})"
        for k, v in params.items()
        if k not in config.params or config.params[k] != v
    ]
    if conflicts:
        raise UserError(
            f"--resume takes the run's options from its checkpoint; these differ: {'; '.join(conflicts)}. "
            "Drop them, or start a new run"
        )
    return config, out


def cmd_train(args: argparse.Namespace) -> int:
    import numpy as np
    from stable_baselines3 import HerReplayBuffer

    from sb3_ddpg_ext import plots
    from sb3_ddpg_ext.errors import interrupted_message
    from sb3_ddpg_ext.run import train

    config, out = train_config(args)
    result = train(config, out, resume=args.resume is not None, progress_bar=not args.no_progress_bar)
    model = result.model
    if model.replay_buffer_class is HerReplayBuffer:
        print(f"HER: {model.replay_buffer_kwargs}")
    if result.resumed_from is not None:
        print(f"resumed {out} from its checkpoint at step {result.resumed_from} of {config.timesteps} (a new episode starts)")
    written = []
    if result.stopped is None:
        model.save(out / "model.zip")
        written.append(out / "model.zip")
    if (normalize := model.get_vec_normalize_env()) is not None:
        normalize.save(str(out / "vecnormalize.pkl"))  # read back by evaluate
        written.append(out / "vecnormalize.pkl")
    best = result.best()
    evaluation = result.evaluation
    if evaluation.evaluations_timesteps:
        title = f"PaperDDPG on {config.env_id} (seed {config.seed})"
        plots.learning_curve(out / "evaluations.csv", out / "learning_curve.png", title, config.eval_episodes)
        written += [out / "evaluations.csv", out / "evaluations.npz", out / "learning_curve.png"]
    if result.checkpoint is not None:
        written.append(result.checkpoint)
    if best is not None:
        written.insert(1 if result.stopped is None else 0, out / "best_model.zip")
        print(
            f"{config.env_id}: best evaluation {best[1]:.1f} +/- {best[2]:.1f} at step {best[0]} "
            f"({config.eval_episodes} episodes): {out / 'best_model.zip'}"
        )
        if evaluation.evaluations_successes:
            at = evaluation.evaluations_timesteps[-1]
            rate = np.mean(evaluation.evaluations_successes[-1])
            print(f"{config.env_id}: success rate {rate:.2f} at the last evaluation ({at} steps)")
    else:
        print(f"{config.env_id}: no evaluation ran (--eval-every {config.eval_every}, {model.num_timesteps} steps trained)")
    if written:
        print("wrote " + ", ".join(str(p) for p in written if p.exists()))
    if result.stopped is not None:
        last = f"last finite checkpoint: {out / 'best_model.zip'}" if best else "no finite checkpoint was saved"
        print(f"sb3-ddpg train: {result.stopped}; model.zip not saved (non-finite); {last}", file=sys.stderr)
        return EXIT_NON_FINITE
    if result.interrupted:
        resume = ""
        if result.checkpoint is not None:
            step = int(result.checkpoint.name.removeprefix("step-"))
            resume = f"; 'sb3-ddpg train --resume {out}' continues from the checkpoint at step {step}"
        print(interrupted_message(model.num_timesteps, out) + resume, file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    import numpy as np

    from sb3_ddpg_ext import plots
    from sb3_ddpg_ext.experiment import check_device, evaluate_episodes, load_model, model_file, saved_env_id, writable_file
    from sb3_ddpg_ext.run import saved_normalization

    model_path = model_file(Path(args.model))
    check_device(args.device)
    env_id = args.env or saved_env_id(model_path)
    png = Path(args.histogram) if args.histogram else model_path.with_name(model_path.stem + "_returns.png")
    writable_file(png, "--histogram")
    env = saved_normalization(pixel_env_maker(args)(env_id, n_envs=1, seed=args.seed), model_path)
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
    overrides = {
        "env_id": args.env,
        "n_trials": args.n_trials,
        "timesteps": args.timesteps,
        "n_seeds": args.n_seeds,
        "eval_every": args.eval_every,
        "study_name": args.study_name,
    }
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
        moved = ", ".join(f"#{old} as #{new}" for old, new in e.requeued.items() if new is not None)
        dropped = ", ".join(f"#{old}" for old, new in e.requeued.items() if new is None)
        said = [f"re-queued trial {moved}"] if moved else []
        said += [f"trial {dropped} stopped before sampling, nothing to re-queue"] if dropped else []
        requeued = "; ".join(said) or "no trial was running"
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
    parser.add_argument(
        "--threads", type=at_least(1), default=1, help="torch threads (1 is fastest for the paper's small networks)"
    )


def build_parser() -> argparse.ArgumentParser:
    from sb3_ddpg_ext import __version__

    formatter = HelpFormatter
    parser = argparse.ArgumentParser(prog="sb3-ddpg", description=__doc__.splitlines()[0], formatter_class=formatter)
    parser.add_argument("--version", action="version", version=f"sb3-ddpg {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    codes = (
        "Exit codes: 0 done, 2 a mistake in the command, 3 stopped on non-finite values (divergence or NaN from the "
        "env; model.zip is not written), 4 a write failed (full disk), 130 Ctrl-C."
    )
    train = sub.add_parser(
        "train",
        help="train PaperDDPG with the paper's defaults",
        formatter_class=formatter,
        description=f"Train PaperDDPG. {codes}",
    )
    train.add_argument("--env", default=None, help="gymnasium environment id, e.g. Pendulum-v1 (required)")
    add_pixel_arguments(train)
    train.add_argument("--timesteps", type=at_least(1), default=None, help="environment steps to train (required)")
    train.add_argument("--seed", type=at_least(0), default=0, help="seed of the training env and the networks")
    train.add_argument(
        "--out", default=None, help="new folder for model.zip, best_model.zip, evaluations.csv, learning_curve.png (required)"
    )
    train.add_argument(
        "--checkpoint-every",
        type=at_least(1),
        default=None,
        metavar="N",
        help="every N env steps, save what --resume needs (model, replay buffer, noise and random "
        "states, normalization, evaluation log) to --out/checkpoints/, replacing the previous one",
    )
    train.add_argument(
        "--resume",
        default=None,
        metavar="RUN_FOLDER",
        help="continue the run in RUN_FOLDER from its last checkpoint to its budget, with its options (a new episode starts)",
    )
    train.add_argument("--overwrite", action="store_true", help="replace the run already in --out (its files are removed)")
    train.add_argument("--eval-every", type=at_least(1), default=5000, help="deterministic evaluation every K steps")
    train.add_argument("--eval-episodes", type=at_least(1), default=10, help="episodes per evaluation")
    train.add_argument("--n-envs", type=at_least(1), default=1, help="parallel training envs (DummyVecEnv)")
    train.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a PaperDDPG argument; VALUE is a Python literal (1e-4, True, None, [400, 300], "
        "(1, 'episode'), dict(net_arch=[64, 64])), lin_X for a learning-rate decay, "
        "action_noise=normal:0.1 or ou:0.2, replay_buffer_class=HerReplayBuffer",
    )
    train.add_argument("--device", default="auto", help="torch device: auto, cpu or cuda")
    _threads(train)
    train.add_argument("--tensorboard", default=None, help="TensorBoard log folder")
    train.add_argument("--no-progress-bar", action="store_true", help="hide the progress bar")
    train.add_argument("-v", "--verbose", type=at_least(0), default=0, help="SB3 verbosity: 0 none, 1 training log")
    add_her_arguments(train)
    train.set_defaults(func=cmd_train)
    train.set_defaults(defaults={option: train.get_default(option) for option in TRAIN_OPTIONS})

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

    zoo = sub.add_parser(
        "zoo", help="rl-zoo3 train/enjoy/optimize with the paper_ddpg algorithm (sb3-ddpg zoo --help)", add_help=False
    )
    zoo.add_argument("zoo_args", nargs=argparse.REMAINDER)
    zoo.set_defaults(func=cmd_zoo, threads=1)

    tune = sub.add_parser(
        "tune", help="Optuna study over tau, actor/critic learning rates and OU sigma", formatter_class=formatter
    )
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
    tune.add_argument(
        "--allow-spec-change",
        action="store_true",
        help="resume a study with another budget or schedule; each trial records its own",
    )
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
    except OSError as e:  # a full disk, a file-size limit, a folder made read-only mid-run: every write is atomic
        where = f" ({e.filename})" if e.filename else ""
        print(
            f"sb3-ddpg {args.command}: error: cannot write{where}: {e.strerror or e}; the files written before are "
            "intact (each is replaced whole or not at all)",
            file=sys.stderr,
        )
        return EXIT_WRITE_ERROR


if __name__ == "__main__":
    sys.exit(main())
