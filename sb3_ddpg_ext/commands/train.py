"""``sb3-ddpg train``: a run through the run layer (``run.train``), then what it wrote, in a few lines."""

import argparse
import contextlib
import dataclasses
import shlex
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sb3_ddpg_ext.commands import EXIT_INTERRUPTED, EXIT_NON_FINITE, EXIT_TERMINATED
from sb3_ddpg_ext.errors import UserError

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
    from sb3_ddpg_ext.params import check_device, parse_params
    from sb3_ddpg_ext.preflight import check_her_options, check_planned_run
    from sb3_ddpg_ext.run import RunConfig, read_config
    from sb3_ddpg_ext.rundir import prepare_run_dir, writable_folder

    params = parse_params(args.param)
    check_device(args.device)
    if args.resume is None:
        missing = [f"--{name}" for name in ("env", "timesteps", "out") if getattr(args, name) is None]
        if missing:
            raise UserError(f"{', '.join(missing)} required (or --resume RUN_FOLDER to continue a run)")
        # Pre-flight: every value and the run folder are checked before anything is built or trained.
        her = check_her_options(args.env, args.pixels, args.her, params, args.her_strategy, args.her_n_goals)
        check_planned_run(params, args.timesteps, args.n_envs, args.pixels, args.preset, her, args.her)
        fields = {field: getattr(args, option) for option, field in TRAIN_OPTIONS.items()}
        fields.update(her_strategy=args.her_strategy or "future", her_n_goals=args.her_n_goals or 4)
        config = RunConfig(**fields, params=params)  # its own checks, before the folder is made
        out = prepare_run_dir(Path(args.out), args.overwrite)
        if args.tensorboard:
            writable_folder(Path(args.tensorboard), "--tensorboard")
        return config, out
    out = Path(args.resume)
    if args.out is not None and Path(args.out).resolve() != out.resolve():
        raise UserError(f"--resume continues the run in {out}: drop --out {args.out}")
    if args.overwrite:
        raise UserError(
            f"--overwrite replaces a run and --resume continues one: drop --overwrite to continue {out}, or --resume to "
            "start a new run in its place"
        )
    config = read_config(out)
    if "device" in args.given:  # the machine's, not the run's: a run preempted on a GPU goes on on a CPU
        config = dataclasses.replace(config, device=args.device)
    else:
        try:
            check_device(config.device)
        except UserError as e:
            raise UserError(
                f"{out} trained on device {config.device!r}, which this machine cannot use: resume with --device cpu"
            ) from e
    finished = finished_step(out, config.timesteps)
    if finished is not None:
        raise UserError(
            f"{out} finished at step {finished} of {config.timesteps}: nothing to resume; to train longer, start a new "
            f"run (--out NEW_FOLDER, or --out {out} --overwrite to replace this one)"
        )
    given = {o: getattr(args, o) for o in TRAIN_OPTIONS if o in args.given and o != "device"}  # at the default too
    conflicts = [
        f"--{o.replace('_', '-')} {v} (the run's: {shown(o, getattr(config, TRAIN_OPTIONS[o]))})"
        for o, v in given.items()
        if not same_option(o, v, getattr(config, TRAIN_OPTIONS[o]))
    ]
    values = run_values(out, config.params)
    conflicts += [f"-p {k}={v!r} (the run's: {values(k)!r})" for k, v in params.items() if values(k) != v]
    if conflicts:
        raise UserError(
            f"--resume takes the run's options from its checkpoint; these differ: {'; '.join(conflicts)}. "
            "Drop them, or start a new run"
        )
    return config, out


def run_values(out: Path, params: dict[str, Any]) -> Any:
    """``value(name)``: the value the run in ``out`` trains with, for a -p given to --resume: its own -p, else what
    its checkpoint's model holds (set by a preset, --pixels or the defaults), else the default."""
    from sb3_ddpg_ext.checkpoint import CHECKPOINTS, latest_checkpoint
    from sb3_ddpg_ext.paper_ddpg import PaperDDPG
    from sb3_ddpg_ext.paper_ddpg.loading import SAVED_AS
    from sb3_ddpg_ext.paper_ddpg.save_util import read_saved_data

    defaults = PaperDDPG.hyperparameter_defaults()
    checkpoint = latest_checkpoint(out / CHECKPOINTS)
    try:
        saved = read_saved_data(checkpoint / "model.zip") if checkpoint is not None else {}
    except (OSError, ValueError):
        saved = {}  # resuming says what is wrong with it

    def value(name: str) -> Any:
        return params[name] if name in params else saved.get(SAVED_AS.get(name, name), defaults.get(name))

    return value


def shown(option: str, saved: Any) -> str:
    """A run's option as a user gave it: ``--her`` unset is "auto" (on for goal-conditioned envs)."""
    return "auto (on for goal-conditioned envs)" if option == "her" and saved is None else str(saved)


def same_option(option: str, given: Any, saved: Any) -> bool:
    """Whether a value given to ``--resume`` is the run's: folders compare as paths (``tb/`` is ``tb``)."""
    if option == "tensorboard" and given is not None and saved is not None:
        return Path(given).resolve() == Path(saved).resolve()
    return bool(given == saved)


