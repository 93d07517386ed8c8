"""Reproduction harness: PaperDDPG against published DDPG numbers, with the TD3 paper's evaluation protocol.

Protocol (Fujimoto et al. 2018): deterministic evaluation of 10 episodes every 5k steps (every 2% of the budget for
budgets under 100k), several seeds. Each (task, config, seed) run is one process with one torch thread, assembled by
the package's run layer (``sb3_ddpg_ext.run``, as ``sb3-ddpg train``): each evaluation follows the updates of the
steps it is labelled with and seeds its env with ``seed + 10000 + step``; the CSV
``<results>/<task>/<config>/seed<k>.csv`` is rewritten after each one, and ``seed<k>.done`` marks a finished run.
Every 2 evaluation intervals a run writes a checkpoint under ``~/.cache/sb3_ddpg_ext/reproduce`` (outside the work
tree); a re-run skips finished runs and resumes unfinished ones from their last checkpoint (a new episode starts),
so a campaign accumulates over sittings on the same machine.

    python benchmarks/reproduce.py run --task Pendulum-v1 --steps 100000 --seeds 0 1 2 3 4 \\
        --configs paper paper-no-bn zoo-ddpg --jobs 1
    python benchmarks/reproduce.py report --out docs/reproduction.md

``report`` aggregates every CSV under ``--results`` with rliable (IQM and 95% stratified-bootstrap CIs per config
and step, final and best scores, a performance profile), draws the curves with the published anchors and writes the
markdown report with its PNGs next to it.
"""

import argparse
import importlib.resources
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Anchor:
    label: str
    value: float
    steps: int


# Published numbers (shared REFERENCE.md section 2). The TD3 paper's are max average returns over 10 trials on the
# Gym v1 MuJoCo tasks; the RL Zoo's is one agent's deterministic evaluation.
ANCHORS: dict[str, list[Anchor]] = {
    "Pendulum-v1": [Anchor("RL Zoo SB3 DDPG (20k)", -152.10, 20_000)],
    "HalfCheetah-v5": [
        Anchor("TD3 paper: Baselines DDPG (1M)", 3305.60, 1_000_000),
        Anchor('TD3 paper: "Our DDPG" (1M)', 8577.29, 1_000_000),
    ],
    "Hopper-v5": [
        Anchor("TD3 paper: Baselines DDPG (1M)", 2020.46, 1_000_000),
        Anchor('TD3 paper: "Our DDPG" (1M)', 1860.02, 1_000_000),
    ],
    "InvertedPendulum-v5": [Anchor("TD3 paper: Baselines DDPG and Our DDPG (1M)", 1000.0, 1_000_000)],
    "Walker2d-v5": [
        Anchor("TD3 paper: Baselines DDPG (1M)", 1843.85, 1_000_000),
        Anchor('TD3 paper: "Our DDPG" (1M)', 3098.11, 1_000_000),
    ],
}


# ---------------------------------------------------------------------------------------------------- configurations
def zoo_ddpg_hyperparams(task: str) -> dict[str, Any]:
    """rl-zoo3's own ``hyperparams/ddpg.yml`` entry for ``task``, read from the installed package.

    MuJoCo ``-v5`` tasks use the ``-v4`` entry; a MuJoCo task without one uses the file's MuJoCo defaults
    (its ``HalfCheetah-v4`` anchor); anything else the file's ``default``.
    """
    import yaml

    text = importlib.resources.files("rl_zoo3").joinpath("hyperparams/ddpg.yml").read_text()
    entries = yaml.safe_load(text)
    v4 = task.replace("-v5", "-v4")
    mujoco = {"HalfCheetah", "Hopper", "Walker2d", "Ant", "Humanoid", "Swimmer", "InvertedPendulum", "Reacher",
              "InvertedDoublePendulum", "Pusher", "HumanoidStandup"}  # fmt: skip
    if task in entries:
        return dict(entries[task])
    if task.endswith("-v5") and v4 in entries:
        return dict(entries[v4])
    if task.split("-")[0] in mujoco:
        return dict(entries["HalfCheetah-v4"])  # the file's &mujoco-defaults anchor
    return dict(entries["default"])


