"""PaperDDPG's checks of a ``learn()`` budget: a run in which no gradient step can happen is refused before it starts
(or, where that depends on episode lengths, reported at its end), naming the setting that prevents it."""

import numbers
import warnings
from typing import Any, cast

from stable_baselines3 import HerReplayBuffer
from stable_baselines3.common.type_aliases import TrainFreq


class NoGradientStep(UserWarning):
    """A ``learn()`` call makes no gradient step: it only stores transitions (fewer than a batch). A warning from
    Python, where the next call continues from them; the commands, whose runs are whole, turn it into an error."""


class TooFewForABatch(ValueError):
    """``check_budget``: the run stores fewer transitions than a batch (``learn()`` warns, the commands refuse)."""


def check_total_timesteps(value: Any) -> int:
    """``learn()``'s budget: an integer >= 1 (``1e4`` is one)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not float(value).is_integer():
        raise TypeError(f"PaperDDPG.learn: total_timesteps={value!r} must be an integer")
    if value < 1:
        raise ValueError(f"PaperDDPG.learn: total_timesteps={value} must be >= 1: a run of no steps learns nothing")
    return int(float(value))


def check_budget(
    total: int,
    learning_starts: int,
    batch_size: int,
    train_freq: Any,
    n_envs: int = 1,
    stored: int = 0,
    budget: str = "total_timesteps",
) -> None:
    """Refuse a run of ``total`` env steps in which no gradient step can happen, naming the setting that prevents it.

    SB3 collects whole rollouts of ``train_freq`` steps of ``n_envs`` envs, then updates when more than
    ``learning_starts`` steps were taken; PaperDDPG updates once ``batch_size`` transitions are stored (``stored``
    before the run): :class:`TooFewForABatch`. With an episode-based ``train_freq`` this depends on episode lengths:
    ``learn()`` reports it at the end instead.
    """
    frequency, unit = train_freq if isinstance(train_freq, tuple) else (train_freq, "step")
    if getattr(unit, "value", unit) != "step":
        return
    chunk = frequency * n_envs
    last = -(-total // chunk) * chunk  # the steps taken when learn() returns: whole rollouts
    if learning_starts >= last:
        raise ValueError(
            f"learning_starts={learning_starts} >= {budget}={total}: no gradient step can happen (updates start after "
            f"learning_starts steps); lower learning_starts (the paper's is 0) or train for more than {learning_starts} steps"
        )
    if stored + last < batch_size:
        raise TooFewForABatch(
            f"batch_size={batch_size} > the {stored + last} transitions stored by {budget}={total}: no gradient step can "
            f"happen (updates start once batch_size transitions are stored); train for at least {batch_size - stored} "
            "steps or lower batch_size"
        )


def check_learn_budget(
    total_timesteps: int, learning_starts: int, batch_size: int, train_freq: Any, n_envs: int, stored: int
) -> None:
    """``learn()`` of a new run: a ValueError if no gradient step can happen, a :class:`NoGradientStep` warning if
    fewer than a batch of transitions will be stored (the run can go on in the next call)."""
    try:
        check_budget(total_timesteps, learning_starts, batch_size, train_freq, n_envs, stored)
    except TooFewForABatch as e:
        warnings.warn(f"PaperDDPG.learn: {e}", NoGradientStep, stacklevel=3)
    except ValueError as e:
        raise ValueError(f"PaperDDPG.learn: {e}") from None


def warn_no_gradient_step(model: Any) -> None:
    """After a ``learn()`` of ``model`` that made no gradient step with an episode-based ``train_freq`` or HER, which
    wait for episodes to end (a step-based run without HER was checked by :func:`check_learn_budget` at the start):
    a :class:`NoGradientStep` warning naming the settings."""
    train_freq = cast(TrainFreq, model.train_freq)  # SB3's _convert_train_freq made it one at setup
    frequency, unit = train_freq.frequency, train_freq.unit.value
    steps, learning_starts, batch_size = model.num_timesteps, model.learning_starts, model.batch_size
    her = isinstance(model.replay_buffer, HerReplayBuffer)
    if unit == "episode" or her:
        waits = " and, with HER, once an episode has ended" if her else ""
        warnings.warn(
            f"PaperDDPG.learn: no gradient step in {steps} steps (train_freq={frequency} {unit}(s), "
            f"learning_starts={learning_starts}, batch_size={batch_size}): updates start after "
            f"learning_starts steps, once batch_size transitions are stored{waits}; train longer or lower them",
            NoGradientStep,
            stacklevel=3,
        )
