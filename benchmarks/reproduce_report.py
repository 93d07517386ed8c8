"""The reproduction report: every CSV under a results folder aggregated with rliable (IQM and 95% stratified-bootstrap
CIs per config and step; final, last-10 and max-average scores), the curves drawn with the published anchors, and the
markdown.

``python benchmarks/reproduce.py report`` calls :func:`report`.
"""

import csv
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
from reproduce_configs import ANCHORS, DESCRIPTIONS, zoo_ddpg_entry, zoo_ddpg_hyperparams

from sb3_ddpg_ext.stats import iqm_ci, seeded_numpy


class ReportError(ValueError):
    """A results folder or an option the report cannot be made from: one line, exit code 2."""


def read_evaluations(path: Path) -> np.ndarray:
    """The (step, mean_return) rows of one run's CSV. A row without every column, or with a value that is not a number
    (a copy cut short: the harness itself writes atomically), is refused rather than read as a return."""
    with path.open(newline="") as f:
        table = list(csv.reader(f))
    header, body = (table[0], table[1:]) if table else ([], [])
    if header[:2] not in (["timesteps", "mean_return"], ["step", "mean_return"]):  # "step": CSVs of 2026-11-22
        raise ReportError(f"{path}: not an evaluation CSV of the harness (its header is {','.join(header) or 'empty'})")
    for number, row in enumerate(body, start=2):
        try:
            if len(row) != len(header):
                raise ValueError(f"{len(row)} of its {len(header)} columns")
            [float(cell) for cell in row]
        except ValueError as e:
            raise ReportError(f"{path}: line {number} is incomplete ({e}): a copy cut short? copy it again") from None
    return np.array([[float(row[0]), float(row[1])] for row in body]).reshape(-1, 2)


def load_runs(results: Path) -> dict[str, dict[str, dict[int, np.ndarray]]]:
    """{task: {config: {seed: array of (step, mean_return) rows}}} for every CSV under ``results``."""
    data: dict[str, dict[str, dict[int, np.ndarray]]] = {}
    for path in sorted(results.glob("*/*/seed*.csv")):
        rows = read_evaluations(path)
        if len(rows):  # a run just started has its header only
            task, config, seed = path.parent.parent.name, path.parent.name, int(path.stem.removeprefix("seed"))
            data.setdefault(task, {}).setdefault(config, {})[seed] = rows
    return data


def episodes_per_evaluation(task_folder: Path) -> list[int]:
    """The numbers of evaluation episodes the task's CSVs record (their ``episodes`` column)."""
    counts: set[int] = set()
    for path in task_folder.glob("*/seed*.csv"):
        with path.open() as f:
            counts |= {int(row["episodes"]) for row in csv.DictReader(f) if row.get("episodes")}
    return sorted(counts)


def process_hours(task_folder: Path) -> dict[str, float]:
    """Per config, the hours its runs' CSVs record (the ``wall_s`` of each run's last evaluation: its wall-clock
    time over all its sittings, one process each); none where a CSV has no such column (CSVs of 2026-11-22)."""
    hours: dict[str, float] = {}
    for path in sorted(task_folder.glob("*/seed*.csv")):
        with path.open() as f:
            rows = list(csv.DictReader(f))
        if rows and not rows[-1].get("wall_s"):
            return {}
        if rows:
            hours[path.parent.name] = hours.get(path.parent.name, 0.0) + float(rows[-1]["wall_s"]) / 3600
    return hours


LAST_N = 10  # the TD3 / PFRL protocol's second figure: the mean of each run's last 10 evaluations
MIN_SEEDS_FOR_CI = 3  # fewer give no interval worth the name (with 3, the percentile bootstrap's is their range)


@dataclass
class Summary:
    config: str
    n_seeds: int
    n_finished: int
    steps: np.ndarray  # evaluation steps reached by every seed
    curve: np.ndarray  # (3, len(steps)): IQM, CI low, CI high
    final: tuple[float, float, float]  # IQM [CI] of the return at the last common evaluation
    last10: tuple[float, float, float]  # IQM [CI] of each seed's mean over its last LAST_N common evaluations
    max_average: tuple[float, int]  # the TD3 paper's statistic: the best point of the seeds' mean curve, and its step
    final_scores: np.ndarray


