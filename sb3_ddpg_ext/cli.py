"""The ``sb3-ddpg`` command line: train, evaluate, tune, tune-report and zoo.

Argument parsing, and the one place where a UserError becomes one line and exit code 2 (``main``). Each command's
work is in ``commands/``; nothing imports this module.
"""

import argparse
import sys

from sb3_ddpg_ext.commands import EXIT_INTERRUPTED, EXIT_USER_ERROR, EXIT_WRITE_ERROR, at_least
from sb3_ddpg_ext.commands import evaluate as evaluate_command
from sb3_ddpg_ext.commands import train as train_command
from sb3_ddpg_ext.commands import tune as tune_command
from sb3_ddpg_ext.commands import zoo as zoo_command
from sb3_ddpg_ext.errors import Interrupted, UserError

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
def add_pixel_arguments(parser: argparse.ArgumentParser, training: bool = True) -> None:
    what = (
        "learn from 9x64x64 renders (3 frames, action repeat 3) with the paper's pixel settings (CnnPolicy, batch 16, "
        "uint8 replay of 1e5 transitions); -p values override them"
        if training
        else "evaluate on 9x64x64 renders (3 frames, action repeat 3); the default for a model trained with --pixels"
    )
    parser.add_argument("--pixels", action="store_true", help=what)


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


def add_train_arguments(train: argparse.ArgumentParser) -> None:
    """The options of ``sb3-ddpg train``."""
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
        help="continue the run in RUN_FOLDER from its last checkpoint to its budget, with its options (a new episode "
        "starts); a run that finished is refused",
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


def given_train_options(argv: list[str]) -> set[str]:
    """The options of ``train`` that ``argv`` (its arguments) gives, whatever their values: ``--seed 0`` is given
    although 0 is the default. Parsed again into a namespace that holds a marker for each, which argparse leaves in
    place of the default where an option is absent; ``--resume`` refuses each given one that differs from the run's."""
    parser = argparse.ArgumentParser(add_help=False)
    add_train_arguments(parser)
    absent = object()
    options = train_command.TRAIN_OPTIONS
    namespace, _ = parser.parse_known_args(argv, argparse.Namespace(**dict.fromkeys(options, absent)))
    return {option for option in options if getattr(namespace, option) is not absent}


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
    add_train_arguments(train)
    train.set_defaults(func=train_command.run)

    evaluate = sub.add_parser("evaluate", help="noise-free evaluation of a saved model", formatter_class=formatter)
    evaluate.add_argument("model", help="a model.zip written by 'sb3-ddpg train' (or PaperDDPG.save)")
    evaluate.add_argument("--env", default=None, help="gymnasium id (default: the env saved with the model)")
    add_pixel_arguments(evaluate, training=False)
    evaluate.add_argument("--episodes", type=at_least(1), default=10, help="episodes to run")
    evaluate.add_argument("--seed", type=at_least(0), default=0, help="seed of the evaluation env")
    evaluate.add_argument(
        "--histogram",
        default=None,
        help="figure path; its extension picks the format: .png, .pdf, .svg, ... (default: <model>_returns.png next to "
        "the model)",
    )
    evaluate.add_argument("--device", default="auto", help="torch device: auto, cpu or cuda")
    _threads(evaluate)
    evaluate.set_defaults(func=evaluate_command.run)

    zoo = sub.add_parser(
        "zoo", help="rl-zoo3 train/enjoy/optimize with the paper_ddpg algorithm (sb3-ddpg zoo --help)", add_help=False
    )
    zoo.add_argument("zoo_args", nargs=argparse.REMAINDER)
    zoo.set_defaults(func=zoo_command.run, threads=1)

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
    tune.add_argument(
        "--device", default="cpu", help="this worker's torch device: cpu (fastest for the paper's small networks), cuda, auto"
    )
    tune.add_argument("--sampler-seed", type=at_least(0), default=None, help="default: derived from host and process id")
    tune.add_argument(
        "--heartbeat-interval", type=at_least(1), default=None, help="PostgreSQL storage: seconds between heartbeats (60)"
    )
    tune.add_argument(
        "--grace-period",
        type=at_least(1),
        default=None,
        help="PostgreSQL storage: seconds before a silent trial is stale (180)",
    )
    tune.add_argument(
        "--allow-spec-change",
        action="store_true",
        help="resume a study with another budget or schedule; each trial records its own",
    )
    _threads(tune)
    tune.set_defaults(func=tune_command.run)

    report = sub.add_parser("tune-report", help="report, plots and zoo YAML of a study", formatter_class=formatter)
    report.add_argument("--storage", default=None, help="as given to tune (default: the journal under --out)")
    report.add_argument("--study-name", required=True, help="the study's name (as printed by tune)")
    report.add_argument("--out", default="runs/tune", help="where the plots, report.md and the zoo YAML go")
    report.add_argument("--fresh-seeds", type=at_least(0), default=0, help="re-train paper and best on N unseen seeds")
    _threads(report)
    report.set_defaults(func=tune_command.report)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["zoo"]:  # everything after "zoo" is rl-zoo3's (its -h included)
        args = argparse.Namespace(command="zoo", func=zoo_command.run, zoo_args=argv[1:], threads=1)
    else:
        args = build_parser().parse_args(argv)
        if args.command == "train":
            args.given = given_train_options(argv[1:])  # argv[0] is "train": the main parser has no other arguments
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
