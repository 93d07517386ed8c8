"""Optuna studies that tune PaperDDPG's tau, actor and critic learning rates and OU sigma.

``sb3-ddpg tune`` runs one worker; any number of workers started anywhere with the same storage and study
name share the study, until it holds ``n_trials`` finished (complete or pruned) trials.
``sb3-ddpg tune-report`` prints paper vs best and the importances, writes Optuna's plots and a zoo YAML entry.
"""

import argparse
import inspect
import os
import socket
import time
import warnings
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from sb3_ddpg_ext.search_space import DEFAULT_SEARCH_SPACE, PAPER_PARAMS, Range, sample_params

EMBEDDED_STORAGE = "study.journal"


class TuningError(Exception):
    """A problem the user can fix; the CLI prints it as one line."""


@dataclass
class StudySpec:
    """A study: environment, budget, evaluation schedule, seeds, search space, sampler and pruner (tuning/*.yaml)."""

    env_id: str
    n_trials: int = 20
    timesteps: int = 10_000
    n_seeds: int = 1
    seed: int = 0
    eval_every: int = 2_000
    eval_episodes: int = 5
    search_space: dict[str, Range] = field(default_factory=lambda: dict(DEFAULT_SEARCH_SPACE))
    fixed: dict[str, Any] = field(default_factory=dict)
    sampler: dict[str, Any] = field(default_factory=lambda: {"name": "tpe", "n_startup_trials": 5})
    pruner: dict[str, Any] = field(default_factory=lambda: {"name": "median", "n_startup_trials": 5, "n_warmup_steps": 0})
    study_name: str | None = None

    def __post_init__(self) -> None:
        from sb3_ddpg_ext import PaperDDPG

        algo = PaperDDPG.hyperparameter_defaults()
        for name, r in self.search_space.items():
            if name not in algo:
                raise TuningError(f"search_space: unknown parameter '{name}'; PaperDDPG takes {', '.join(sorted(algo))}")
            if name in PAPER_PARAMS and not r.low <= PAPER_PARAMS[name] <= r.high:
                raise TuningError(
                    f"search_space: {name} range [{r.low}, {r.high}] must contain the paper's {PAPER_PARAMS[name]}"
                )
        for name in self.fixed:
            if name not in algo:
                raise TuningError(f"fixed: unknown parameter '{name}'; PaperDDPG takes {', '.join(sorted(algo))}")
            if name in self.search_space:
                raise TuningError(f"'{name}' is both fixed and in the search space: keep it in one of them")
        for name, value in (("n_trials", self.n_trials), ("timesteps", self.timesteps), ("n_seeds", self.n_seeds),
                            ("eval_every", self.eval_every), ("eval_episodes", self.eval_episodes)):  # fmt: skip
            if value < 1:
                raise TuningError(f"{name}={value} must be >= 1")
        if self.timesteps % self.eval_every:
            raise TuningError(f"timesteps={self.timesteps} must be a multiple of eval_every={self.eval_every}")
        if self.sampler.get("name") not in ("tpe", "random", "gp"):
            raise TuningError(f"sampler '{self.sampler.get('name')}' is not one of tpe, random, gp")
        if self.pruner.get("name") not in ("median", "halving", "none"):
            raise TuningError(f"pruner '{self.pruner.get('name')}' is not one of median, halving, none")

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "spec") -> "StudySpec":
        known = set(inspect.signature(cls).parameters)
        unknown = set(data) - known
        if unknown:
            raise TuningError(f"{source}: unknown key(s) {', '.join(sorted(unknown))}; valid keys: {', '.join(sorted(known))}")
        data = dict(data)
        if "search_space" in data:
            space = {}
            for name, r in (data["search_space"] or {}).items():
                try:
                    space[name] = Range(float(r["low"]), float(r["high"]), bool(r.get("log", False)))
                except (KeyError, TypeError) as e:
                    raise TuningError(f"{source}: search_space.{name} needs low, high and optional log, got {r!r}") from e
                except ValueError as e:
                    raise TuningError(f"{source}: search_space.{name}: {e}") from e
            if not space:
                raise TuningError(f"{source}: search_space is empty")
            data["search_space"] = space
        return cls(**data)

    @classmethod
    def from_yaml(cls, path: str | Path) -> "StudySpec":
        path = Path(path)
        if not path.exists():
            raise TuningError(f"no study spec at {path}")
        return cls.from_dict(yaml.safe_load(path.read_text()) or {}, source=str(path))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["search_space"] = {k: asdict(v) for k, v in self.search_space.items()}
        return data

    @property
    def name(self) -> str:
        return self.study_name or f"paper_ddpg-{self.env_id}"


