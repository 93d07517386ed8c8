"""Aggregate scores over runs as rliable recommends (Agarwal et al. 2021): the interquartile mean and its 95%
stratified-bootstrap confidence interval. One home for the tuning report and the benchmarks (the ``tune`` extra)."""

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np


@contextmanager
def seeded_numpy(seed: int = 0) -> Iterator[None]:
    """numpy's global generator seeded, then restored: rliable 1.2 draws its bootstrap resamples from it (its
    ``random_state`` argument does not reach them), and the same scores must give the same interval."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def iqm_ci(scores: np.ndarray, reps: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """(IQM, CI low, CI high) over runs, ``scores`` one value per run; the bootstrap is seeded (``seed``)."""
    from rliable import library as rly
    from rliable import metrics

    with seeded_numpy(seed):
        point, ci = rly.get_interval_estimates(
            {"x": np.asarray(scores, dtype=float).reshape(-1, 1)}, lambda x: np.array([metrics.aggregate_iqm(x)]), reps=reps
        )
    return float(point["x"][0]), float(ci["x"][0][0]), float(ci["x"][1][0])