def make_zoo_ddpg(env, task: str, seed: int):
    """SB3's DDPG with rl-zoo3's hyperparameters, noise translated as ``rl_zoo3.exp_manager`` does."""
    from stable_baselines3 import DDPG
    from stable_baselines3.common.noise import NormalActionNoise, OrnsteinUhlenbeckActionNoise
    from torch import nn

    hp = zoo_ddpg_hyperparams(task)
    for key in ("n_timesteps", "policy", "normalize"):
        hp.pop(key, None)
    n_actions = env.action_space.shape[0]
    noise_type, noise_std = hp.pop("noise_type", None), hp.pop("noise_std", None)
    if noise_type is not None and "normal" in noise_type:
        hp["action_noise"] = NormalActionNoise(np.zeros(n_actions), noise_std * np.ones(n_actions))
    elif noise_type is not None and "ornstein-uhlenbeck" in noise_type:
        hp["action_noise"] = OrnsteinUhlenbeckActionNoise(np.zeros(n_actions), noise_std * np.ones(n_actions))
    if isinstance(hp.get("policy_kwargs"), str):
        hp["policy_kwargs"] = eval(hp["policy_kwargs"], {"dict": dict, "nn": nn})  # as rl-zoo3 does
    if isinstance(hp.get("train_freq"), list):
        hp["train_freq"] = tuple(hp["train_freq"])
    return DDPG("MlpPolicy", env, seed=seed, **hp)


def paper(**kwargs: Any) -> dict[str, Any]:
    """A PaperDDPG configuration: constructor arguments over the paper's defaults (the run layer builds it)."""
    return kwargs


# rllab's reading of the BN statistics in the update passes, this package's default before issue 9 (without the
# Lasagne epsilon of ``presets.rllab()``: the configs below were run with torch's).
RUNNING_STATS = dict(bn_stats_for_y="running", bn_stats_for_policy_gradient="running")

# A config is PaperDDPG's arguments (a dict), or a function (env, task, seed) -> model for another algorithm.
CONFIGS: dict[str, dict[str, Any] | Callable] = {
    # PaperDDPG at the paper's settings (the defaults).
    "paper": paper(),
    "paper-no-bn": paper(policy_kwargs=dict(batch_norm=False)),
    "zoo-ddpg": make_zoo_ddpg,
    "paper-running-stats": paper(**RUNNING_STATS),
    # Batch-norm stability candidates (docs/bn_stability.md), each one change from "paper-running-stats".
    "bn-actor-only": paper(**RUNNING_STATS, policy_kwargs=dict(critic_batch_norm=False)),
    "bn-batch-stats": paper(bn_stats_for_y="batch", bn_stats_for_policy_gradient="batch"),  # = "paper"
    "bn-batch-stats-y": paper(bn_stats_for_y="batch", bn_stats_for_policy_gradient="running"),
    "batch-renorm": paper(
        **RUNNING_STATS, policy_kwargs=dict(norm_layer="batch_renorm", norm_layer_kwargs=dict(warmup_steps=5_000))
    ),
    "running-stats-no-l2": paper(**RUNNING_STATS, critic_weight_decay=0.0),
    # The behaviour before issue 9: L2 on every critic parameter, target BN statistics copied, running statistics.
    "paper-before-issue9": paper(**RUNNING_STATS, critic_l2_on="all", target_bn_stats="copy"),
    # The networks before 0.3.0: a bias on each Linear layer that feeds batch norm (issue 20's before/after).
    "paper-bias-before-bn": paper(policy_kwargs=dict(bias_before_norm=True)),
}

DESCRIPTIONS: dict[str, str] = {
    "paper": "`PaperDDPG()` at the paper's settings (the defaults: batch statistics in every update pass, L2 on the "
    "critic's weights, target BN statistics averaged)",
    "paper-no-bn": "`PaperDDPG`, `policy_kwargs=dict(batch_norm=False)`",
    "zoo-ddpg": "SB3's `DDPG` with rl-zoo3's `hyperparams/ddpg.yml` entry (each task section lists it)",
    "paper-running-stats": '`PaperDDPG`, `bn_stats_for_y="running"`, `bn_stats_for_policy_gradient="running"` '
    "(rllab's reading; the default before issue 9)",
    "bn-actor-only": "`paper-running-stats` with `policy_kwargs=dict(critic_batch_norm=False)`",
    "bn-batch-stats": '`bn_stats_for_y="batch"`, `bn_stats_for_policy_gradient="batch"` (now the defaults: = `paper`)',
    "bn-batch-stats-y": '`paper-running-stats` with `bn_stats_for_y="batch"`',
    "batch-renorm": '`paper-running-stats` with `policy_kwargs=dict(norm_layer="batch_renorm")`, warm-up 5,000 steps',
    "running-stats-no-l2": "`paper-running-stats` with `critic_weight_decay=0`",
    "paper-before-issue9": '`paper-running-stats` with `critic_l2_on="all"`, `target_bn_stats="copy"`',
    "paper-bias-before-bn": "`PaperDDPG`, `policy_kwargs=dict(bias_before_norm=True)` (the networks before 0.3.0)",
}