def summarize(config: str, seeds: dict[int, np.ndarray], n_finished: int, reps: int) -> Summary:
    """Curves cut to the evaluations every seed has reached; final = the last common one; last-10 = each seed's mean
    over the last 10 of them; max average = the highest point of the mean-over-seeds curve (TD3's Table 1)."""
    n_common = min(len(rows) for rows in seeds.values())
    steps = next(iter(seeds.values()))[:n_common, 0]
    returns = np.stack([rows[:n_common, 1] for rows in seeds.values()])  # (seeds, evaluations)
    curve = np.array([iqm_ci(returns[:, i], reps) for i in range(n_common)]).T
    mean_curve = returns.mean(axis=0)
    at = int(np.nanargmax(mean_curve)) if np.isfinite(mean_curve).any() else n_common - 1
    return Summary(
        config,
        len(seeds),
        n_finished,
        steps,
        curve,
        iqm_ci(returns[:, -1], reps),
        iqm_ci(returns[:, -LAST_N:].mean(axis=1), reps),
        (float(mean_curve[at]), int(steps[at])),
        returns[:, -1],
    )


def with_ci(score: tuple[float, ...] | np.ndarray, n_seeds: int) -> str:
    """``IQM [low, high]``, the interval left out under MIN_SEEDS_FOR_CI seeds."""
    return f"{score[0]:.0f} [{score[1]:.0f}, {score[2]:.0f}]" if n_seeds >= MIN_SEEDS_FOR_CI else f"{score[0]:.0f}"


def versus_sb3(summaries: list[Summary]) -> str | None:
    """The plain sentence the report gives per task: where `paper` (PaperDDPG at the paper's settings) stands against
    `zoo-ddpg` (SB3's DDPG at rl-zoo3's settings) at the last step both reached, and whether the 95% CIs separate them
    (with 3 seeds or more each: fewer give no interval worth the name)."""
    by = {s.config: s for s in summaries}
    if "paper" not in by or "zoo-ddpg" not in by:
        return None
    paper, zoo = by["paper"], by["zoo-ddpg"]
    enough = min(paper.n_seeds, zoo.n_seeds) >= MIN_SEEDS_FOR_CI

    def versus(ours: np.ndarray | tuple[float, ...], theirs: np.ndarray | tuple[float, ...], cis: bool = True) -> str:
        if not np.isfinite(ours[0] - theirs[0]):
            return f"{ours[0]:.0f} against {theirs[0]:.0f} (a run diverged: no gap to give)"
        mine, other = round(float(ours[0])), round(float(theirs[0]))  # the gap of the figures as printed
        gap = mine - other
        side = "behind by" if gap < 0 else "ahead by" if gap > 0 else "level, a gap of"
        note = ""
        if cis:
            apart = "CIs apart" if ours[2] < theirs[1] or theirs[2] < ours[1] else "CIs overlap"
            note = f" ({apart if enough else 'too few seeds for CIs'})"
        return f"{mine} against {other}, {side} {abs(gap)}{note}"

    seeds = f"{paper.n_seeds} and {zoo.n_seeds} seeds"
    if paper.steps[-1] == zoo.steps[-1]:
        return (
            f"- **`paper` against `zoo-ddpg`** ({seeds}, at {int(paper.steps[-1]):,} steps): PaperDDPG at the paper's "
            f"settings ends at an IQM of {versus(paper.final, zoo.final)}; over the last {LAST_N} evaluations, "
            f"{versus(paper.last10, zoo.last10)}; the best points of the mean curves (max average) give "
            f"{versus(paper.max_average, zoo.max_average, cis=False)}."
        )
    step = min(paper.steps[-1], zoo.steps[-1])  # runs in progress: compare where both are
    at = [s.curve[:, int(np.searchsorted(s.steps, step))] for s in (paper, zoo)]
    return (
        f"- **`paper` against `zoo-ddpg`** so far ({seeds}, at {int(step):,} steps, the last both reached): PaperDDPG "
        f"at the paper's settings is at an IQM of {versus(at[0], at[1])}."
    )


