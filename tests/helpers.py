"""Plain helpers shared by several test modules (fixtures live in conftest.py): the repository's paths, the console
script, shared assertions, and what each optional extra needs, to skip the tests of an extra that is not installed."""

import importlib.util
import math
import os
import sys
from pathlib import Path

import gymnasium as gym
import pytest
import torch as th
from torch import nn

REPO = Path(__file__).resolve().parents[1]
SB3_DDPG = str(Path(sys.executable).parent / "sb3-ddpg")
PG_BIN = Path("/usr/lib/postgresql/15/bin")  # PostgreSQL 15 server binaries (.ci/run installs them)

# What each optional dependency is, how to tell that it is installed (every module importable), and how to get it.
# "pixels" is classic-control rendering (Pendulum from pixels): pygame, which the box2d extra brings too. "postgres" is
# no extra of the package: the distributed-tuning tests start a PostgreSQL 15 server.
EXTRAS = {
    "mujoco": (("mujoco",), "pip install 'sb3-ddpg-ext[mujoco]'"),
    "box2d": (("Box2D",), "pip install 'sb3-ddpg-ext[box2d]'"),
    "robotics": (("gymnasium_robotics", "mujoco"), "pip install 'sb3-ddpg-ext[robotics]'"),
    "zoo": (("rl_zoo3", "optuna"), "pip install 'sb3-ddpg-ext[zoo]'"),  # rl-zoo3 imports optuna
    "tune": (("optuna", "rliable"), "pip install 'sb3-ddpg-ext[tune]'"),
    "pixels": (("pygame",), "pip install 'sb3-ddpg-ext[pixels]'"),
    "postgres": (("psycopg",), f"the PostgreSQL 15 server binaries under {PG_BIN} (.ci/run installs them)"),
}


def missing(extra: str) -> str | None:
    """Why ``extra`` is not usable here (a one-line reason naming the fix), or None when it is installed."""
    modules, fix = EXTRAS[extra]
    absent = [m for m in modules if importlib.util.find_spec(m) is None]  # None too for sys.modules[m] = None
    if extra == "postgres" and (extra in PRETEND_MISSING or not (PG_BIN / "initdb").exists()):
        absent.append(str(PG_BIN / "initdb"))
    return f"needs {extra} ({', '.join(absent)} missing): {fix}" if absent else None


# SB3_DDPG_TEST_WITHOUT=robotics,zoo (or =all) runs the tests as if those were not installed, to check that their
# tests skip cleanly: conftest.py calls pretend_missing() before any test module is imported (in every xdist worker).
# The console script's subprocesses are not affected: tests that start one are marked by what they need.
PRETEND_MISSING: set[str] = set()
# The modules an extra alone brings (the robotics extra's mujoco may come with the mujoco extra, the zoo extra's optuna
# with the tune extra).
OWN_MODULES = {"robotics": ("gymnasium_robotics",), "zoo": ("rl_zoo3",), "postgres": ()}


def pretend_missing(extras: str) -> None:
    """Imports of the modules of ``extras`` ("a,b" or "all") fail from now on, as if they were not installed."""
    names = list(EXTRAS) if extras.strip() == "all" else [e.strip() for e in extras.split(",") if e.strip()]
    for extra in names:
        if extra not in EXTRAS:
            raise ValueError(f"SB3_DDPG_TEST_WITHOUT: {extra!r} is not one of {', '.join(EXTRAS)}")
        PRETEND_MISSING.add(extra)
        for module in OWN_MODULES.get(extra, EXTRAS[extra][0]):
            sys.modules[module] = None  # type: ignore[assignment]  # import fails; find_spec gives None


# SB3_DDPG_TEST_STRICT=1 (``make test``, which installs every extra and CI, which installs PostgreSQL too): an extra
# that is missing, and not pretended missing, is an error instead of a skip, so a broken install step cannot pass as
# skipped tests.
STRICT = os.environ.get("SB3_DDPG_TEST_STRICT") == "1"


def _reasons(extras: tuple[str, ...]) -> list[str]:
    reasons = [r for r in map(missing, extras) if r]
    unexpected = [r for extra, r in zip(extras, map(missing, extras), strict=True) if r and extra not in PRETEND_MISSING]
    if STRICT and unexpected:
        raise RuntimeError(f"SB3_DDPG_TEST_STRICT=1 and a test {'; '.join(unexpected)}")
    return reasons


def needs(*extras: str) -> pytest.MarkDecorator:
    """A mark that skips the test (or every test of a module, as ``pytestmark``) unless all ``extras`` are installed."""
    reasons = _reasons(extras)
    return pytest.mark.skipif(bool(reasons), reason="; ".join(reasons))


def require(*extras: str) -> None:
    """Skips the running test or fixture unless all ``extras`` are installed."""
    reasons = _reasons(extras)
    if reasons:
        pytest.skip("; ".join(reasons))


def extra_of(env_id: str) -> str | None:
    """The extra that makes ``env_id``: robotics for the Fetch tasks, mujoco or box2d for gymnasium's own."""
    if env_id.startswith("Fetch"):
        return "robotics"
    entry_point = str(gym.spec(env_id).entry_point)  # gymnasium registers every id, its extra installed or not
    return next((extra for extra in ("mujoco", "box2d") if f"gymnasium.envs.{extra}." in entry_point), None)


def env_param(env_id: str, *values: object) -> object:
    """``env_id`` (and ``values``) as a parametrize case, skipped without the extra the env needs."""
    extra = extra_of(env_id)
    return pytest.param(env_id, *values, marks=[needs(extra)] if extra else [])


def assert_one_line_error(result: tuple[int, str, str], message: str) -> None:
    """Exit code 2, no traceback, one line on stderr, and that line says ``message``."""
    code, _, err = result
    assert code == 2 and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1 and message in err, err


def linears(module: nn.Module) -> list[nn.Linear]:
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


def assert_uniform(tensor: th.Tensor, bound: float) -> None:
    """U(-bound, bound): inside the bound, reaching it, mean 0, std bound/sqrt(3). Needs >= 64 samples."""
    x = tensor.detach().flatten().double()
    n = x.numel()
    assert n >= 64, "too few samples to tell U(-b, b) from a constant"
    assert x.abs().max() <= bound
    # The largest |x| of n uniform draws falls short of the bound by about bound/n; 64 draws all below bound/2:
    # probability 2^-64. A zero or tiny tensor fails here.
    assert x.abs().max() >= bound * max(0.5, 1 - 20 / n)
    se = bound / math.sqrt(3 * n)
    assert abs(x.mean()) < 5 * se
    assert abs(x.std() - bound / math.sqrt(3)) < 6 * bound / math.sqrt(n)


class ZeroReward(gym.RewardWrapper):
    """Every reward 0 (ZeroRewardPendulum-v0 in conftest.py): every evaluation ties, as failed Fetch episodes (-50) do."""

    def reward(self, reward: float) -> float:
        return 0.0
