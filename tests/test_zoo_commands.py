"""The zoo glue behaves like the rest of the command line: one line for a bad -conf or a run that cannot learn, exit
code 130 on Ctrl-C (after saving, with train's message), and ``python -m sb3_ddpg_ext.zoo`` says what to run."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import REPO, assert_one_line_error, needs

from sb3_ddpg_ext import PaperDDPG

pytestmark = needs("zoo")

PENDULUM = yaml.safe_load((REPO / "zoo_configs" / "paper_ddpg.yml").read_text())["Pendulum-v1"]


def config(tmp_path: Path, env_id: str = "Pendulum-v1", **changes) -> str:
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump({env_id: {**PENDULUM, **changes}}))
    return str(path)


@pytest.mark.parametrize(
    "text, message",
    [
        (None, "no such file"),
        ("Pendulum-v1:\n  tau: [0.001\n  policy: MlpPolicy\n", "is not valid YAML at line 3, column 9"),
        ("- Pendulum-v1\n", "must map env ids to hyperparameters (Pendulum-v1: {...}), got a list"),
        ("PK", "rl-zoo3 reads a .yml/.yaml file or a Python module, not this file"),
    ],
)
def test_bad_config_file_is_one_line(text: str | None, message: str, cli, tmp_path: Path) -> None:
    path = tmp_path / ("config.zip" if text == "PK" else "config.yml")
    if text is not None:
        path.write_text(text)
    result = cli("zoo", "train", "--env", "Pendulum-v1", "-n", "100", "-conf", str(path), "-f", str(tmp_path / "logs"))
    assert_one_line_error(result, f"-conf {path}")
    assert message in result[2] and not (tmp_path / "logs").exists()


@pytest.mark.parametrize(
    "args, changes, message",
    [
        (("-n", "50"), {}, "batch_size=64 > the 50 transitions stored by n_timesteps (-n)=50: no gradient step"),
        (("-n", "100"), {"learning_starts": 100}, "learning_starts=100 >= n_timesteps (-n)=100"),
        (("-n", "100"), {"train_freq": 0}, "Pendulum-v1 config: train_freq=0 must be >= 1"),
        (("-n", "100"), {"action_noise": None}, "action_noise=None keeps the paper's OU noise"),
        (("-n", "100"), {"batch_size": 64.0, "buffer_size": "1e5", "gradient_steps": -2}, "gradient_steps=-2 must be"),
    ],
)
def test_zoo_refuses_a_run_that_cannot_learn(args: tuple, changes: dict, message: str, cli, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    result = cli("zoo", "train", "--env", "Pendulum-v1", *args, "-conf", config(tmp_path, **changes), "-f", str(logs))
    assert_one_line_error(result, message)
    assert not logs.exists()  # refused before rl-zoo3 made its log folder or any env


@pytest.mark.parametrize("command", ["train", "optimize"])
def test_a_misspelled_env_is_one_line(command: str, cli, tmp_path: Path) -> None:
    # rl-zoo3 printed a traceback ending in "Pendulm-v1 not found in gym registry".
    result = cli("zoo", command, "--env", "Pendulm-v1", "-n", "300", "-f", str(tmp_path / "logs"))
    assert_one_line_error(result, "cannot make Pendulm-v1: Environment `Pendulm` doesn't exist. Did you mean: `Pendulum`?")
    assert not (tmp_path / "logs").exists()
    result = cli("zoo", "train", "--env", "Pendulum-v1", "--gym-packages", "no_such_module", "-f", str(tmp_path / "logs"))
    assert_one_line_error(result, "--gym-packages no_such_module: cannot import it")


def test_ctrl_c_in_zoo_train_saves_and_exits_130_as_train_does(ctrl_c_pendulum: str, cli, tmp_path: Path) -> None:
    conf = config(tmp_path, ctrl_c_pendulum)
    code, _, err = cli("zoo", "train", "--env", ctrl_c_pendulum, "-n", "1000", "-conf", conf, "-f", str(tmp_path / "logs"))
    assert code == 130 and "Traceback" not in err, err
    steps, folder = re.fullmatch(r"interrupted at (\d+) steps; model and logs saved to (\S+)\n", err).groups()
    model = PaperDDPG.load(Path(folder) / f"{ctrl_c_pendulum}.zip")
    assert model.num_timesteps == int(steps) == 149  # the model of the step it was stopped at: nothing lost
    # sb3-ddpg train says the same, in the same words.
    code, _, train_err = cli(
        "train",
        "--env",
        ctrl_c_pendulum,
        "--timesteps",
        "1000",
        "--eval-every",
        "5000",
        "--out",
        str(tmp_path / "run"),
        "--no-progress-bar",
    )
    assert code == 130 and train_err == err.replace(folder, str(tmp_path / "run")), train_err


def test_ctrl_c_in_zoo_enjoy_and_optimize_exits_130(ctrl_c_pendulum: str, cli, tmp_path: Path) -> None:
    conf, logs = config(tmp_path, ctrl_c_pendulum), str(tmp_path / "logs")
    assert cli("zoo", "train", "--env", ctrl_c_pendulum, "-n", "100", "-conf", conf, "-f", logs)[0] == 0  # < 150 steps
    code, _, err = cli("zoo", "enjoy", "--env", ctrl_c_pendulum, "-f", logs, "--no-render", "-n", "400")
    assert (code, err) == (130, "sb3-ddpg zoo: interrupted\n"), err
    study = ["--storage", str(tmp_path / "study.log"), "--study-name", "c", "--no-optim-plots"]
    code, _, err = cli(
        "zoo", "optimize", "--env", ctrl_c_pendulum, "-n", "300", "--n-trials", "2", "-conf", conf, "-f", logs, *study
    )
    assert (code, err.splitlines()[-1]) == (130, "sb3-ddpg zoo: interrupted") and "Traceback" not in err, err


def test_running_the_zoo_module_says_what_to_run() -> None:
    result = subprocess.run([sys.executable, "-m", "sb3_ddpg_ext.zoo"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        "python -m sb3_ddpg_ext.zoo runs nothing: run sb3-ddpg zoo {train,enjoy,optimize} ... "
        "(or python -m sb3_ddpg_ext zoo ...)"
    )