def open_storage(url: str | None, run_dir: Path, heartbeat_interval: int = 60, grace_period: int = 180) -> Any:
    """The study storage: an Optuna journal file under ``run_dir`` by default, or an RDB URL.

    The embedded default is a journal file, not SQLite: several local workers can append to it safely,
    where SQLite fails with "database is locked". PostgreSQL gets heartbeats, so a killed worker's trial
    is failed and re-queued (RetryHeartbeatStaleTrialCallback), and pool_pre_ping for long trials.
    """
    import optuna
    import sqlalchemy.exc

    if url is None or ("://" not in url and url.endswith((".journal", ".log"))):
        path = run_dir / EMBEDDED_STORAGE if url is None else Path(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    shown = _hide_password(url)
    if not url.startswith(("sqlite:///", "postgresql")):
        raise TuningError(
            f"unsupported storage URL {shown}: use a path ending in .journal (default: {run_dir / EMBEDDED_STORAGE}), "
            "sqlite:///study.db (one worker only) or postgresql+psycopg://user:password@host:5432/dbname"
        )
    kwargs: dict[str, Any] = {}
    if url.startswith("postgresql"):
        kwargs = dict(
            engine_kwargs={"pool_pre_ping": True},
            heartbeat_interval=heartbeat_interval,
            grace_period=grace_period,
            heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=3),
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(url, **kwargs)
    except (sqlalchemy.exc.SQLAlchemyError, ImportError, ValueError) as e:
        reason = str(e).strip().splitlines()[0]
        raise TuningError(f"cannot open storage {shown}: {reason}") from e


def _hide_password(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


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


def worker_seed(base: int) -> int:
    """A different sampler seed for each worker, or parallel workers sample the same configurations."""
    return zlib.crc32(f"{worker_id()}:{base}".encode()) & 0x7FFFFFFF


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


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


def divergence_reason(model: Any) -> str | None:
    """Why a trial diverged (non-finite weights or losses), or None."""
    import torch as th

    for name, value in model.logger.name_to_value.items():
        if name.startswith("train/") and not np.isfinite(value):
            return f"{name} is {value}"
    for name, p in model.policy.named_parameters():
        if not th.isfinite(p).all():
            return f"non-finite weights in {name}"
    return None


class _SurplusTrial(Exception):
    """This worker's trial would take the study past n_trials (another worker got there first)."""


def objective(trial: Any, spec: StudySpec) -> float:
    """Train ``n_seeds`` agents side by side; report the mean deterministic return every ``eval_every`` steps."""
    import optuna
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy

    from sb3_ddpg_ext import PaperDDPG

    params = {**spec.fixed, **sample_params(trial, spec.search_space)}
    seeds = [spec.seed + k for k in range(spec.n_seeds)]
    models = [PaperDDPG("MlpPolicy", make_vec_env(spec.env_id, seed=s), seed=s, device="cpu", **params) for s in seeds]
    eval_envs = [make_vec_env(spec.env_id, seed=s + 10_000) for s in seeds]
    try:
        for step in range(spec.eval_every, spec.timesteps + 1, spec.eval_every):
            returns = []
            for seed, model, eval_env in zip(seeds, models, eval_envs, strict=True):
                model.learn(spec.eval_every, reset_num_timesteps=False)
                mean_return = float("nan")
                reason = divergence_reason(model)
                if reason is None:
                    mean_return, _ = evaluate_policy(model, eval_env, n_eval_episodes=spec.eval_episodes, deterministic=True)
                    reason = None if np.isfinite(mean_return) else f"evaluation return is {mean_return}"
                if reason is not None:
                    trial.set_user_attr("failure_reason", f"diverged at step {step}, seed {seed}: {reason}")
                    raise optuna.TrialPruned(f"diverged: {reason}")
                returns.append(float(mean_return))
            value = float(np.mean(returns))
            trial.report(value, step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        trial.set_user_attr("seed_returns", returns)
        return value
    finally:
        for env in [*eval_envs, *(model.get_env() for model in models)]:
            env.close()


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
        raise TuningError(
            f"study '{spec.name}' in this storage was made for {saved['env_id']} with another search space; "
            "use another --study-name or the same spec"
        )
    paper = {k: v for k, v in PAPER_PARAMS.items() if k in spec.search_space}
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


def add_arguments(tune: argparse.ArgumentParser, report: argparse.ArgumentParser) -> None:
    tune.add_argument("--env", default=None, help="gymnasium id (or take it from --spec)")
    tune.add_argument("--spec", default=None, help="study spec YAML, e.g. tuning/pendulum.yaml")
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
    report.add_argument("--storage", default=None, help="as given to tune (default: the journal under --out)")
    report.add_argument("--study-name", required=True)
    report.add_argument("--out", default="runs/tune", help="where the plots, report.md and the zoo YAML go")
    report.add_argument("--fresh-seeds", type=int, default=0, help="re-train paper and best on N unseen seeds")


def spec_from_args(args: argparse.Namespace) -> StudySpec:
    data: dict[str, Any] = {}
    if args.spec:
        data = StudySpec.from_yaml(args.spec).to_dict()
    overrides = {"env_id": args.env, "n_trials": args.n_trials, "timesteps": args.timesteps, "n_seeds": args.n_seeds,
                 "eval_every": args.eval_every, "study_name": args.study_name}  # fmt: skip
    if args.env and data.get("env_id") not in (None, args.env):
        raise TuningError(f"--env {args.env} differs from the spec's env_id {data['env_id']}")
    data.update({k: v for k, v in overrides.items() if v is not None})
    if "env_id" not in data:
        raise TuningError("give --env ENV_ID or --spec tuning/<file>.yaml")
    return StudySpec.from_dict(data)


def cli_tune(args: argparse.Namespace) -> int:
    import optuna
    import torch as th

    from sb3_ddpg_ext.cli import UserError, make_vec_env

    th.set_num_threads(args.threads)
    try:
        spec = spec_from_args(args)
        make_vec_env(spec.env_id).close()  # a clear error for a bad env id, before the study is touched
        storage = open_storage(args.storage, Path(args.out), args.heartbeat_interval, args.grace_period)
        seed = worker_seed(spec.seed) if args.sampler_seed is None else args.sampler_seed
        study = create_study(spec, storage, seed)
    except TuningError as e:
        raise UserError(str(e)) from e
    print(f"study '{spec.name}' on {args.storage or Path(args.out) / EMBEDDED_STORAGE}; sampler seed {seed}")
    optuna.logging.set_verbosity(optuna.logging.INFO)
    run_worker(study, spec, spec.n_trials)
    best = study.best_trial
    print(f"best trial #{best.number}: {best.value:.2f} with {best.params}")
    return 0


def cli_report(args: argparse.Namespace) -> int:
    from sb3_ddpg_ext.cli import UserError

    try:
        storage = open_storage(args.storage, Path(args.out))
        return write_report(storage, args.study_name, Path(args.out), args.fresh_seeds)
    except TuningError as e:
        raise UserError(str(e)) from e


def write_report(storage: Any, study_name: str, out: Path, fresh_seeds: int = 0) -> int:
    """Print paper vs best and importances; write plots, report.md and a ready rl-zoo3 YAML entry."""
    import optuna

    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError as e:
        raise TuningError(f"no study named '{study_name}' in this storage") from e
    complete = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        raise TuningError(f"study '{study_name}' has no complete trial yet")
    spec = StudySpec.from_dict(study.user_attrs["spec"])
    best = study.best_trial
    paper = next((t for t in study.trials if t.user_attrs.get("paper_defaults")), None)
    out.mkdir(parents=True, exist_ok=True)
    lines = [f"# Study '{study_name}': PaperDDPG on {spec.env_id}", ""]
    counts = {s.name: sum(t.state == s for t in study.trials) for s in optuna.trial.TrialState}
    lines.append(f"Trials: {', '.join(f'{k.lower()} {v}' for k, v in counts.items() if v)}. "
                 f"Budget per trial: {spec.timesteps} steps x {spec.n_seeds} seeds, value = mean final deterministic "
                 f"return over {spec.eval_episodes} episodes.")  # fmt: skip
    lines += ["", "| trial | value | " + " | ".join(spec.search_space) + " |", "|---" * (2 + len(spec.search_space)) + "|"]
    for label, t in (("paper", paper), ("best", best)):
        if t is None:
            continue
        value = f"{t.value:.2f}" if t.value is not None else t.state.name.lower()
        lines.append(
            f"| {label} (#{t.number}) | {value} | "
            + " | ".join(f"{t.params.get(k, float('nan')):.3g}" for k in spec.search_space)
            + " |"
        )
    if len(complete) >= 2:
        importances = optuna.importance.get_param_importances(study)
        lines += ["", "Parameter importances: " + ", ".join(f"{k} {v:.2f}" for k, v in importances.items())]
    lines += _write_plots(study, out)
    zoo_yaml = out / "paper_ddpg_tuned.yml"
    zoo_yaml.write_text(zoo_entry(spec, best))
    lines += ["", f"rl-zoo3 entry: {zoo_yaml.name}"]
    if fresh_seeds:
        lines += ["", *validate_on_fresh_seeds(spec, paper.params if paper else PAPER_PARAMS, best.params, fresh_seeds)]
    text = "\n".join(lines) + "\n"
    (out / "report.md").write_text(text)
    print(text)
    return 0


def _write_plots(study: Any, out: Path) -> list[str]:
    """Optuna's own plots: HTML (plotly) and PNG (matplotlib)."""
    import matplotlib
    import optuna

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    n_complete = len(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)))
    plots = ["optimization_history", "parallel_coordinate"] + (["param_importances"] if n_complete >= 2 else [])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in plots:
            getattr(optuna.visualization, f"plot_{name}")(study).write_html(out / f"{name}.html", include_plotlyjs="cdn")
            ax = getattr(optuna.visualization.matplotlib, f"plot_{name}")(study)
            fig = (ax if isinstance(ax, np.ndarray) else np.array([ax])).flat[0].get_figure()
            fig.set_size_inches(8, 5)
            fig.tight_layout()
            fig.savefig(out / f"{name}.png", dpi=90)
            plt.close(fig)
            written.append(f"![{name}]({name}.png)")
    return ["", *written]


def zoo_entry(spec: StudySpec, best: Any) -> str:
    """An rl-zoo3 YAML entry: the paper's settings with the study's best values (for zoo_configs/)."""
    paper_settings = ("actor_learning_rate", "critic_learning_rate", "critic_weight_decay", "gamma", "tau", "batch_size",
                      "buffer_size", "learning_starts", "train_freq", "gradient_steps", "ou_sigma", "ou_theta")  # fmt: skip
    from sb3_ddpg_ext import PaperDDPG

    defaults = {k: v for k, v in PaperDDPG.hyperparameter_defaults().items() if k in paper_settings}
    entry = {"n_timesteps": spec.timesteps, "policy": "MlpPolicy", **defaults, **spec.fixed, **best.params}
    header = (
        f"# Tuned by Optuna study '{spec.name}' (trial #{best.number}, value {best.value:.2f}); other values: paper defaults\n"
    )
    return header + yaml.safe_dump({spec.env_id: entry}, sort_keys=False)


def validate_on_fresh_seeds(spec: StudySpec, paper: dict[str, float], best: dict[str, float], n_seeds: int) -> list[str]:
    """Re-train the paper and best configurations on seeds the study never used; IQM and 95% CIs via rliable."""
    from rliable import library as rly
    from rliable import metrics

    fresh = StudySpec.from_dict({**spec.to_dict(), "seed": spec.seed + 1000, "n_seeds": 1, "study_name": None})
    scores = {}
    for label, params in (("paper", paper), ("best", best)):
        finals = []
        for k in range(n_seeds):
            one = StudySpec.from_dict({**fresh.to_dict(), "seed": fresh.seed + k, "fixed": fresh.fixed})
            finals.append(_final_return(one, params))
        scores[label] = np.array(finals)[:, None]
    iqm, cis = rly.get_interval_estimates(scores, lambda x: np.array([metrics.aggregate_iqm(x)]), reps=2000)
    lines = [f"Fresh seeds {fresh.seed}..{fresh.seed + n_seeds - 1} (never used by the study), final return:", ""]
    lines += ["| config | mean | IQM | 95% CI of IQM | per seed |", "|---|---|---|---|---|"]
    for label in ("paper", "best"):
        ci = f"[{cis[label][0][0]:.1f}, {cis[label][1][0]:.1f}]"
        per_seed = ", ".join(f"{x:.0f}" for x in scores[label][:, 0])
        lines.append(f"| {label} | {scores[label].mean():.1f} | {iqm[label][0]:.1f} | {ci} | {per_seed} |")
    return lines


def _final_return(spec: StudySpec, params: dict[str, float]) -> float:
    import optuna

    return objective(optuna.trial.FixedTrial(params), spec)
