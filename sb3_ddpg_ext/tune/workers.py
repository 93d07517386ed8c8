"""Workers that share one study: sampler and pruner from the spec, the paper trial enqueued once, exactly
``n_trials`` finished trials across every worker, and the trials of dead workers re-queued."""

import contextlib
import functools
import logging
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
        requeue(study, t.number)


# What a study's trials must share, or their values do not compare: the budget, the evaluation schedule and what
# the runs are made of around the sampled values (the env's wrappers and normalization, the preset, the policy).
BUDGET_KEYS = (
    "timesteps",
    "n_seeds",
    "seed",
    "eval_every",
    "eval_episodes",
    "fixed",
    "policy",
    "preset",
    "env_wrapper",
    "normalize",
)


def budget(spec: StudySpec) -> dict[str, Any]:
    """The budget, schedule and run settings of a trial run under ``spec`` (recorded on each trial as its ``budget``
    attribute)."""
    return _comparable(spec.to_dict())


def saved_budget(saved: dict[str, Any]) -> dict[str, Any]:
    """:func:`budget` of a spec saved in a study (or on a trial), the keys it lacks at their defaults."""
    return _comparable({**budget(StudySpec(env_id=saved["env_id"])), **saved})  # its values as saved, not checked again


def _comparable(data: dict[str, Any]) -> dict[str, Any]:
    # No normalization and no wrapper compare equal however written: None, false, {}, [].
    return {k: (data[k] or None) if k in ("normalize", "env_wrapper") else data[k] for k in BUDGET_KEYS}


class WorkerInterrupted(Exception):
    """Ctrl-C stopped the worker. ``requeued`` maps each trial it was running to the number of its re-queued copy,
    or to None for a trial stopped before it sampled anything (nothing to re-queue: :func:`requeue`)."""

    def __init__(self, requeued: dict[int, int | None]) -> None:
        super().__init__(requeued)
        self.requeued = requeued


class _Interrupted(Exception):
    """Ctrl-C inside a trial: the trial ends as FAIL (quietly) and the worker re-queues it."""


class _SurplusTrial(Exception):
    """This worker's trial would take the study past n_trials (another worker got there first)."""


def _objective_within_budget(trial: Any, spec: StudySpec, n_trials: int, device: str) -> float:
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
    trial.set_user_attr("budget", budget(spec))
    return objective(trial, spec, device)


def create_study(
    spec: StudySpec, storage: Any, sampler_seed: int, allow_spec_change: bool = False, wait_seconds: float = 30.0
) -> Any:
    """Create or resume the study; the paper's values are enqueued once, as its first trial, on every storage.

    Creating the study is the one step every storage makes atomic (a second worker gets DuplicatedStudyError), so the
    worker that creates it enqueues the paper trial, then records the spec; the others wait for the spec (at most
    ``wait_seconds``: after that the creator died, and they do it). A study resumed with another budget or schedule
    (:data:`BUDGET_KEYS`) is refused once trials finished under the old one, which they would not compare with;
    ``allow_spec_change`` accepts it (each trial records its own budget and the report shows them). A paper trial that
    failed (an error in the trial, not Ctrl-C or a dead worker, which re-queue it at once) runs again on resume.
    """
    import optuna

    options = dict(study_name=spec.name, storage=storage, sampler=make_sampler(spec, sampler_seed), pruner=make_pruner(spec))
    try:
        study = optuna.create_study(direction="maximize", **options)
        created = True
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(**options)
        created = False
    saved = None if created else _wait_for_spec(study, wait_seconds)
    if saved is None:
        _enqueue_paper_trial(study, spec)
        study.set_user_attr("spec", spec.to_dict())
        return study
    if saved["env_id"] != spec.env_id or saved["search_space"] != spec.to_dict()["search_space"]:
        raise UserError(
            f"study '{spec.name}' in this storage was made for {saved['env_id']} with another search space; "
            "use another --study-name or the same spec"
        )
    stored = saved_budget(saved)
    changed = {k: (stored[k], v) for k, v in budget(spec).items() if stored[k] != v}
    finished = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED))
    if changed and finished and not allow_spec_change:
        diff = ", ".join(f"{k}={old} (now {new})" for k, (old, new) in changed.items())
        raise UserError(
            f"study '{spec.name}' was run with {diff}: its trials would not compare; give the same values, "
            "another --study-name, or --allow-spec-change (each trial then records its own budget)"
        )
    if changed and not finished:  # no trial finished under the old spec (a corrected one): nothing to compare with
        study.set_user_attr("spec", spec.to_dict())
    papers = [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get("paper_defaults")]
    if papers and all(t.state == optuna.trial.TrialState.FAIL for t in papers):
        requeue(study, papers[-1].number)
    return study


def _wait_for_spec(study: Any, wait_seconds: float) -> dict[str, Any] | None:
    """The spec the study's creator records just after it enqueues the paper trial; None if it never comes."""
    deadline = time.monotonic() + wait_seconds
    while (saved := study.user_attrs.get("spec")) is None and time.monotonic() < deadline:
        time.sleep(0.2)
    return saved


