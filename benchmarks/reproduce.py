"""Reproduction harness: PaperDDPG against published DDPG numbers, with the TD3 paper's evaluation protocol.

Protocol (Fujimoto et al. 2018): deterministic evaluation of 10 episodes every 5k steps (every 2% of the budget for
budgets under 100k), several seeds. Each (task, config, seed) run is one process with one torch thread, assembled by
the package's run layer (``sb3_ddpg_ext.run``, as ``sb3-ddpg train``): each evaluation follows the updates of the
steps it is labelled with and seeds its env with ``seed + 10000 + step``; the CSV
``<results>/<task>/<config>/seed<k>.csv`` is rewritten after each one, and ``seed<k>.done`` marks a finished run.
Every 2 evaluation intervals a run writes a checkpoint under ``~/.cache/sb3_ddpg_ext/reproduce`` (outside the work
tree); a re-run skips finished runs and resumes unfinished ones from their last checkpoint (a new episode starts),
so a campaign accumulates over sittings on the same machine. ``stash`` copies those checkpoints, compacted, beside the
CSVs (``seed<k>.checkpoint/``, ``reproduce_stash.py``): committed with them, they carry the campaign to a new machine.

    python benchmarks/reproduce.py run --task Pendulum-v1 --steps 100000 --seeds 0 1 2 3 4 \\
        --configs paper paper-no-bn zoo-ddpg --jobs 1
    python benchmarks/reproduce.py stash  # before a stop: the unfinished runs' checkpoints, to commit
    python benchmarks/reproduce.py report --out docs/reproduction.md

``report`` aggregates every CSV under ``--results`` (``reproduce_report.py``); the configurations, anchors and the
campaign's blocks are in ``reproduce_configs.py``.
"""

import argparse
import os
import platform
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import date
from multiprocessing import get_context
from pathlib import Path

from reproduce_configs import (
    ANCHORS,
    CAMPAIGN,
    CONFIGS,
    DESCRIPTIONS,
    RESULTS,
    default_eval_every,
    make_zoo_ddpg,
    zoo_ddpg_hyperparams,
)
from reproduce_report import ReportError, load_runs, per_seed_table, report, summarize, versus_sb3
from reproduce_stash import stash, stash_step, unstash

from sb3_ddpg_ext.commands import at_least
from sb3_ddpg_ext.envs import check_env_id
from sb3_ddpg_ext.errors import UserError
from sb3_ddpg_ext.stats import iqm_ci


