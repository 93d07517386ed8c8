"""Shared fixtures: one torch thread, the console script, small paper models, journal storages, test-only envs."""

import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch as th

from sb3_ddpg_ext import PaperDDPG

# The Ctrl-C tests send SIGINT to the commands they start. A shell's background job (`pytest &`) starts with SIGINT
# ignored and its children would inherit that; a handler here is reset to the default in every child at exec.
signal.signal(signal.SIGINT, signal.default_int_handler)

REPO = Path(__file__).resolve().parents[1]
SB3_DDPG = str(Path(sys.executable).parent / "sb3-ddpg")


@pytest.fixture(autouse=True)
def one_torch_thread() -> None:
    """Two tests run at once on a 2-core CI machine: one thread each avoids oversubscription."""
    th.set_num_threads(1)


@pytest.fixture
def sb3_ddpg() -> Callable[..., subprocess.CompletedProcess]:
    """Runs the installed ``sb3-ddpg`` console script as a user would, capturing its output."""

    def run(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
        return subprocess.run([SB3_DDPG, *args], capture_output=True, text=True, timeout=timeout)

    return run


@pytest.fixture(scope="module")
def cheetah() -> PaperDDPG:
    """HalfCheetah-v5 at the paper's defaults: 17 state dims, 6 action dims. Read-only: tests must not change it."""
    return PaperDDPG("MlpPolicy", "HalfCheetah-v5", buffer_size=1000, seed=0)


@pytest.fixture
def pendulum() -> Callable[..., PaperDDPG]:
    """A factory of small Pendulum-v1 models at the paper's defaults (buffer 1000, seed 0), overridable."""

    def make(**kwargs) -> PaperDDPG:
        return PaperDDPG("MlpPolicy", "Pendulum-v1", **{"buffer_size": 1000, "seed": 0, **kwargs})

    return make


@pytest.fixture
def journal() -> Callable[[Path], object]:
    """An Optuna journal storage on a path (the embedded default of ``sb3-ddpg tune``)."""
    import optuna

    return lambda path: optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))


class NaNRewardAfter(gym.Wrapper):
    """A real env that starts returning NaN rewards: the critic's targets, then its weights, go NaN."""

    def __init__(self, env: gym.Env, after: int = 80) -> None:
        super().__init__(env)
        self.after, self.steps = after, 0

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.steps += 1
        return obs, (np.nan if self.steps > self.after else reward), terminated, truncated, info


@pytest.fixture
def nan_pendulum() -> Iterator[str]:
    """``NaNPendulum-v0`` registered for one test, and removed from gymnasium's registry afterwards."""
    env_id = "NaNPendulum-v0"
    gym.register(env_id, entry_point=lambda **kw: NaNRewardAfter(gym.make("Pendulum-v1", **kw)), max_episode_steps=200)
    try:
        yield env_id
    finally:
        gym.registry.pop(env_id, None)


@pytest.fixture
def cli_run() -> Callable[..., subprocess.CompletedProcess]:
    """``sb3-ddpg`` run in this process (``cli.main``), its exit code and output captured as the console script's
    would be: error-message tests without a ~10 s interpreter start each. One subprocess test per command remains."""
    import contextlib
    import io

    from sb3_ddpg_ext import cli

    def run(*args: str) -> subprocess.CompletedProcess:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(list(args))
            except SystemExit as e:  # argparse: --help, --version, and its own usage errors
                code = e.code if isinstance(e.code, int) else 1
        return subprocess.CompletedProcess(["sb3-ddpg", *args], code, out.getvalue(), err.getvalue())

    return run


@pytest.fixture
def cli(cli_run) -> Callable[..., tuple[int, str, str]]:
    """``cli_run`` as (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        result = cli_run(*args)
        return result.returncode, result.stdout, result.stderr

    return run


def assert_one_line_error(result: tuple[int, str, str], message: str) -> None:
    """Exit code 2, no traceback, one line on stderr, and that line says ``message``."""
    code, _, err = result
    assert code == 2 and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1 and message in err, err
