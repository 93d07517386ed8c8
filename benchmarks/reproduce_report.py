"""The reproduction report: every CSV under a results folder aggregated with rliable (IQM and 95% stratified-bootstrap
CIs per config and step, final and best scores), the curves drawn with the published anchors, and the markdown.

``python benchmarks/reproduce.py report`` calls :func:`report`.
"""

import csv
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
from reproduce_configs import ANCHORS, DESCRIPTIONS, zoo_ddpg_hyperparams

from sb3_ddpg_ext.stats import iqm_ci, seeded_numpy


def load_runs(results: Path) -> dict[str, dict[str, dict[int, np.ndarray]]]:
    """{task: {config: {seed: array of (step, mean_return) rows}}} for every CSV under ``results``."""
    data: dict[str, dict[str, dict[int, np.ndarray]]] = {}
    for path in sorted(results.glob("*/*/seed*.csv")):
        if len(path.read_text().splitlines()) > 1:  # a run just started has its header only
            rows = np.loadtxt(path, delimiter=",", skiprows=1, usecols=(0, 1), ndmin=2)
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
    return Summary(
        config, len(seeds), n_finished, steps, curve, iqm_ci(returns[:, -1], reps), iqm_ci(best, reps), returns[:, -1]
    )


def versus_sb3(summaries: list[Summary]) -> str | None:
    """The plain sentence the report gives per task: where `paper` (PaperDDPG at the paper's settings) stands against
    `zoo-ddpg` (SB3's DDPG at rl-zoo3's settings) at the last step both reached, and whether the 95% CIs separate them
    (with 3 seeds or more each: fewer give no interval worth the name)."""
    by = {s.config: s for s in summaries}
    if "paper" not in by or "zoo-ddpg" not in by:
        return None
    paper, zoo = by["paper"], by["zoo-ddpg"]
    enough = min(paper.n_seeds, zoo.n_seeds) >= 3

    def versus(ours: np.ndarray | tuple[float, ...], theirs: np.ndarray | tuple[float, ...]) -> str:
        gap = ours[0] - theirs[0]
        if not np.isfinite(gap):
            return f"{ours[0]:.0f} against {theirs[0]:.0f} (a run diverged: no gap to give)"
        side = "behind by" if gap < 0 else "ahead by" if gap > 0 else "level, a gap of"
        apart = "CIs apart" if ours[2] < theirs[1] or theirs[2] < ours[1] else "CIs overlap"
        return f"{ours[0]:.0f} against {theirs[0]:.0f}, {side} {abs(gap):.0f} ({apart if enough else 'too few seeds for CIs'})"

    seeds = f"{paper.n_seeds} and {zoo.n_seeds} seeds"
    if paper.steps[-1] == zoo.steps[-1]:
        return (
            f"- **`paper` against `zoo-ddpg`** ({seeds}, at {int(paper.steps[-1]):,} steps): PaperDDPG at the paper's "
            f"settings ends at an IQM of {versus(paper.final, zoo.final)}; its best evaluations give "
            f"{versus(paper.best, zoo.best)}."
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
        "Per seed: the return at the last evaluation / the best evaluation / the mean of the evaluations after "
        f"{budget // 2:,} steps (half the budget); *(at N)* marks a run still in progress.",
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
    out.parent.mkdir(parents=True, exist_ok=True)
    present = sorted({config for configs in data.values() for config in configs})
    lines = [
        f"# {title}",
        "",
        f"Generated by `benchmarks/reproduce.py report` on {date.today()} from the CSVs under "
        f"`{os.path.relpath(results, out.parent)}`. Protocol (TD3 paper): deterministic evaluation of a fixed number "
        "of episodes at a fixed interval (each section gives both), one run per seed, one torch thread per run. IQM "
        "and 95% stratified-"
        f"bootstrap CIs by rliable ({reps} resamples). *final* is the return at the last evaluation every seed has "
        "reached; *best* is each seed's best evaluation (the TD3 paper's max average return), then aggregated.",
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
            "| config | seeds aggregated (finished) | steps reached by all of them | final IQM [95% CI] | best IQM [95% CI] |",
            "|---|---|---|---|---|",
        ]
        for s in summaries:
            final, best = s.final, s.best
            lines.append(
                f"| `{s.config}` | {s.n_seeds} ({s.n_finished}) | {int(s.steps[-1]):,} | "
                f"{final[0]:.0f} [{final[1]:.0f}, {final[2]:.0f}] | {best[0]:.0f} [{best[1]:.0f}, {best[2]:.0f}] |"
            )
        lines += ["", *per_seed_table(configs, finished_seeds, task_budget)]
        lines += [f"![{task}]({png.name})", ""]
        if any(np.isnan(s.final[0]) or np.isnan(s.best[0]) for s in summaries):
            lines += ["nan: at least one evaluation returned NaN (the run diverged to non-finite weights).", ""]
        if (sentence := versus_sb3(summaries)) is not None:
            lines.append(sentence)
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