def _enqueue_paper_trial(study: Any, spec: StudySpec) -> None:
    reference = dict(PAPER_PARAMS)
    if spec.preset == "her-paper":  # the preset's values are the reference trial of a preset study
        from sb3_ddpg_ext.presets import HER_PAPER

        reference.update(HER_PAPER)
    paper = {k: v for k, v in reference.items() if k in spec.search_space}
    study.enqueue_trial(paper, user_attrs={"paper_defaults": True}, skip_if_exists=True)


class _QuietInterrupt(logging.Filter):
    """Optuna logs a trial ended by :class:`_Interrupted` as a failure, with a traceback: the worker says it in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], _Interrupted):
            self.number = int(record.getMessage().split()[1])
            return False
        return not (hasattr(self, "number") and record.getMessage().startswith(f"Trial {self.number} failed"))


def requeue(study: Any, number: int) -> int | None:
    """Re-queue trial ``number``'s configuration, user attributes kept (``paper_defaults`` included); its new number."""
    import optuna

    t = study.trials[number]
    params = t.system_attrs.get("fixed_params") or t.params
    if t.state == optuna.trial.TrialState.RUNNING:
        with contextlib.suppress(ValueError, RuntimeError):
            study.tell(number, state=optuna.trial.TrialState.FAIL)
    if not params:
        return None  # interrupted before it sampled anything: nothing to keep
    attrs = {k: v for k, v in t.user_attrs.items() if k not in ("worker", "budget", "retry_of")}
    study.enqueue_trial(params, user_attrs={**attrs, "retry_of": number})
    return len(study.trials) - 1


def run_worker(study: Any, spec: StudySpec, n_trials: int, poll_seconds: float = 2.0, device: str = "cpu") -> None:
    """Run trials on torch ``device`` until the study has ``n_trials`` complete or pruned trials (counting every
    worker's).

    Ctrl-C ends the worker with :class:`WorkerInterrupted`; the trial it was running is re-queued, not lost.
    """

    quiet = _QuietInterrupt()
    optuna_logger = logging.getLogger("optuna.study._optimize")
    optuna_logger.addFilter(quiet)
    try:
        _run_worker(study, spec, n_trials, poll_seconds, device)
    except (KeyboardInterrupt, OSError) as e:
        if not _is_ctrl_c(e):
            raise
        raise WorkerInterrupted({n: requeue(study, n) for n in _running_here(study)}) from None
    finally:
        optuna_logger.removeFilter(quiet)


def _run_trial(trial: Any, spec: StudySpec, n_trials: int, interrupted: list[int], device: str) -> float:
    """One trial; Ctrl-C ends it as :class:`_Interrupted` (recorded in ``interrupted``) for the worker to re-queue."""
    try:
        return _objective_within_budget(trial, spec, n_trials, device)
    except (KeyboardInterrupt, OSError) as e:
        if not _is_ctrl_c(e):
            raise
        interrupted.append(trial.number)
        raise _Interrupted() from None


def _is_ctrl_c(error: BaseException) -> bool:
    """A KeyboardInterrupt, or an error raised while handling one: optuna's journal file lock, interrupted inside its
    ``release`` after removing its lock file, removes it again and raises FileNotFoundError over the KeyboardInterrupt."""
    context: BaseException | None = error
    while context is not None:
        if isinstance(context, KeyboardInterrupt):
            return True
        context = context.__context__
    return False


def _run_worker(study: Any, spec: StudySpec, n_trials: int, poll_seconds: float, device: str) -> None:
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
        interrupted: list[int] = []
        try:
            study.optimize(
                functools.partial(_run_trial, spec=spec, n_trials=n_trials, interrupted=interrupted, device=device),
                n_trials=1,
                catch=(_SurplusTrial, _Interrupted),
                gc_after_trial=True,
            )
        except (KeyboardInterrupt, OSError) as e:
            if not _is_ctrl_c(e):
                raise
            stopped = set(interrupted + _running_here(study) + _started_untagged(study, {t.number: t.state for t in trials}))
            raise WorkerInterrupted({n: requeue(study, n) for n in sorted(stopped)}) from None
        if interrupted:
            raise WorkerInterrupted({n: requeue(study, n) for n in interrupted})


def _running_here(study: Any) -> list[int]:
    """The RUNNING trials tagged as this worker's (by its objective)."""
    import optuna

    running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    return [t.number for t in running if t.user_attrs.get("worker") == worker_id()]


def _started_untagged(study: Any, before: dict[int, Any]) -> list[int]:
    """Trials a Ctrl-C inside optuna's ``optimize`` left RUNNING before the objective tagged them as this worker's:
    new or WAITING before the call, RUNNING, untagged, and still untagged a second later (another worker tags its
    own trial at once). Otherwise they would stay RUNNING, and count, for ever."""
    import optuna

    def untagged() -> set[int]:
        running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
        fresh = [
            t for t in running if before.get(t.number, optuna.trial.TrialState.WAITING) == optuna.trial.TrialState.WAITING
        ]
        return {t.number for t in fresh if "worker" not in t.user_attrs}

    candidates = untagged()
    if candidates:
        time.sleep(1.0)
        candidates &= untagged()
    return sorted(candidates)
