"""The PaperDDPG search space shared by ``sb3-ddpg tune`` and rl-zoo3's ``-optimize``.

rl-zoo3's DDPG sampler shares one learning rate between actor and critic and builds OU noise with
dt=0.01; this one tunes the paper's four sensitive values separately and keeps dt=1.
"""

from dataclasses import dataclass
from typing import Any

from sb3_ddpg_ext.paper_ddpg import PaperDDPG
from sb3_ddpg_ext.paper_ddpg.checks import INTEGERS


@dataclass(frozen=True)
class Range:
    """A float range for ``trial.suggest_float``."""

    low: float
    high: float
    log: bool = False

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise ValueError(f"empty range [{self.low}, {self.high}]: low must be below high")
        if self.log and self.low <= 0:
            raise ValueError(f"log range [{self.low}, {self.high}] must have low > 0")


# Wide enough for the paper's values (tau 1e-3, lr 1e-4 / 1e-3, sigma 0.2) and the RL Zoo's tuned DDPG ones
# (tau 5e-3, one lr of 7e-4 to 1e-3, noise std 0.1 to 0.5).
DEFAULT_SEARCH_SPACE: dict[str, Range] = {
    "tau": Range(1e-4, 5e-2, log=True),
    "actor_learning_rate": Range(1e-5, 1e-2, log=True),
    "critic_learning_rate": Range(1e-5, 1e-2, log=True),
    "ou_sigma": Range(0.05, 1.0),
}

# The paper's values of the tuned parameters, from PaperDDPG's defaults; enqueued as the first trial of every study.
PAPER_PARAMS: dict[str, float] = {k: v for k, v in PaperDDPG.paper_hyperparameters().items() if k in DEFAULT_SEARCH_SPACE}


def sample_params(trial: Any, space: dict[str, Range] | None = None) -> dict[str, float]:
    """Suggest one value per parameter of ``space`` (an ``optuna.Trial``); names are PaperDDPG arguments, and the
    integer ones (batch_size, learning_starts, ...) get integers."""
    space = DEFAULT_SEARCH_SPACE if space is None else space
    return {
        name: trial.suggest_int(name, int(r.low), int(r.high), log=r.log)
        if name in INTEGERS
        else trial.suggest_float(name, r.low, r.high, log=r.log)
        for name, r in space.items()
    }
