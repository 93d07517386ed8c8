"""``sb3-ddpg tune`` and ``tune-report``: an Optuna study from a spec (``sb3_ddpg_ext.tune``), and its report."""

import argparse
import sys
from pathlib import Path
from typing import Any

from sb3_ddpg_ext.commands import EXIT_INTERRUPTED, require_extra
from sb3_ddpg_ext.errors import UserError


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


def run(args: argparse.Namespace) -> int:
    require_extra("tune", "optuna")
    import optuna

    from sb3_ddpg_ext.params import check_device
    from sb3_ddpg_ext.tune.storage import EMBEDDED_STORAGE, hide_password, open_storage
    from sb3_ddpg_ext.tune.workers import WorkerInterrupted, create_study, run_worker, worker_id, worker_seed

    spec = spec_from_args(args)
    check_device(args.device)
    spec.check_env()  # an unknown id, discrete actions, buffer settings for another buffer: before the study is touched
    heartbeats = {"--heartbeat-interval": args.heartbeat_interval, "--grace-period": args.grace_period}
    if not (args.storage or "").startswith("postgresql"):
        for flag in [flag for flag, value in heartbeats.items() if value is not None][:1]:
            raise UserError(f"{flag} has no effect here: heartbeats are for a PostgreSQL --storage; drop it")
    interval, grace = args.heartbeat_interval or 60, args.grace_period or 180
    storage = open_storage(args.storage, Path(args.out), interval, grace)
    seed = worker_seed(spec.seed) if args.sampler_seed is None else args.sampler_seed
    study = create_study(spec, storage, seed, allow_spec_change=args.allow_spec_change)
    finished_states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    before = {t.number for t in study.get_trials(deepcopy=False, states=finished_states)}
    finished = len(before)
    if finished >= spec.n_trials:  # a run that would do nothing
        raise UserError(
            f"study '{spec.name}' already has {finished} finished trials of the {spec.n_trials} asked: no trial to run; "
            f"raise --n-trials to run more, or report it (sb3-ddpg tune-report --study-name {spec.name}, same --out or "
            "--storage)"
        )
    where = hide_password(args.storage) if args.storage else Path(args.out) / EMBEDDED_STORAGE
    print(f"study '{spec.name}' on {where}; sampler seed {seed}")
    optuna.logging.set_verbosity(optuna.logging.INFO)
    try:
        run_worker(study, spec, spec.n_trials, device=args.device)
    except WorkerInterrupted as e:
        moved = ", ".join(f"#{old} as #{new}" for old, new in e.requeued.items() if new is not None)
        dropped = ", ".join(f"#{old}" for old, new in e.requeued.items() if new is None)
        said = [f"re-queued trial {moved}"] if moved else []
        said += [f"trial {dropped} stopped before sampling, nothing to re-queue"] if dropped else []
        requeued = "; ".join(said) or "no trial was running"
        print(f"sb3-ddpg tune: interrupted; {requeued}; the same command resumes the study", file=sys.stderr)
        return EXIT_INTERRUPTED
    now = study.get_trials(deepcopy=False, states=finished_states)
    mine = sum(t.number not in before and t.user_attrs.get("worker") == worker_id() for t in now)
    print(f"study '{spec.name}': {len(now)} finished trials of {spec.n_trials} ({mine} finished by this worker)")
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        print(f"no trial of study '{spec.name}' completed (all pruned or failed): see each trial's failure_reason")
        return 0
    best = study.best_trial
    print(f"best trial #{best.number}: {best.value:.2f} with {best.params}")
    return 0


def report(args: argparse.Namespace) -> int:
    require_extra("tune", "optuna")
    from sb3_ddpg_ext.rundir import writable_folder
    from sb3_ddpg_ext.tune.report import write_report
    from sb3_ddpg_ext.tune.storage import open_storage

    storage = open_storage(args.storage, Path(args.out), create=False)  # reading: a wrong path creates nothing
    if Path(args.out).exists():
        writable_folder(Path(args.out), "--out")
    print(write_report(storage, args.study_name, Path(args.out), args.fresh_seeds))
    return 0
