"""A trial's seeds in lockstep: each seed is one ``run.train`` (one ``learn()`` call over the whole budget, as
``sb3-ddpg train`` runs it), in its own thread; one thread trains at a time, and they take turns at every
evaluation, so the objective reports the mean over seeds at each step and can prune them all there. Each run keeps
its own global random states (Python, NumPy, torch: SB3's noise and replay sampling draw from them), so every seed
trains exactly as it would alone.

Why threads: SB3's ``learn()`` cannot be paused and re-entered without changing the run. Calling it once per
evaluation interval restarts its progress counter (learning-rate schedules and the OU sigma annealing then run their
whole course in every interval) and resets the action noise at every call.
"""

import random
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import torch as th
from stable_baselines3.common.callbacks import BaseCallback


class Lockstep:
    """Turns between ``n`` runs. ``on_round(step, values)`` gets every run's value at an evaluation step and returns
    a reason to stop them all (pruned, failed), or None to go on."""

    def __init__(self, n: int, on_round: Callable[[int, list[float]], str | None]) -> None:
        self.n, self.on_round = n, on_round
        self.cond = threading.Condition()
        self.turn = 0
        self.values: list[float] = [float("nan")] * n
        self.stop: str | None = None  # why every run stops early (the first reason given)
        self.rng_states: list[tuple[Any, Any, th.Tensor] | None] = [None] * n
        self.ended = 0  # runs that called finish()

    def wait_turn(self, i: int) -> bool:
        """Block until it is run ``i``'s turn, then give it back its random states; False when the runs are stopping."""
        with self.cond:
            self.cond.wait_for(lambda: self.turn == i or self.stop is not None)
            state = self.rng_states[i]
            if state is not None and self.stop is None:
                random.setstate(state[0])
                np.random.set_state(state[1])
                th.set_rng_state(state[2])
            return self.stop is None

    def post(self, i: int, step: int, value: float) -> bool:
        """Run ``i``'s value at ``step``; hands the turn on and waits for the next. The last run of a round calls
        ``on_round``. Returns False when the runs are to stop."""
        with self.cond:
            self.values[i] = value
            self.rng_states[i] = (random.getstate(), np.random.get_state(), th.get_rng_state())
            if i == self.n - 1 and self.stop is None:
                reason = self.on_round(step, list(self.values))
                self.stop = self.stop or reason
            self.turn = (i + 1) % self.n
            self.cond.notify_all()
        return self.wait_turn(i)

    def finish(self, i: int, reason: str | None = None) -> None:
        """Run ``i`` ended (``reason``: why it ended early, which stops the others); the next one goes on."""
        with self.cond:
            if reason is not None and self.stop is None:
                self.stop = reason
            self.turn = (i + 1) % self.n
            self.ended += i >= 0
            self.cond.notify_all()

    def halt(self, reason: str) -> None:
        """Stop every run at its next env step (Ctrl-C in the thread that waits for them)."""
        self.finish(-1, reason)

    def wait_ended(self, n: int) -> None:
        """Block until ``n`` runs have ended. Waiting here, not in ``Thread.join``: a join that Ctrl-C interrupts
        marks its thread stopped in Python 3.11, and a later join then returns while the thread still runs."""
        with self.cond:
            self.cond.wait_for(lambda: self.ended >= n)


class TakeTurns(BaseCallback):
    """Run ``index``'s side of a :class:`Lockstep`, as ``after_evaluation`` of ``run.train``: posts each evaluation's
    value (``value(evaluation)``) and waits for its next turn; False stops the run."""

    def __init__(self, lockstep: Lockstep, index: int, value: Callable[[Any], float]) -> None:
        super().__init__()
        self.lockstep, self.index, self.value = lockstep, index, value

    def _on_step(self) -> bool:
        evaluation = self.parent
        assert evaluation is not None, "TakeTurns is run.train's after_evaluation"
        return self.lockstep.post(self.index, evaluation.num_timesteps, self.value(evaluation))


class StopWhenHalted(BaseCallback):
    """In ``run.train``'s callbacks: stops the run at the env step after the others stop (pruned, failed, Ctrl-C)."""

    def __init__(self, lockstep: Lockstep) -> None:
        super().__init__()
        self.lockstep = lockstep

    def _on_step(self) -> bool:
        return self.lockstep.stop is None