# The MuJoCo campaign (issue 20), block by block: each block's runs before the next block's. ``run --campaign``
# works through it; finished runs are skipped and unfinished ones resume, so every session starts the same command.
CAMPAIGN: list[tuple[str, int, list[int], list[str]]] = [
    ("InvertedPendulum-v5", 100_000, [0, 1, 2, 3, 4], ["paper", "zoo-ddpg"]),
    ("HalfCheetah-v5", 300_000, [0, 1, 2], ["paper", "zoo-ddpg"]),
    ("Hopper-v5", 300_000, [0, 1, 2], ["paper", "zoo-ddpg"]),
    ("Walker2d-v5", 300_000, [0, 1, 2], ["paper", "zoo-ddpg"]),
    ("InvertedPendulum-v5", 100_000, [0, 1, 2, 3, 4], ["paper-no-bn"]),
    ("HalfCheetah-v5", 300_000, [0, 1, 2], ["paper-no-bn"]),
    ("Hopper-v5", 300_000, [0, 1, 2], ["paper-no-bn"]),
    ("Walker2d-v5", 300_000, [0, 1, 2], ["paper-no-bn"]),
]


def default_eval_every(steps: int) -> int:
    """Every 5k steps (TD3 paper); every 2% of the budget when that gives fewer than 20 evaluations."""
    return 5_000 if steps >= 100_000 else max(1, steps // 50)


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
    def folder(self) -> Path:
        """The run folder (checkpoints, best_model.zip): one per results folder, task, config and seed."""
        key = f"{self.results.resolve()}".strip("/").replace("/", "_")
        return self.checkpoints / key / self.task / self.config / f"seed{self.seed}"


def execute(run: Run) -> str:
    """One training run in this process, through the run layer: evaluations (after the updates of their step) written
    to the run's CSV as they happen; with ``checkpoint_every``, an interrupted run resumes from its last checkpoint."""
    import shutil

    import stable_baselines3
    import torch as th

    import sb3_ddpg_ext
    from sb3_ddpg_ext.checkpoint import CHECKPOINTS, latest_checkpoint
    from sb3_ddpg_ext.run import RunConfig, train

    th.set_num_threads(1)
    run.csv.parent.mkdir(parents=True, exist_ok=True)
    run.folder.mkdir(parents=True, exist_ok=True)
    start = time.time()
    spec = CONFIGS[run.config]
    config = RunConfig(
        run.task, run.steps, seed=run.seed, eval_every=run.eval_every, eval_episodes=run.eval_episodes,
        checkpoint_every=run.checkpoint_every, params=spec if isinstance(spec, dict) else {}, device="cpu",
    )  # fmt: skip
    resume = latest_checkpoint(run.folder / CHECKPOINTS) is not None
    make_model = None if isinstance(spec, dict) else (lambda env: spec(env, run.task, run.seed))
    result = train(config, run.folder, resume=resume, eval_csv=run.csv, make_model=make_model)
    if result.interrupted or result.stopped:
        return f"{run.task} {run.config} seed {run.seed}: {result.stopped or 'interrupted'}"
    resumed = f", resumed from step {result.resumed_from}" if resume else ""
    run.done.write_text(
        f"finished {date.today()} ({time.time() - start:.0f} s in this sitting{resumed}) on {platform.node()} "
        f"(torch {th.__version__}, stable-baselines3 {stable_baselines3.__version__}, "
        f"sb3_ddpg_ext {sb3_ddpg_ext.__version__} at {Path(sb3_ddpg_ext.__file__).parent})\n"
    )
    shutil.rmtree(run.folder, ignore_errors=True)  # its checkpoint is of no further use
    return f"{run.task} {run.config} seed {run.seed}: {time.time() - start:.0f} s{resumed}"


def pending(runs: list[Run]) -> list[Run]:
    """Runs without a completion marker (never started, or interrupted: those resume from their last checkpoint,
    or restart when they have none)."""
    return [run for run in runs if not run.done.exists()]


def run_campaign(runs: list[Run], jobs: int) -> list[Run]:
    """Run what is pending, ``jobs`` processes at a time (spawned: one torch thread each). Returns the runs executed."""
    todo = pending(runs)
    print(f"{len(runs) - len(todo)} of {len(runs)} runs already finished; running {len(todo)} with {jobs} job(s)")
    if jobs <= 1:
        for run in todo:
            print(execute(run), flush=True)
    else:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
            for message in pool.map(execute, todo):
                print(message, flush=True)
    return todo


# -------------------------------------------------------------------------------------------------------- aggregation
def load_runs(results: Path) -> dict[str, dict[str, dict[int, np.ndarray]]]:
    """{task: {config: {seed: array of (step, mean_return) rows}}} for every CSV under ``results``."""
    data: dict[str, dict[str, dict[int, np.ndarray]]] = {}
    for path in sorted(results.glob("*/*/seed*.csv")):
        if len(path.read_text().splitlines()) > 1:  # a run just started has its header only
            rows = np.loadtxt(path, delimiter=",", skiprows=1, usecols=(0, 1), ndmin=2)
            task, config, seed = path.parent.parent.name, path.parent.name, int(path.stem.removeprefix("seed"))
            data.setdefault(task, {}).setdefault(config, {})[seed] = rows
    return data


@contextmanager
def seeded_numpy(seed: int = 0) -> Iterator[None]:
    """numpy's global generator seeded, then restored: rliable 1.2 draws its bootstrap resamples from it (its
    ``random_state`` argument does not reach them), and the same CSVs must give the same report."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def iqm_ci(scores: np.ndarray, reps: int) -> tuple[float, float, float]:
    """IQM over runs and its 95% stratified-bootstrap CI (rliable); ``scores`` has one value per run."""
    from rliable import library as rly
    from rliable import metrics

    with seeded_numpy():
        point, ci = rly.get_interval_estimates(
            {"x": scores.reshape(-1, 1)}, lambda x: np.array([metrics.aggregate_iqm(x)]), reps=reps
        )
    return float(point["x"][0]), float(ci["x"][0][0]), float(ci["x"][1][0])


@dataclass
class Summary:
    config: str
    n_seeds: int
    n_finished: int
    steps: np.ndarray  # evaluation steps reached by every seed
    curve: np.ndarray  # (3, len(steps)): IQM, CI low, CI high
    final: tuple[float, float, float]
    best: tuple[float, float, float]
    final_scores: np.ndarray


def summarize(config: str, seeds: dict[int, np.ndarray], n_finished: int, reps: int) -> Summary:
    """Curves cut to the evaluations every seed has reached; final = last common one; best = each seed's maximum."""
    n_common = min(len(rows) for rows in seeds.values())
    steps = next(iter(seeds.values()))[:n_common, 0]
    returns = np.stack([rows[:n_common, 1] for rows in seeds.values()])  # (seeds, evaluations)
    curve = np.array([iqm_ci(returns[:, i], reps) for i in range(n_common)]).T
    best = returns.max(axis=1)  # the TD3 paper's "max average return" per seed
    return Summary(config, len(seeds), n_finished, steps, curve, iqm_ci(returns[:, -1], reps), iqm_ci(best, reps),
                   returns[:, -1])  # fmt: skip


def plot_task(task: str, summaries: list[Summary], budget: int, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from rliable import library as rly
    from rliable import plot_utils

    fig, (ax, ax_profile) = plt.subplots(1, 2, figsize=(12, 4.2))
    colors = {s.config: f"C{i}" for i, s in enumerate(summaries)}
    for s in summaries:
        ax.plot(s.steps, s.curve[0], color=colors[s.config], label=f"{s.config} (n={s.n_seeds})")
        ax.fill_between(s.steps, s.curve[1], s.curve[2], color=colors[s.config], alpha=0.2)
    for i, anchor in enumerate(ANCHORS.get(task, [])):
        ax.axhline(anchor.value, color="k", linestyle=["--", ":", "-."][i % 3], linewidth=1)
        ax.annotate(anchor.label, (0.01, anchor.value), xycoords=("axes fraction", "data"), fontsize=8,
                    va="bottom")  # fmt: skip
    ax.set(title=f"{task}: deterministic return, IQM and 95% CI", xlabel="environment steps", ylabel="return")
    ax.set_xlim(0, budget)
    ax.legend(fontsize=8, loc="lower right")

    # A diverged run (NaN return) counts as below every threshold.
    scores = {s.config: np.nan_to_num(s.final_scores.reshape(-1, 1), nan=-np.inf) for s in summaries}
    finite = np.concatenate([v[np.isfinite(v)] for v in scores.values()])
    lo, hi = finite.min(), finite.max()
    taus = np.linspace(lo, hi, 101)
    with seeded_numpy():
        profiles, profile_cis = rly.create_performance_profile(scores, taus, reps=200)
    plot_utils.plot_performance_profiles(profiles, taus, performance_profile_cis=profile_cis, ax=ax_profile,
                                         colors=colors, xlabel=r"final return $\tau$", labelsize="medium")  # fmt: skip
    ax_profile.set_title("performance profile of the final return (fraction of runs above tau)", fontsize="medium")
    ax_profile.set_ylabel("fraction of runs", fontsize="medium")
    handles = [plt.Line2D([], [], color=colors[c], label=c) for c in profiles]
    ax_profile.legend(handles=handles, fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def report(
    results: Path,
    out: Path,
    reps: int,
    budget: dict[str, int],
    commands: list[str],
    title: str = "Reproduction report",
    notes: Path | None = None,
) -> str:
    """Markdown with one section per task: table of final and best scores, curves, performance profile, anchors."""
    done = set(results.glob("*/*/seed*.done"))  # before reading the CSVs: a run that finishes meanwhile stays unfinished
    data = load_runs(results)
    out.parent.mkdir(parents=True, exist_ok=True)
    present = sorted({config for configs in data.values() for config in configs})
    lines = [
        f"# {title}",
        "",
        f"Generated by `benchmarks/reproduce.py report` on {date.today()} from the CSVs under "
        f"`{os.path.relpath(results, out.parent)}`. Protocol (TD3 paper): deterministic evaluation of 10 episodes at a "
        "fixed interval (each section gives it), one run per seed, one torch thread per run. IQM and 95% stratified-"
        f"bootstrap CIs by rliable ({reps} resamples). *final* is the return at the last evaluation every seed has "
        "reached; *best* is each seed's best evaluation (the TD3 paper's max average return), then aggregated.",
        "",
        "Configurations:",
        "",
        *[f"- `{c}`: {DESCRIPTIONS.get(c, 'see `CONFIGS` in `benchmarks/reproduce.py`')}" for c in present],
        "",
    ]
    for task, configs in data.items():
        summaries = []
        in_progress = []
        for config, seeds in configs.items():
            finished = {k: v for k, v in seeds.items() if results / task / config / f"seed{k}.done" in done}
            in_progress += [f"`{config}` seed {k} at {int(v[-1, 0]):,} steps" for k, v in seeds.items() if k not in finished]
            # Finished runs only, where there are any: an unfinished seed would cut every curve short.
            summaries.append(summarize(config, finished or seeds, len(finished), reps))
        task_budget = budget.get(task) or max(int(s.steps[-1]) for s in summaries)
        png = out.parent / f"{out.stem}_{task}.png"
        plot_task(task, summaries, task_budget, png)
        interval = int(min(s.steps[0] for s in summaries))
        lines += [f"## {task}", "", f"Budget {task_budget:,} steps, evaluation every {interval:,} steps.", ""]
        if in_progress or any(s.steps[-1] < task_budget for s in summaries):
            lines += ["**Partial results.** The table aggregates finished runs only (a config without any aggregates its "
                      "unfinished runs up to the step all have reached). Runs in progress: "
                      f"{'; '.join(in_progress) or 'none'}.", ""]  # fmt: skip
        lines += [
            "| config | seeds aggregated (finished) | steps reached by all of them | final IQM [95% CI] | best IQM [95% CI] |",
            "|---|---|---|---|---|",
        ]
        for s in summaries:
            final, best = s.final, s.best
            lines.append(
                f"| `{s.config}` | {s.n_seeds} ({s.n_finished}) | {int(s.steps[-1]):,} | "
                f"{final[0]:.0f} [{final[1]:.0f}, {final[2]:.0f}] | {best[0]:.0f} [{best[1]:.0f}, {best[2]:.0f}] |"
            )
        lines += ["", f"![{task}]({png.name})", ""]
        if any(np.isnan(s.final[0]) or np.isnan(s.best[0]) for s in summaries):
            lines += ["nan: at least one evaluation returned NaN (the run diverged to non-finite weights).", ""]
        for anchor in ANCHORS.get(task, []):
            short = f" Our budget ({task_budget:,}) is short of it." if task_budget < anchor.steps else ""
            lines.append(f"- Anchor: {anchor.label}: {anchor.value:g} at {anchor.steps:,} steps.{short}")
        if "zoo-ddpg" in configs:
            hp = {k: v for k, v in zoo_ddpg_hyperparams(task).items() if k != "n_timesteps"}
            lines.append(f"- `zoo-ddpg` here: {', '.join(f'{k}={v}' for k, v in hp.items())}.")
        if task.endswith("-v5") and ANCHORS.get(task):
            lines.append("- The TD3 paper's numbers are on Gym's MuJoCo v1 tasks; these runs use Gymnasium's v5.")
        lines.append("")
    if not data:
        lines += [f"No evaluation has landed under `{os.path.relpath(results, out.parent)}` yet.", ""]
    if notes is not None:  # the hand-written reading, kept apart so that regenerating the tables keeps it
        lines += [notes.read_text().rstrip(), ""]
    if commands:
        lines += ["## Commands", "", "```", *commands, "```", ""]
    text = "\n".join(lines)
    out.write_text(text)
    return text


# ----------------------------------------------------------------------------------------------------------- command
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="train the pending (task, config, seed) runs")
    run_p.add_argument("--campaign", action="store_true", help="the MuJoCo campaign's blocks in order (CAMPAIGN); "
                       "--task, --configs, --seeds and --steps are then taken from it")  # fmt: skip
    run_p.add_argument("--task", default="Pendulum-v1")
    run_p.add_argument("--configs", nargs="+", default=["paper", "paper-no-bn", "zoo-ddpg"], choices=sorted(CONFIGS))
    run_p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    run_p.add_argument("--steps", type=int, default=100_000)
    run_p.add_argument("--eval-every", type=int, default=None, help="default: 5k, or 2%% of the budget under 100k")
    run_p.add_argument("--eval-episodes", type=int, default=10)
    run_p.add_argument("--jobs", type=int, default=1, help="runs in parallel, one process and one thread each")
    run_p.add_argument("--results", type=Path, default=RESULTS)
    run_p.add_argument("--checkpoint-every", type=int, default=None,
                       help="env steps between checkpoints (default: 2 evaluation intervals); 0: none")  # fmt: skip
    run_p.add_argument("--checkpoints", type=Path, default=CHECKPOINT_ROOT, help="where unfinished runs keep theirs")
    rep_p = sub.add_parser("report", help="aggregate the CSVs into a markdown report with plots")
    rep_p.add_argument("--results", type=Path, default=RESULTS)
    rep_p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "docs" / "reproduction.md")
    rep_p.add_argument("--budget", nargs="*", default=[], help="TASK=STEPS, the intended budget per task")
    rep_p.add_argument("--reps", type=int, default=2000, help="bootstrap resamples")
    rep_p.add_argument("--command", action="append", default=[], help="a command line to list in the report")
    rep_p.add_argument("--title", default="Reproduction report")
    rep_p.add_argument("--notes", type=Path, default=None, help="a markdown file appended as the report's reading")
    args = parser.parse_args(argv)

    if args.command == "run":
        print(" ".join(["python", *sys.argv]), flush=True)
        blocks = CAMPAIGN if args.campaign else [(args.task, args.steps, args.seeds, args.configs)]
        for task, steps, seeds, configs in blocks:
            eval_every = args.eval_every or default_eval_every(steps)
            every = 2 * eval_every if args.checkpoint_every is None else args.checkpoint_every or None
            # Seed-major order: every config advances together, so a campaign cut short still compares them.
            runs = [Run(task, config, seed, steps, eval_every, args.eval_episodes, args.results, every, args.checkpoints)
                    for seed in seeds for config in configs]  # fmt: skip
            print(f"{task}, {steps} steps, seeds {seeds}, configs {configs}:", flush=True)
            run_campaign(runs, args.jobs)
    else:
        budget = {k: int(v) for k, v in (item.split("=") for item in args.budget)}
        print(report(args.results, args.out, args.reps, budget, args.command, args.title, args.notes))


if __name__ == "__main__":
    main()
