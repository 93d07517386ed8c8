"""Shared fixtures: one torch thread, the command in process and as the console script, small paper models, Optuna
storages (a journal file, a throwaway PostgreSQL server), test-only envs. Plain helpers are in helpers.py."""

import contextlib
import io
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from helpers import PG_BIN, SB3_DDPG, pretend_missing, require

from sb3_ddpg_ext import PaperDDPG

# The Ctrl-C tests send SIGINT to the commands they start. A shell's background job (`pytest &`) starts with SIGINT
# ignored and its children would inherit that; a handler here is reset to the default in every child at exec.
signal.signal(signal.SIGINT, signal.default_int_handler)

pretend_missing(os.environ.get("SB3_DDPG_TEST_WITHOUT", ""))  # e.g. =all: every extra's tests must skip cleanly


@pytest.fixture(autouse=True)
def one_torch_thread() -> None:
    """Two tests run at once on a 2-core CI machine: one thread each avoids oversubscription."""
    th.set_num_threads(1)


@pytest.fixture
def sb3_ddpg() -> Callable[..., subprocess.CompletedProcess]:
    """Runs the installed ``sb3-ddpg`` console script as a user would, capturing its output: for the one smoke test
    of each command. Everything else runs the command in process (``cli_run``, ``cli``)."""

    def run(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
        return subprocess.run([SB3_DDPG, *args], capture_output=True, text=True, timeout=timeout)

    return run


@pytest.fixture(scope="module")
def cheetah() -> PaperDDPG:
    """HalfCheetah-v5 at the paper's defaults: 17 state dims, 6 action dims. Read-only: tests must not change it."""
    require("mujoco")
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
    require("tune")
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


@contextlib.contextmanager
def wrapped_pendulum(env_id: str, wrap: Callable[[gym.Env], gym.Env]) -> Iterator[str]:
    """``env_id``: Pendulum-v1 inside ``wrap``, in gymnasium's registry for the block only."""
    gym.register(env_id, entry_point=lambda **kw: wrap(gym.make("Pendulum-v1", **kw)), max_episode_steps=200)
    try:
        yield env_id
    finally:
        gym.registry.pop(env_id, None)


@pytest.fixture
def nan_pendulum() -> Iterator[str]:
    """``NaNPendulum-v0`` registered for one test, and removed from gymnasium's registry afterwards."""
    with wrapped_pendulum("NaNPendulum-v0", NaNRewardAfter) as env_id:
        yield env_id


@pytest.fixture
def zero_reward_pendulum() -> Iterator[str]:
    """``ZeroRewardPendulum-v0`` (every reward 0, so every evaluation ties) registered for one test."""
    from helpers import ZeroReward

    with wrapped_pendulum("ZeroRewardPendulum-v0", ZeroReward) as env_id:
        yield env_id


@pytest.fixture
def cli_run() -> Callable[..., subprocess.CompletedProcess]:
    """``sb3-ddpg`` run in this process (``cli.main``), its exit code and output captured as the console script's
    would be: error-message tests without a ~10 s interpreter start each. One subprocess test per command remains."""
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


class SigintAt(gym.Wrapper):
    """Pendulum that sends this process SIGINT (Ctrl-C) during its ``at``-th step, as a user at the terminal would."""

    def __init__(self, env: gym.Env, at: int) -> None:
        super().__init__(env)
        self.at, self.steps = at, 0

    def step(self, action):
        self.steps += 1
        if self.steps == self.at:
            os.kill(os.getpid(), signal.SIGINT)
        return self.env.step(action)


@pytest.fixture
def ctrl_c_pendulum() -> Iterator[str]:
    """``CtrlCPendulum-v0``: Pendulum-v1 pressing Ctrl-C at its 150th step; registered for one test."""
    with wrapped_pendulum("CtrlCPendulum-v0", lambda env: SigintAt(env, 150)) as env_id:
        yield env_id


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL 15 cluster on loopback (initdb + pg_ctl), as the postgres user when run as root; the
    tests that use it skip without the server binaries. One per test session (per xdist worker); studies are named
    apart."""
    require("postgres")
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    data = Path(tempfile.mkdtemp(prefix="sb3-ddpg-pg-"))
    data.chmod(0o755)
    if as_user:
        shutil.chown(data, "postgres", "postgres")
    port = free_port()
    subprocess.run(
        [*as_user, PG_BIN / "initdb", "-D", data / "db", "-U", "postgres", "-A", "trust", "--no-sync"],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50"
    subprocess.run(
        [*as_user, PG_BIN / "pg_ctl", "-D", data / "db", "-o", options, "-l", data / "log", "-w", "start"],
        check=True,
        capture_output=True,
    )
    try:
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE optuna")
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/optuna"
    finally:
        subprocess.run([*as_user, PG_BIN / "pg_ctl", "-D", data / "db", "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(data, ignore_errors=True)