def per_seed_table(configs: dict[str, dict[int, np.ndarray]], finished: dict[str, set[int]], budget: int) -> list[str]:
    """Every run's own figures, so that a reader sees what 3 seeds' IQM hides: the return at its last evaluation, its
    best evaluation, and the mean of its evaluations past half the budget (does it hold what it reached?)."""
    n = max(max(seeds) for seeds in configs.values()) + 1
    lines = [
        "Per seed: the return at the last evaluation / the best evaluation (one evaluation of a few episodes: it "
        f"reads high) / the mean of the evaluations after {budget // 2:,} steps (half the budget); *(at N)* marks a "
        "run still in progress.",
        "",
        f"| config | {' | '.join(f'seed {k}' for k in range(n))} |",
        f"|---|{'---|' * n}",
    ]
    for config, seeds in configs.items():
        cells = []
        for k in range(n):
            if k not in seeds:
                cells.append("")
                continue
            steps, returns = seeds[k][:, 0], seeds[k][:, 1]
            late = returns[steps > budget // 2]
            cell = f"{returns[-1]:.0f} / {returns.max():.0f} / {f'{late.mean():.0f}' if late.size else '-'}"
            cells.append(cell if k in finished[config] else f"{cell} *(at {int(steps[-1]):,})*")
        lines.append(f"| `{config}` | {' | '.join(cells)} |")
    return [*lines, ""]


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
        ax.annotate(anchor.label, (0.01, anchor.value), xycoords=("axes fraction", "data"), fontsize=8, va="bottom")
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
    plot_utils.plot_performance_profiles(
        profiles,
        taus,
        performance_profile_cis=profile_cis,
        ax=ax_profile,
        colors=colors,
        xlabel=r"final return $\tau$",
        labelsize="medium",
    )
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
    if not data:  # a mistyped --results: not a report to write over the committed one
        raise ReportError(f"no evaluation under {results}: give the --results folder that `reproduce.py run` wrote")
    for marker in done:  # a finished run's CSV must reach its budget: a copy cut short would pass for finished
        task, seeds = marker.parent.parent.name, data.get(marker.parent.parent.name, {}).get(marker.parent.name, {})
        rows = seeds.get(int(marker.stem.removeprefix("seed")), np.zeros((1, 2)))
        interval = rows[0, 0]  # the evaluation interval: evaluations fall on its multiples, the last within one of it
        last = rows[-1, 0]
        if task in budget and last <= budget[task] - max(interval, 1):
            raise ReportError(
                f"{marker} marks a finished run, but its CSV ends at step {int(last):,} of the {budget[task]:,} budgeted: "
                "a CSV cut short (copy it again), or the wrong --budget"
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    present = sorted({config for configs in data.values() for config in configs})
    lines = [
        f"# {title}",
        "",
        f"Generated by `benchmarks/reproduce.py report` on {date.today()} from the CSVs under "
        f"`{os.path.relpath(results, out.parent)}`. Protocol (TD3 paper): deterministic evaluation of a fixed number "
        "of episodes at a fixed interval (each section gives both), one run per seed, one torch thread per run. IQM "
        f"and 95% stratified-bootstrap CIs by rliable ({reps} resamples). *final* is the return at the last "
        f"evaluation every seed has reached, *last-{LAST_N}* each seed's mean over its last {LAST_N} evaluations (the "
        "TD3/PFRL protocol's second figure), both aggregated over seeds by IQM. *max average* is the TD3 paper's "
        "statistic, the one to set against its anchors: the highest point of the curve of the seeds' mean return, "
        "a maximum over noisy evaluations that reads high. Under "
        f"{MIN_SEEDS_FOR_CI} seeds no CI is given; with 3, a percentile bootstrap CI is the range of the three "
        "values, and the IQM of 2 or 3 values is their mean.",
        "",
        "The DDPG paper reports only scores normalized between a random policy and an iLQG planner, on its own "
        "versions of the tasks, not returns: the anchors are the TD3 paper's re-runs of DDPG (Table 1: max average "
        "return over 10 trials, Gym v1, 1M steps). A run resumed from a checkpoint evaluates again the steps after "
        "it (a new episode starts): the CSV of a run in progress can change there; a finished run's rows are final.",
        "",
        "Configurations:",
        "",
        *[f"- `{c}`: {DESCRIPTIONS.get(c, 'see `CONFIGS` in `benchmarks/reproduce_configs.py`')}" for c in present],
        "",
    ]
    for task, configs in data.items():
        summaries = []
        in_progress = []
        finished_seeds: dict[str, set[int]] = {}
        for config, seeds in configs.items():
            finished = {k: v for k, v in seeds.items() if results / task / config / f"seed{k}.done" in done}
            finished_seeds[config] = set(finished)
            in_progress += [f"`{config}` seed {k} at {int(v[-1, 0]):,} steps" for k, v in seeds.items() if k not in finished]
            # Finished runs only, where there are any: an unfinished seed would cut every curve short.
            summaries.append(summarize(config, finished or seeds, len(finished), reps))
        task_budget = budget.get(task) or max(int(s.steps[-1]) for s in summaries)
        png = out.parent / f"{out.stem}_{task}.png"
        plot_task(task, summaries, task_budget, png)
        interval = int(min(s.steps[0] for s in summaries))
        episodes = ", ".join(str(n) for n in episodes_per_evaluation(results / task))
        lines += [
            f"## {task}",
            "",
            f"Budget {task_budget:,} steps, evaluation every {interval:,} steps ({episodes} episodes each).",
            "",
        ]
        if in_progress or any(s.steps[-1] < task_budget for s in summaries):
            lines += [
                "**Partial results.** The table aggregates finished runs only (a config without any aggregates its "
                "unfinished runs up to the step all have reached). Runs in progress: "
                f"{'; '.join(in_progress) or 'none'}.",
                "",
            ]
        lines += [
            "| config | seeds aggregated (finished) | steps reached by all of them | final IQM [95% CI] | "
            f"last-{LAST_N} IQM [95% CI] | max average (at step) |",
            "|---|---|---|---|---|---|",
        ]
        for s in summaries:
            lines.append(
                f"| `{s.config}` | {s.n_seeds} ({s.n_finished}) | {int(s.steps[-1]):,} | {with_ci(s.final, s.n_seeds)} | "
                f"{with_ci(s.last10, s.n_seeds)} | {s.max_average[0]:.0f} ({s.max_average[1]:,}) |"
            )
        lines += ["", *per_seed_table(configs, finished_seeds, task_budget)]
        if hours := process_hours(results / task):
            per_config = ", ".join(f"`{config}` {h:.1f}" for config, h in hours.items())
            lines += [
                f"Compute: {sum(hours.values()):.1f} process-hours in these CSVs ({per_config}): each run's wall-clock "
                "time over its sittings, one torch thread, on a shared 2-core machine; a run restarted from step 0 "
                "counts its last start only.",
                "",
            ]
        lines += [f"![{task}]({png.name})", ""]
        if any(np.isnan(s.final[0]) or np.isnan(s.last10[0]) for s in summaries):
            lines += ["nan: at least one evaluation returned NaN (the run diverged to non-finite weights).", ""]
        if (sentence := versus_sb3(summaries)) is not None:
            lines.append(sentence)
        for anchor in ANCHORS.get(task, []):
            short = (
                f" Our budget ({task_budget:,}) is {task_budget / anchor.steps:.0%} of it: the max average column is "
                "the comparable figure, at that fraction of the steps."
                if task_budget < anchor.steps
                else ""
            )
            lines.append(f"- Anchor: {anchor.label}: {anchor.value:g} at {anchor.steps:,} steps.{short}")
        if "zoo-ddpg" in configs:
            hp = {k: v for k, v in zoo_ddpg_hyperparams(task).items() if k != "n_timesteps"}
            values = ", ".join(f"{k}={v}" for k, v in hp.items())
            lines.append(f"- `zoo-ddpg` here: {values}. Their source: {zoo_ddpg_entry(task)[1]}.")
        if task.endswith("-v5") and ANCHORS.get(task):
            lines.append("- The TD3 paper's numbers are on Gym's MuJoCo v1 tasks; these runs use Gymnasium's v5.")
        lines.append("")
    if notes is not None:  # the hand-written reading, kept apart so that regenerating the tables keeps it
        lines += [notes.read_text().rstrip(), ""]
    if commands:
        lines += ["## Commands", "", "```", *commands, "```", ""]
    text = "\n".join(lines)
    out.write_text(text)
    return text
