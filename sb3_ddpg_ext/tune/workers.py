"""Workers that share one study: sampler and pruner from the spec, the paper trial enqueued once, exactly
``n_trials`` finished trials across every worker, and the trials of dead workers re-queued."""

import os
import socket
import time
import warnings
import zlib
from typing import Any

from sb3_ddpg_ext.errors import UserError
from sb3_ddpg_ext.search_space import PAPER_PARAMS
from sb3_ddpg_ext.tune.objective import objective
from sb3_ddpg_ext.tune.spec import StudySpec


def make_sampler(spec: StudySpec, seed: int) -> Any:
    import optuna

    options = {k: v for k, v in spec.sampler.items() if k != "name"}
    if spec.sampler["name"] == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if spec.sampler["name"] == "gp":
        return optuna.samplers.GPSampler(seed=seed, **options)
    return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True, **options)


def make_pruner(spec: StudySpec) -> Any:
    import optuna

    options = {k: v for k, v in spec.pruner.items() if k != "name"}
    if spec.pruner["name"] == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(**options)
    if spec.pruner["name"] == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(**options)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def worker_seed(base: int) -> int:
    """A different sampler seed for each worker, or parallel workers sample the same configurations."""
    return zlib.crc32(f"{worker_id()}:{base}".encode()) & 0x7FFFFFFF


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def requeue_dead_local_trials(study: Any) -> None:
    """Fail and re-queue RUNNING trials whose worker process on this host is gone (journal storage has no heartbeat)."""
    import optuna

    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        host, _, pid = str(t.user_attrs.get("worker", "")).rpartition(":")
        if host != socket.gethostname() or not pid.isdigit() or _pid_alive(int(pid)):
            continue
        try:
            study.tell(t.number, state=optuna.trial.TrialState.FAIL)
        except (ValueError, RuntimeError):
            continue  # another worker got there first and re-queues it
        attrs = {k: v for k, v in t.user_attrs.items() if k != "worker"}
        study.enqueue_trial(t.params, user_attrs={**attrs, "retry_of": t.number})


class _SurplusTrial(Exception):
    """This worker's trial would take the study past n_trials (another worker got there first)."""


def _objective_within_budget(trial: Any, spec: StudySpec, n_trials: int) -> float:
    """The objective, unless trials finished or started earlier (lower numbers) already make ``n_trials``.

    Two workers may start a trial at the same moment for the last slot; the higher trial number gives way.
    """
    import optuna

    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.RUNNING)
    ahead = [
        t
        for t in trial.study.get_trials(deepcopy=False, states=states)
        if t.state != optuna.trial.TrialState.RUNNING or t.number < trial.number
    ]
    if len(ahead) >= n_trials:
        trial.set_user_attr("failure_reason", f"surplus: the study already has {n_trials} trials finished or running")
        raise _SurplusTrial()
    trial.set_user_attr("worker", worker_id())
    return objective(trial, spec)


def create_study(spec: StudySpec, storage: Any, sampler_seed: int) -> Any:
    """Create or resume the study; the paper's values are enqueued once, as its first trial."""
    import optuna

    study = optuna.create_study(
        study_name=spec.name,
        storage=storage,
        direction="maximize",
        sampler=make_sampler(spec, sampler_seed),
        pruner=make_pruner(spec),
        load_if_exists=True,
    )
    saved = study.user_attrs.get("spec")
    if saved is None:
        study.set_user_attr("spec", spec.to_dict())
    elif saved["env_id"] != spec.env_id or saved["search_space"] != spec.to_dict()["search_space"]:
        raise UserError(
            f"study '{spec.name}' in this storage was made for {saved['env_id']} with another search space; "
            "use another --study-name or the same spec"
        )
    reference = dict(PAPER_PARAMS)
    if spec.preset == "her-paper":  # the preset's values are the reference trial of a preset study
        from sb3_ddpg_ext.presets import HER_PAPER

        reference.update(HER_PAPER)
    paper = {k: v for k, v in reference.items() if k in spec.search_space}
    study.enqueue_trial(paper, user_attrs={"paper_defaults": True}, skip_if_exists=True)
    return study


def run_worker(study: Any, spec: StudySpec, n_trials: int, poll_seconds: float = 2.0) -> None:
    """Run trials until the study has ``n_trials`` complete or pruned trials (counting every worker's)."""
    import optuna

    finished_states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    while True:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)  # RDB storages: a killed worker's trial is failed and re-queued
        requeue_dead_local_trials(study)  # any storage: the same for this host's dead workers
        trials = study.get_trials(deepcopy=False)
        finished = sum(t.state in finished_states for t in trials)
        running = sum(t.state == optuna.trial.TrialState.RUNNING for t in trials)
        waiting = sum(t.state == optuna.trial.TrialState.WAITING for t in trials)
        if finished >= n_trials:
            return
        if finished + running >= n_trials and not waiting:
            time.sleep(poll_seconds)  # the last trials are running elsewhere: wait in case one is lost
            continue
        study.optimize(
            lambda t: _objective_within_budget(t, spec, n_trials), n_trials=1, catch=(_SurplusTrial,), gc_after_trial=True
        )