def finished_step(out: Path, budget: int) -> int | None:
    """The step at which the run in ``out`` finished, or None: from the record its end wrote (``checkpoint.FINISHED``);
    for a run of a version before that record (0.5.0), from its model.zip, saved at the budget only by a run that
    reached it. A model.zip of 0.5.0 on at the budget without the record is a run stopped in its last evaluation."""
    from sb3_ddpg_ext.checkpoint import CHECKPOINTS, read_finished
    from sb3_ddpg_ext.paper_ddpg.save_util import VERSION_KEY, read_saved_data

    finished = read_finished(out / CHECKPOINTS)
    if finished is None and (out / "model.zip").is_file():
        try:
            data = read_saved_data(out / "model.zip")
        except (OSError, ValueError):
            return None  # not a readable model: resuming replaces it
        version = tuple(int(part) for part in str(data.get(VERSION_KEY, "0")).split(".")[:2] if part.isdigit())
        if version >= (0, 5):
            return None
        saved = int(data.get("num_timesteps", 0))
        finished = saved if saved >= budget else None
    return finished


def run(args: argparse.Namespace) -> int:
    from sb3_ddpg_ext.rundir import clear_run_dir, run_folder_lock

    resumed = Path(args.resume) if args.resume is not None else None
    # One process at a time per run folder: a run being resumed is held before its checkpoint is read.
    held = run_folder_lock(resumed) if resumed is not None and resumed.is_dir() else contextlib.nullcontext()
    with held:
        config, out = train_config(args)
        with run_folder_lock(out), sigterm_as_ctrl_c() as terminated:
            if args.resume is None:
                clear_run_dir(out)  # --overwrite: the earlier run's files (prepare_run_dir refused them otherwise)
            try:
                code = train_and_report(args, config, out)
            except KeyboardInterrupt:
                if not terminated:
                    raise  # Ctrl-C outside training: cli.main says so
                print(f"sb3-ddpg train: terminated (SIGTERM) while setting up or saving {out}", file=sys.stderr)
                return EXIT_TERMINATED
    return EXIT_TERMINATED if terminated and code == EXIT_INTERRUPTED else code


@contextlib.contextmanager
def sigterm_as_ctrl_c() -> Iterator[list[int]]:
    """SIGTERM (what a preempted machine, ``docker stop``, SLURM or ``timeout`` sends) stops the run as Ctrl-C does:
    the evaluation logs completed, the model saved, the checkpoint to resume named. The list yielded gets the signal."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def stop(signum: int, _frame: Any) -> None:
        received.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield received
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def train_and_report(args: argparse.Namespace, config: Any, out: Path) -> int:
    """Trains, saves the model, and says in a few lines what the run wrote and how it ended (its exit code)."""
    import numpy as np
    from stable_baselines3 import HerReplayBuffer

    from sb3_ddpg_ext import plots
    from sb3_ddpg_ext.checkpoint import CHECKPOINTS, latest_checkpoint, write_finished
    from sb3_ddpg_ext.envs import eval_seed
    from sb3_ddpg_ext.errors import interrupted_message
    from sb3_ddpg_ext.run import train
    from sb3_ddpg_ext.rundir import BEST_MODEL_FILE, NORMALIZATION_FILE

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
        normalize.save(str(out / NORMALIZATION_FILE))  # read back by evaluate
        written.append(out / NORMALIZATION_FILE)
    best = result.best()
    evaluation = result.evaluation
    if evaluation.evaluations_timesteps:
        title = f"PaperDDPG on {config.env_id} (seed {config.seed})"
        plots.learning_curve(out / "evaluations.csv", out / "learning_curve.png", title, config.eval_episodes)
        written += [out / "evaluations.csv", out / "evaluations.npz", out / "learning_curve.png"]
    if result.checkpoint is not None:
        written.append(result.checkpoint)
    if (out / CHECKPOINTS).is_dir() and result.stopped is None and not result.interrupted:
        written.append(write_finished(out / CHECKPOINTS, model.num_timesteps))  # last: --resume refuses a finished run
    if best is not None and not (out / BEST_MODEL_FILE).is_file():  # resumed from a checkpoint of before 0.5.1
        print(
            f"{config.env_id}: best evaluation {best[1]:.1f} +/- {best[2]:.1f} at step {best[0]} "
            f"({config.eval_episodes} episodes); its model was not kept (the checkpoint resumed predates best models)"
        )
    elif best is not None:
        written.insert(1 if result.stopped is None else 0, out / BEST_MODEL_FILE)
        print(
            f"{config.env_id}: best evaluation {best[1]:.1f} +/- {best[2]:.1f} at step {best[0]} "
            f"({config.eval_episodes} episodes): {out / 'best_model.zip'}"
        )
        pixels = " --pixels" if config.pixels else ""  # the same episodes: evaluations seed with eval_seed + step
        replay = f"{shlex.quote(str(out / 'best_model.zip'))} --seed {eval_seed(config.seed) + best[0]}"
        print(f"replay it: sb3-ddpg evaluate {replay} --episodes {config.eval_episodes}{pixels}")
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
        checkpoint = latest_checkpoint(out / CHECKPOINTS)  # this sitting's, or the one a resumed run started from
        if checkpoint is not None:
            step = int(checkpoint.name.removeprefix("step-"))
            resume = f"; 'sb3-ddpg train --resume {out}' continues from the checkpoint at step {step}"
        print(interrupted_message(model.num_timesteps, out) + resume, file=sys.stderr)  # Ctrl-C, or SIGTERM
        return EXIT_INTERRUPTED
    return 0
