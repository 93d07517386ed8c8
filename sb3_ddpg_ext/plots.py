"""Every figure the project writes: learning curve, return histogram and Optuna's study plots (PNG, headless)."""

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display is needed or assumed
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def learning_curve(csv_path: Path, png_path: Path, title: str) -> None:
    """Mean deterministic return per evaluation, with a +/- 1 std band, from an ``evaluations.csv``; and the success
    rate on a second axis when the log has one (goal-conditioned envs)."""
    log = pd.read_csv(csv_path)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(log["timesteps"], log["mean_return"], marker="o", label="return")
    ax.fill_between(
        log["timesteps"], log["mean_return"] - log["std_return"], log["mean_return"] + log["std_return"], alpha=0.3
    )
    ax.set(xlabel="environment steps", ylabel="deterministic return", title=title)
    ax.grid(alpha=0.3)
    if "success_rate" in log:
        success = ax.twinx()
        success.plot(log["timesteps"], log["success_rate"], marker="s", color="tab:green", label="success rate")
        success.set(ylabel="success rate", ylim=(-0.05, 1.05))
        lines = [*ax.get_lines(), *success.get_lines()]
        ax.legend(lines, [line.get_label() for line in lines], loc="best")
    _save(fig, png_path)


def return_histogram(returns: np.ndarray, png_path: Path, title: str) -> None:
    """Histogram of episode returns."""
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.hist(returns, bins=min(20, max(5, len(returns) // 2)))
    ax.set(xlabel="episode return", ylabel="episodes", title=title)
    _save(fig, png_path)


def optuna_plots(study: Any, out: Path, names: list[str]) -> list[Path]:
    """Optuna's own plots of ``study``: HTML (plotly) and PNG (matplotlib) for each name, e.g. "optimization_history"."""
    import warnings

    import optuna

    written = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in names:
            getattr(optuna.visualization, f"plot_{name}")(study).write_html(out / f"{name}.html", include_plotlyjs="cdn")
            ax = getattr(optuna.visualization.matplotlib, f"plot_{name}")(study)
            fig = (ax if isinstance(ax, np.ndarray) else np.array([ax])).flat[0].get_figure()
            fig.set_size_inches(8, 5)
            _save(fig, out / f"{name}.png", dpi=90)
            written.append(out / f"{name}.png")
    return written


def _save(fig: Any, png_path: Path, dpi: int = 100) -> None:
    fig.tight_layout()
    fig.savefig(png_path, dpi=dpi)
    plt.close(fig)
