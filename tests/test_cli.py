"""The sb3-ddpg command end to end, through the installed console script."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

SB3_DDPG = str(Path(sys.executable).parent / "sb3-ddpg")


def run(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([SB3_DDPG, *args], capture_output=True, text=True, timeout=timeout)


def test_train_then_evaluate(tmp_path: Path) -> None:
    out = tmp_path / "run"
    train = run("train", "--env", "Pendulum-v1", "--timesteps", "300", "--seed", "3", "--eval-every", "100",
                "--eval-episodes", "2", "--out", str(out), "-p", "tau=0.005", "-p", "batch_size=32")  # fmt: skip
    assert train.returncode == 0, train.stderr
    for name in ("model.zip", "best_model.zip", "evaluations.csv", "learning_curve.png"):
        assert (out / name).stat().st_size > 0, name
    log = pd.read_csv(out / "evaluations.csv")
    assert list(log["timesteps"]) == [100, 200, 300]
    assert set(log.columns) >= {"mean_return", "std_return", "min_return", "max_return"}

    evaluate = run("evaluate", str(out / "model.zip"), "--env", "Pendulum-v1", "--episodes", "3")
    assert evaluate.returncode == 0, evaluate.stderr
    line = evaluate.stdout.splitlines()[0]
    for stat in ("mean", "std", "max", "min", "median"):
        assert f"{stat} " in line
    assert (out / "model_returns.png").stat().st_size > 0


def test_train_with_mujoco_and_box2d_envs(tmp_path: Path) -> None:
    for env_id in ("HalfCheetah-v5", "LunarLanderContinuous-v3"):
        result = run("train", "--env", env_id, "--timesteps", "100", "--eval-every", "100", "--eval-episodes", "1",
                     "--out", str(tmp_path / env_id), "--no-progress-bar")  # fmt: skip
        assert result.returncode == 0, result.stderr


def test_bad_inputs_give_one_clear_error(tmp_path: Path) -> None:
    cases = {
        ("-p", "tua=0.1"): "unknown PaperDDPG parameter 'tua'",
        ("-p", "tau=3"): "tau=3 must be in (0, 1]",
        ("-p", "tau"): "is not KEY=VALUE",
    }
    for extra, message in cases.items():
        result = run("train", "--env", "Pendulum-v1", "--timesteps", "10", "--out", str(tmp_path), *extra)
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    result = run("train", "--env", "NoSuchEnv-v0", "--timesteps", "10", "--out", str(tmp_path))
    assert result.returncode == 2 and "cannot make NoSuchEnv-v0" in result.stderr
    result = run("train", "--env", "CartPole-v1", "--timesteps", "10", "--out", str(tmp_path))
    assert result.returncode == 2 and "continuous gymnasium.spaces.Box action space" in result.stderr
    result = run("evaluate", str(tmp_path / "missing.zip"), "--env", "Pendulum-v1")
    assert result.returncode == 2 and "no model at" in result.stderr


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
    assert (out / "model.zip").exists()
    assert len(pd.read_csv(out / "evaluations.csv")) >= 1


def test_policy_is_chosen_from_the_observation_space() -> None:
    import numpy as np
    from gymnasium import spaces

    from sb3_ddpg_ext.cli import policy_for

    assert policy_for(spaces.Box(-1, 1, (3,))) == "MlpPolicy"
    assert policy_for(spaces.Box(0, 255, (3, 64, 64), dtype=np.uint8)) == "CnnPolicy"
    assert policy_for(spaces.Dict({"x": spaces.Box(-1, 1, (2,))})) == "MultiInputPolicy"
