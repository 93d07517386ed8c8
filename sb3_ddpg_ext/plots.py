"""Every figure the project writes: learning curve, return histogram and Optuna's study plots (PNG, headless), and
the check of a figure path a user gives."""

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display is needed or assumed
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.backend_bases import FigureCanvasBase
from matplotlib.ticker import MaxNLocator

from sb3_ddpg_ext.errors import UserError
from sb3_ddpg_ext.paper_ddpg.save_util import atomic_file


def check_figure_path(path: Path, option: str) -> Path:
    """``path`` if matplotlib can write a figure there: ``savefig`` takes the format from the extension (and adds
    ``.png`` to a name without one), so the extension is checked where the option enters, before any work."""
    formats = FigureCanvasBase.get_supported_filetypes()
    extension = path.suffix.removeprefix(".").lower()
    if extension not in formats:
        what = f"'.{extension}' files" if extension else "a name without an extension"
        raise UserError(
            f"{option} {path}: matplotlib cannot write {what}; give a name ending in .png, .pdf, .svg or another of "
            f"its formats ({', '.join(sorted(formats))})"
        )
    return path


def learning_curve(csv_path: Path, png_path: Path, title: str, n_episodes: int) -> None:
    """Mean deterministic return per evaluation, with a +/- 1 std band over its ``n_episodes``, from an
    ``evaluations.csv``; and the success
    rate on a second axis when the log has one (goal-conditioned envs)."""
    log = pd.read_csv(csv_path)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(log["timesteps"], log["mean_return"], marker="o", label=f"mean of {n_episodes} deterministic episodes")
    ax.fill_between(
        log["timesteps"],
        log["mean_return"] - log["std_return"],
        log["mean_return"] + log["std_return"],
        alpha=0.3,
        label=f"+/- 1 std over {n_episodes} episodes",
    )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # steps are counts
    ax.set(xlabel="environment steps", ylabel="deterministic return", title=title)
    ax.legend(loc="best", fontsize="small")
    ax.grid(alpha=0.3)
    if "success_rate" in log:
        success = ax.twinx()
        success.plot(log["timesteps"], log["success_rate"], marker="s", color="tab:green", label="success rate")
        success.set(ylabel="success rate", ylim=(-0.05, 1.05))
        handles, labels = ax.get_legend_handles_labels()
        more_handles, more_labels = success.get_legend_handles_labels()
        ax.legend(handles + more_handles, labels + more_labels, loc="best", fontsize="small")  # one legend, both axes
    _save(fig, png_path)


def return_histogram(returns: np.ndarray, png_path: Path, title: str) -> None:
    """Histogram of episode returns, with their mean marked."""
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.hist(returns, bins=min(20, max(5, len(returns) // 2)))
    mean = float(np.mean(returns))
    ax.axvline(mean, color="black", linestyle="--", label=f"mean {mean:.1f} ({len(returns)} episodes)")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # episodes are counts
    ax.set(xlabel="episode return", ylabel="episodes", title=title)
    ax.legend(loc="best", fontsize="small")
    _save(fig, png_path)


def optuna_plots(study: Any, out: Path, names: list[str], title: str) -> list[Path]:
    """Optuna's own plots of ``study``, e.g. "optimization_history": HTML (plotly, self-contained so that it opens
    offline) and PNG (matplotlib), each titled ``title``. Returns the PNG paths."""
    import warnings

    import optuna

    written = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in names:
            figure = getattr(optuna.visualization, f"plot_{name}")(study)
            figure.update_layout(title=f"{title}: {name.replace('_', ' ')}")
            with atomic_file(out / f"{name}.html") as tmp:
                figure.write_html(tmp, include_plotlyjs=True)
            ax = getattr(optuna.visualization.matplotlib, f"plot_{name}")(study)
            axes = ax if isinstance(ax, np.ndarray) else np.array([ax])
            fig = axes.flat[0].get_figure()
            fig.suptitle(f"{title}: {name.replace('_', ' ')}")
            if name == "optimization_history":
                axes.flat[0].xaxis.set_major_locator(MaxNLocator(integer=True))  # trial numbers
            fig.set_size_inches(8, 5)
            _save(fig, out / f"{name}.png", dpi=90)
            written.append(out / f"{name}.png")
    return written


def _save(fig: Any, png_path: Path, dpi: int = 100) -> None:
    """Atomic, as every file of a run: a kill mid-save leaves the previous figure, not an empty one."""
    fig.tight_layout()
    with atomic_file(png_path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=png_path.suffix.lstrip(".").lower() or None)
    plt.close(fig)
