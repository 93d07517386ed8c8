"""The sb3-ddpg command end to end, through the installed console script."""

import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import SB3_DDPG
from gymnasium import spaces

from sb3_ddpg_ext import PaperDDPG
from sb3_ddpg_ext.envs import policy_for


def test_train_then_evaluate(sb3_ddpg, tmp_path: Path) -> None:
    out = tmp_path / "run"
    train = sb3_ddpg("train", "--env", "Pendulum-v1", "--timesteps", "300", "--seed", "3", "--eval-every", "100",
                     "--eval-episodes", "2", "--out", str(out), "-p", "tau=0.005", "-p", "batch_size=32")  # fmt: skip
    assert train.returncode == 0, train.stderr
    for name in ("model.zip", "best_model.zip", "evaluations.csv", "learning_curve.png"):
        assert (out / name).stat().st_size > 0, name
    log = pd.read_csv(out / "evaluations.csv")
    assert list(log["timesteps"]) == [100, 200, 300]
    assert set(log.columns) >= {"mean_return", "std_return", "min_return", "max_return"}
    model = PaperDDPG.load(out / "model.zip")
    assert (model.tau, model.batch_size, model.num_timesteps) == (0.005, 32, 300)  # the -p values reached the model

    evaluate = sb3_ddpg("evaluate", str(out / "model.zip"), "--env", "Pendulum-v1", "--episodes", "3")
    assert evaluate.returncode == 0, evaluate.stderr
    line = evaluate.stdout.splitlines()[0]
    stats = dict(part.strip().split(" ") for part in line.split(": ", 1)[1].split(","))
    assert set(stats) == {"mean", "std", "max", "min", "median"}
    assert -2000 < float(stats["min"]) <= float(stats["mean"]) <= float(stats["max"]) <= 0
    assert (out / "model_returns.png").stat().st_size > 0


@pytest.mark.parametrize("env_id", ["HalfCheetah-v5", "LunarLanderContinuous-v3"])
def test_train_with_mujoco_and_box2d_envs(env_id: str, sb3_ddpg, tmp_path: Path) -> None:
    result = sb3_ddpg("train", "--env", env_id, "--timesteps", "100", "--eval-every", "100", "--eval-episodes", "1",
                      "--out", str(tmp_path), "--no-progress-bar")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert PaperDDPG.load(tmp_path / "model.zip").observation_space.shape == {"HalfCheetah-v5": (17,)}.get(env_id, (8,))


@pytest.mark.parametrize(
    "args, message",
    [
        (("-p", "tua=0.1"), "unknown PaperDDPG parameter 'tua'; did you mean 'tau'?"),
        (("-p", "tau=3"), "tau=3 must be in (0, 1]"),
        (("-p", "tau"), "is not KEY=VALUE"),
        (("--env", "NoSuchEnv-v0"), "cannot make NoSuchEnv-v0"),
        (("--env", "no_such_module:Foo-v0"), "module 'no_such_module' cannot be imported"),
        (("--env", "CartPole-v1"), "continuous gymnasium.spaces.Box action space"),
    ],
)
def test_bad_train_inputs_give_one_clear_error(args: tuple, message: str, sb3_ddpg, tmp_path: Path) -> None:
    env = [] if "--env" in args else ["--env", "Pendulum-v1"]
    result = sb3_ddpg("train", *env, "--timesteps", "10", "--out", str(tmp_path), *args)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_evaluate_missing_model(sb3_ddpg, tmp_path: Path) -> None:
    result = sb3_ddpg("evaluate", str(tmp_path / "missing.zip"), "--env", "Pendulum-v1")
    assert result.returncode == 2 and "no model at" in result.stderr


def test_module_env_ids_work(sb3_ddpg, tmp_path: Path) -> None:
    """gymnasium accepts ``module:Env-v0`` ids: the module is imported, which registers the env."""
    result = sb3_ddpg("train", "--env", "gymnasium.envs.classic_control:Pendulum-v1", "--timesteps", "70",
                      "--eval-every", "1000", "--out", str(tmp_path), "--no-progress-bar")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert PaperDDPG.load(tmp_path / "model.zip").num_timesteps == 70


def test_interrupted_training_keeps_model_and_log(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = subprocess.Popen([SB3_DDPG, "train", "--env", "Pendulum-v1", "--timesteps", "100000", "--eval-every", "100",
                             "--eval-episodes", "1", "--out", str(out), "--no-progress-bar"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 120
    while not (out / "best_model.zip").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted at" in stderr
    interrupted_at = int(stderr.split("interrupted at ")[1].split()[0])
    assert 100 <= PaperDDPG.load(out / "model.zip").num_timesteps == interrupted_at < 100_000
    assert len(pd.read_csv(out / "evaluations.csv")) >= 1


@pytest.mark.parametrize(
    "space, alias",
    [
        (spaces.Box(-1, 1, (3,)), "MlpPolicy"),
        (spaces.Box(0, 255, (3, 64, 64), dtype=np.uint8), "CnnPolicy"),
        (spaces.Dict({"x": spaces.Box(-1, 1, (2,))}), "MultiInputPolicy"),
    ],
)
def test_policy_is_chosen_from_the_observation_space(space: spaces.Space, alias: str) -> None:
    assert policy_for(space) == alias