def code_version(package: Path) -> str:
    """The package's version and where it was imported from, with the commit when that folder is a git checkout
    (a campaign runs from a frozen checkout through PYTHONPATH, where the installed version number can be another's)."""
    import subprocess

    import sb3_ddpg_ext

    commit = subprocess.run(
        ["git", "-C", str(package), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return f"{sb3_ddpg_ext.__version__} at {package}" + (f", commit {commit}" if commit else "")


# Re-exported for tests and notebooks: the harness's whole surface from one module.
__all__ = [
    "ANCHORS",
    "CAMPAIGN",
    "CONFIGS",
    "DESCRIPTIONS",
    "Run",
    "default_eval_every",
    "execute",
    "iqm_ci",
    "load_runs",
    "make_zoo_ddpg",
    "pending",
    "per_seed_table",
    "report",
    "run_campaign",
    "stash",
    "summarize",
    "unstash",
    "versus_sb3",
    "zoo_ddpg_hyperparams",
]

# --------------------------------------------------------------------------------------------------------------- runs
# Checkpoints live outside the work tree, which a new session lays anew: on the same machine an unfinished run resumes.
CHECKPOINT_ROOT = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "sb3_ddpg_ext" / "reproduce"


@dataclass(frozen=True)
class Run:
    task: str
    config: str
    seed: int
    steps: int
    eval_every: int
    eval_episodes: int
    results: Path
    checkpoint_every: int | None = None
    checkpoints: Path = CHECKPOINT_ROOT

    @property
    def csv(self) -> Path:
        return self.results / self.task / self.config / f"seed{self.seed}.csv"

    @property
    def done(self) -> Path:
        return self.csv.with_suffix(".done")

    @property
    def stash(self) -> Path:
        """Where ``reproduce.py stash`` copies the run's newest checkpoint, beside its CSV."""
        return self.csv.with_suffix(".checkpoint")

    @property
    def folder(self) -> Path:
        """The run folder (checkpoints, best_model.zip): one per results folder, task, config and seed."""
        key = f"{self.results.resolve()}".strip("/").replace("/", "_")
        return self.checkpoints / key / self.task / self.config / f"seed{self.seed}"


def execute(run: Run) -> tuple[str, bool]:
    """One training run in this process, through the run layer: evaluations (after the updates of their step) written
    to the run's CSV as they happen; with ``checkpoint_every``, an interrupted run resumes from its last checkpoint.
    Returns what happened, and whether the run is done or in another harness process's hands (not left unfinished)."""
    from sb3_ddpg_ext.errors import UserError
    from sb3_ddpg_ext.rundir import run_folder_lock

    run.csv.parent.mkdir(parents=True, exist_ok=True)
    run.folder.mkdir(parents=True, exist_ok=True)
    try:
        with run_folder_lock(run.folder):  # a second campaign on the same results skips the runs the first holds
            if run.done.exists():
                shutil.rmtree(run.folder, ignore_errors=True)  # made just above: nothing to resume in it
                return f"{run.task} {run.config} seed {run.seed}: finished meanwhile by another process", True
            return _execute(run), run.done.exists()
    except UserError as e:
        if "in use by another process" not in str(e):
            raise
        return f"{run.task} {run.config} seed {run.seed}: skipped, {e}", True


def _execute(run: Run) -> str:
    import stable_baselines3
    import torch as th

    import sb3_ddpg_ext
    from sb3_ddpg_ext.errors import UserError
    from sb3_ddpg_ext.run import RunConfig, train

    th.set_num_threads(1)
    start = time.time()
    spec = CONFIGS[run.config]
    resume = restore_stash(run)
    make_model = None if isinstance(spec, dict) else (lambda env: spec(env, run.task, run.seed))
    try:
        config = RunConfig(
            run.task,
            run.steps,
            seed=run.seed,
            eval_every=run.eval_every,
            eval_episodes=run.eval_episodes,
            checkpoint_every=run.checkpoint_every,
            params=spec if isinstance(spec, dict) else {},
            device="cpu",
        )
        result = train(config, run.folder, resume=resume, eval_csv=run.csv, make_model=make_model)
    except UserError as e:  # this run's message; the campaign's other runs go on, and this one is not marked done
        return f"{run.task} {run.config} seed {run.seed}: not finished: {e}"
    if result.interrupted or result.stopped:
        return f"{run.task} {run.config} seed {run.seed}: {result.stopped or 'interrupted'}"
    resumed = f", resumed from step {result.resumed_from}" if resume else ""
    run.done.write_text(
        f"finished {date.today()} ({time.time() - start:.0f} s in this sitting{resumed}) on {platform.node()} "
        f"(torch {th.__version__}, stable-baselines3 {stable_baselines3.__version__}, "
        f"sb3_ddpg_ext {code_version(Path(sb3_ddpg_ext.__file__).parent)})\n"
    )
    shutil.rmtree(run.folder, ignore_errors=True)  # its checkpoint is of no further use (its lock goes with it)
    shutil.rmtree(run.stash, ignore_errors=True)
    return f"{run.task} {run.config} seed {run.seed}: {time.time() - start:.0f} s{resumed}"


def restore_stash(run: Run) -> bool:
    """Whether the run resumes: from its newest checkpoint, the stashed one where the cache holds none as new (a new
    machine). A run that restarts from step 0 although its CSV went further says so."""
    from sb3_ddpg_ext.checkpoint import CHECKPOINTS, PREFIX, latest_checkpoint

    newest = latest_checkpoint(run.folder / CHECKPOINTS)
    stashed = stash_step(run.stash)
    if stashed is not None and (newest is None or int(newest.name.removeprefix(PREFIX)) < stashed):
        newest = unstash(run.stash, run.folder / CHECKPOINTS)
    logged = run.csv.read_text().strip().splitlines()[1:] if run.csv.is_file() else []
    if newest is None and logged:
        step = logged[-1].split(",")[0]
        print(
            f"{run.task} {run.config} seed {run.seed}: no checkpoint to resume from; restarts at step 0 "
            f"(its CSV had reached step {step})",
            flush=True,
        )
    return newest is not None


def stash_unfinished(runs: list[Run]) -> None:
    """Copy each unfinished run's newest checkpoint beside its CSV (``reproduce_stash``); remove finished runs' copies."""
    from sb3_ddpg_ext.checkpoint import CHECKPOINTS

    todo = pending(runs)
    for run in runs:
        if run not in todo:
            shutil.rmtree(run.stash, ignore_errors=True)
            continue
        copied = stash(run.folder / CHECKPOINTS, run.stash)
        step = stash_step(run.stash)
        if step is not None:
            size = sum(p.stat().st_size for p in run.stash.rglob("*") if p.is_file()) / 2**20
            state = "stashed" if copied else "already stashed"
            print(f"{run.task} {run.config} seed {run.seed}: {state} at step {step}, {run.stash} ({size:.1f} MiB)")
    print(f"{sum(stash_step(run.stash) is None for run in todo)} unfinished runs have no checkpoint yet", flush=True)


def pending(runs: list[Run]) -> list[Run]:
    """Runs without a completion marker (never started, or interrupted: those resume from their last checkpoint,
    or restart when they have none). A run finished at another budget (its CSV's last evaluation) is refused."""
    for run in runs:
        if not run.done.exists():
            continue
        rows = run.csv.read_text().strip().splitlines()[1:] if run.csv.exists() else []
        last = rows[-1].split(",")[0] if rows else "none (no evaluation logged)"
        if not (last.isdigit() and run.steps - run.eval_every < int(last) <= run.steps):
            print(
                f"reproduce.py: {run.csv} finished with its last evaluation at step {last}, not at the {run.steps} "
                "steps asked: give that run's --steps, or another --results folder",
                file=sys.stderr,
            )
            raise SystemExit(2)
    return [run for run in runs if not run.done.exists()]


def budget_entry(text: str) -> tuple[str, int]:
    """An argparse type: ``TASK=STEPS``, STEPS an integer >= 1."""
    task, sep, steps = text.partition("=")
    if not sep or not task:
        raise argparse.ArgumentTypeError(f"{text!r} is not TASK=STEPS (HalfCheetah-v5=300000)")
    return task, at_least(1)(steps)


def run_campaign(runs: list[Run], jobs: int) -> list[Run]:
    """Run what is pending, ``jobs`` processes at a time (spawned: one torch thread each), started in list order, so a
    job freed at the tail of one block starts the next block instead of idling. Returns the runs executed."""
    todo = pending(runs)
    print(f"{len(runs) - len(todo)} of {len(runs)} runs already finished; running {len(todo)} with {jobs} job(s)")
    outcomes = []
    if jobs <= 1:
        outcomes = [execute(run) for run in todo]
        for message, _ in outcomes:
            print(message, flush=True)
    else:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
            for future in as_completed([pool.submit(execute, run) for run in todo]):
                outcomes.append(future.result())
                print(outcomes[-1][0], flush=True)
    unfinished = [message for message, settled in outcomes if not settled]
    if unfinished:  # each said why above; a campaign that left runs unfinished does not exit 0
        print(f"reproduce.py: {len(unfinished)} of {len(todo)} runs did not finish (see above)", file=sys.stderr)
        raise SystemExit(1)
    return todo


# ----------------------------------------------------------------------------------------------------------- command
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="subcommand", required=True)
    runs_p = argparse.ArgumentParser(add_help=False)  # which runs, for run and stash
    runs_p.add_argument(
        "--campaign",
        action="store_true",
        help="the MuJoCo campaign's blocks in order (CAMPAIGN); --task, --configs, --seeds and --steps are then taken from it",
    )
    runs_p.add_argument("--task", default="Pendulum-v1")
    runs_p.add_argument("--configs", nargs="+", default=["paper", "paper-no-bn", "zoo-ddpg"], choices=sorted(CONFIGS))
    runs_p.add_argument("--seeds", type=at_least(0), nargs="+", default=[0, 1, 2, 3, 4])
    runs_p.add_argument("--steps", type=at_least(1), default=100_000)
    runs_p.add_argument("--eval-every", type=at_least(1), default=None, help="default: 5k, or 2%% of the budget under 100k")
    runs_p.add_argument("--eval-episodes", type=at_least(1), default=10)
    runs_p.add_argument("--results", type=Path, default=RESULTS)
    runs_p.add_argument(
        "--checkpoint-every",
        type=int,
        default=None,
        help="env steps between checkpoints (default: 2 evaluation intervals); 0: none",
    )
    runs_p.add_argument("--checkpoints", type=Path, default=CHECKPOINT_ROOT, help="where unfinished runs keep theirs")
    run_p = sub.add_parser("run", parents=[runs_p], help="train the pending (task, config, seed) runs")
    run_p.add_argument("--jobs", type=at_least(1), default=1, help="runs in parallel, one process and one thread each")
    sub.add_parser(
        "stash", parents=[runs_p], help="copy the unfinished runs' checkpoints beside their CSVs, to commit with them"
    )
    rep_p = sub.add_parser("report", help="aggregate the CSVs into a markdown report with plots")
    rep_p.add_argument("--results", type=Path, default=RESULTS)
    rep_p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "docs" / "reproduction.md")
    rep_p.add_argument("--budget", nargs="*", type=budget_entry, default=[], help="TASK=STEPS, the intended budget per task")
    rep_p.add_argument("--reps", type=at_least(1), default=2000, help="bootstrap resamples")
    rep_p.add_argument("--command", action="append", default=[], help="a command line to list in the report")
    rep_p.add_argument("--title", default="Reproduction report")
    rep_p.add_argument("--notes", type=Path, default=None, help="a markdown file appended as the report's reading")
    args = parser.parse_args(argv)
    try:
        command(args)
    except (ReportError, UserError) as e:  # a mistake in the options or the results: one line
        print(f"reproduce.py {args.subcommand}: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None


def command(args: argparse.Namespace) -> None:
    if args.subcommand in ("run", "stash"):
        print(" ".join(["python", *sys.argv]), flush=True)
        blocks = CAMPAIGN if args.campaign else [(args.task, args.steps, args.seeds, args.configs)]
        for task in {block[0] for block in blocks}:
            check_env_id(task)  # a misspelled --task: one line, before any folder is made
        runs = []  # one queue: blocks start in order, and a block's last run overlaps the next block's first
        for task, steps, seeds, configs in blocks:
            eval_every = args.eval_every or default_eval_every(steps)
            default_every = 2 * eval_every if 2 * eval_every < steps else None  # a run that short needs none
            every = default_every if args.checkpoint_every is None else args.checkpoint_every or None
            # Seed-major order: every config advances together, so a campaign cut short still compares them.
            block = [
                Run(task, config, seed, steps, eval_every, args.eval_episodes, args.results, every, args.checkpoints)
                for seed in seeds
                for config in configs
            ]
            print(f"{task}, {steps} steps, seeds {seeds}, configs {configs}: {len(pending(block))} to run", flush=True)
            runs += block
        if args.subcommand == "stash":
            stash_unfinished(runs)
        else:
            run_campaign(runs, args.jobs)
    else:
        if args.notes is not None and not args.notes.is_file():
            raise ReportError(f"--notes {args.notes}: no such file")
        for task, _ in args.budget:  # a task not started yet may have one; a misspelled one is refused
            check_env_id(task)
        print(report(args.results, args.out, args.reps, dict(args.budget), args.command, args.title, args.notes))


if __name__ == "__main__":
    main()
