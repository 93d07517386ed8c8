"""The sb3-ddpg command end to end: through the installed console script once (train, then evaluate: the smoke
test of both commands), in process (``cli_run``) for everything else, Ctrl-C included."""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
from gymnasium import spaces
from helpers import REPO, assert_one_line_error, env_param, needs

from sb3_ddpg_ext import PaperDDPG, __version__
from sb3_ddpg_ext.envs import policy_for


def test_train_then_evaluate(sb3_ddpg, cli, tmp_path: Path) -> None:
    out = tmp_path / "run"
    train = sb3_ddpg(
        "train",
        "--env",
        "Pendulum-v1",
        "--timesteps",
        "300",
        "--seed",
        "3",
        "--eval-every",
        "100",
        "--eval-episodes",
        "2",
        "--out",
        str(out),
        "-p",
        "tau=0.005",
        "-p",
        "batch_size=32",
    )
    assert train.returncode == 0, train.stderr
    for name in ("model.zip", "best_model.zip", "evaluations.csv", "learning_curve.png"):
        assert (out / name).stat().st_size > 0, name
    log = pd.read_csv(out / "evaluations.csv")
    assert list(log["timesteps"]) == [100, 200, 300]
    assert set(log.columns) >= {"mean_return", "std_return", "min_return", "max_return"}
    model = PaperDDPG.load(out / "model.zip")
    assert (model.tau, model.batch_size, model.num_timesteps) == (0.005, 32, 300)  # the -p values reached the model
    # The command it prints replays the best evaluation: the same weights, env seed and episodes.
    replay = next(line for line in train.stdout.splitlines() if line.startswith("replay it: sb3-ddpg "))
    code, replayed, err = cli(*replay.removeprefix("replay it: sb3-ddpg ").split(), "--histogram", str(tmp_path / "h.png"))
    assert code == 0, err
    assert f"mean {log.mean_return.max():.2f}," in replayed.splitlines()[0]

    evaluate = sb3_ddpg("evaluate", str(out / "model.zip"), "--env", "Pendulum-v1", "--episodes", "3")
    assert evaluate.returncode == 0, evaluate.stderr
    line = evaluate.stdout.splitlines()[0]
    stats = dict(part.strip().split(" ") for part in line.split(": ", 1)[1].split(","))
    assert set(stats) == {"mean", "std", "max", "min", "median"}
    assert -2000 < float(stats["min"]) <= float(stats["mean"]) <= float(stats["max"]) <= 0
    assert (out / "model_returns.png").stat().st_size > 0


@pytest.mark.parametrize("env_id", [env_param("HalfCheetah-v5"), env_param("LunarLanderContinuous-v3")])
def test_train_with_mujoco_and_box2d_envs(env_id: str, cli_run, tmp_path: Path) -> None:
    result = cli_run(
        "train",
        "--env",
        env_id,
        "--timesteps",
        "100",
        "--eval-every",
        "100",
        "--eval-episodes",
        "1",
        "--out",
        str(tmp_path),
        "--no-progress-bar",
    )
    assert result.returncode == 0, result.stderr
    assert PaperDDPG.load(tmp_path / "model.zip").observation_space.shape == {"HalfCheetah-v5": (17,)}.get(env_id, (8,))


@pytest.mark.parametrize(
    "args, message",
    [
        (("-p", "tau=0.01", "-p", "tau=0.02"), "-p tau is given twice (0.01, then 0.02): give it once"),
        (("--checkpoint-every", "5000"), "checkpoint_every=5000 >= timesteps=300: the run would end before its first"),
        (("--preset", "her-paper"), "--preset her-paper is the HER paper's DDPG, with HER, for goal-conditioned envs"),
    ],
)
def test_options_that_would_be_dropped_are_refused_before_the_run_folder(args, message, cli, tmp_path: Path) -> None:
    # Each was silently dropped (the first tau, the checkpoints) or refused after the run folder was made.
    out = tmp_path / "run"
    assert_one_line_error(cli("train", "--env", "Pendulum-v1", "--timesteps", "300", "--out", str(out), *args), message)
    assert not out.exists()


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
def test_bad_train_inputs_give_one_clear_error(args: tuple, message: str, cli_run, tmp_path: Path) -> None:
    env = [] if "--env" in args else ["--env", "Pendulum-v1"]
    result = cli_run("train", *env, "--timesteps", "10", "--out", str(tmp_path), *args)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_evaluate_missing_model(cli_run, tmp_path: Path) -> None:
    result = cli_run("evaluate", str(tmp_path / "missing.zip"), "--env", "Pendulum-v1")
    assert result.returncode == 2 and "no model at" in result.stderr


def test_module_env_ids_work(cli_run, tmp_path: Path) -> None:
    """gymnasium accepts ``module:Env-v0`` ids: the module is imported, which registers the env."""
    result = cli_run(
        "train",
        "--env",
        "gymnasium.envs.classic_control:Pendulum-v1",
        "--timesteps",
        "70",
        "--eval-every",
        "1000",
        "--out",
        str(tmp_path),
        "--no-progress-bar",
    )
    assert result.returncode == 0, result.stderr
    assert PaperDDPG.load(tmp_path / "model.zip").num_timesteps == 70


class CtrlCOnceSaved(gym.Wrapper):
    """Pendulum that sends this process SIGINT (Ctrl-C) at its first step after ``path`` exists, as a user at the
    terminal would once a run has saved something. Registered by the test that uses it."""

    def __init__(self, env: gym.Env, path: Path) -> None:
        super().__init__(env)
        self.path, self.pressed = path, False

    def step(self, action):
        if not self.pressed and self.path.exists():
            self.pressed = True
            os.kill(os.getpid(), signal.SIGINT)
        return self.env.step(action)


def test_interrupted_training_keeps_model_and_log(cli_run, tmp_path: Path) -> None:
    # A real SIGINT in the middle of training, after the first evaluation (at step 100) saved best_model.zip.
    out = tmp_path / "run"
    env_id = "CtrlCOnceSavedPendulum-v0"
    gym.register(
        env_id,
        entry_point=lambda **kw: CtrlCOnceSaved(gym.make("Pendulum-v1", **kw), out / "best_model.zip"),
        max_episode_steps=200,
    )
    try:
        result = cli_run(
            "train",
            "--env",
            env_id,
            "--timesteps",
            "100000",
            "--eval-every",
            "100",
            "--eval-episodes",
            "1",
            "--out",
            str(out),
            "--no-progress-bar",
        )
    finally:
        gym.registry.pop(env_id, None)
    assert result.returncode == 130 and "Traceback" not in result.stderr, result.stderr
    interrupted_at = int(re.search(r"interrupted at (\d+) steps", result.stderr).group(1))
    # Ctrl-C came inside step 101, the first after best_model.zip was written: the model of step 100 is kept.
    assert PaperDDPG.load(out / "model.zip").num_timesteps == interrupted_at == 100
    assert list(pd.read_csv(out / "evaluations.csv")["timesteps"]) == [100]


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


def test_paper_values_in_any_python_notation(cli_run, tmp_path: Path) -> None:
    result = cli_run(
        "train",
        "--env",
        "Pendulum-v1",
        "--timesteps",
        "70",
        "--eval-every",
        "1000",
        "--out",
        str(tmp_path),
        "--no-progress-bar",
        "-p",
        "actor_learning_rate=1e-4",
        "-p",
        "buffer_size=1e4",
        "-p",
        "policy_kwargs=dict(net_arch=[64, 64], batch_norm=False)",
        "-p",
        "train_freq=(1, 'step')",
        "-p",
        "action_noise=normal:0.1",
    )
    assert result.returncode == 0, result.stderr
    model = PaperDDPG.load(tmp_path / "model.zip")
    assert (model.learning_rate, model.buffer_size, model.policy_kwargs["net_arch"]) == (1e-4, 10_000, [64, 64])
    # No evaluation ran (70 steps < 1000): the closing lines say so and claim no curve.
    assert "no evaluation ran" in result.stdout and "learning_curve" not in result.stdout
    assert f"wrote {tmp_path / 'model.zip'}\n" in result.stdout and not (tmp_path / "learning_curve.png").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (("-p", "tau=abc"), "tau='abc' is a str; expected float"),
        (("-p", "action_noise=gauss"), "use normal:SIGMA or ou:SIGMA"),
        (("--device", "gpu"), "--device 'gpu' is not a torch device"),
        (("--device", "mps"), "--device 'mps' cannot be used here ("),  # torch's many-line error, its first sentence
    ],
)
def test_wrong_values_give_one_line(args: tuple, message: str, cli_run, tmp_path: Path) -> None:
    result = cli_run("train", "--env", "Pendulum-v1", "--timesteps", "10", "--out", str(tmp_path / "run"), *args)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()  # refused before anything was made


@pytest.mark.parametrize(
    "args, message",
    [
        (("train", "--timesteps", "0"), "argument --timesteps: must be >= 1, got 0"),
        (("train", "--n-envs", "0"), "argument --n-envs: must be >= 1, got 0"),
        (("train", "--threads", "0"), "argument --threads: must be >= 1, got 0"),
        (("train", "--eval-every", "-5"), "argument --eval-every: must be >= 1, got -5"),
        (("train", "--eval-episodes", "x"), "argument --eval-episodes: 'x' is not an integer"),
        (("evaluate", "m.zip", "--episodes", "0"), "argument --episodes: must be >= 1, got 0"),
        (("tune", "--n-trials", "0"), "argument --n-trials: must be >= 1, got 0"),
        (("tune-report", "--study-name", "s", "--threads", "0"), "argument --threads: must be >= 1"),
    ],
)
def test_numeric_options_have_ranges(args: tuple, message: str, cli_run, tmp_path: Path) -> None:
    extra = ["--env", "Pendulum-v1", "--out", str(tmp_path / "run")] if args[0] == "train" else []
    extra += ["--timesteps", "10"] if args[0] == "train" and "--timesteps" not in args else []
    result = cli_run(*args, *extra)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "run").exists()


def test_out_must_be_a_writable_folder(cli_run, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("mine")
    for out, message in (
        (tmp_path / "file", "is a file, not a folder"),
        (Path("/proc/sb3-ddpg-run"), "not a writable folder"),
    ):
        result = cli_run("train", "--env", "Pendulum-v1", "--timesteps", "100", "--out", str(out))
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert (tmp_path / "file").read_text() == "mine"


def test_an_earlier_run_is_refused_untouched_or_replaced_with_overwrite(cli_run, tmp_path: Path) -> None:
    first = [
        "train",
        "--env",
        "Pendulum-v1",
        "--timesteps",
        "100",
        "--eval-every",
        "100",
        "--eval-episodes",
        "1",
        "--out",
        str(tmp_path),
        "--no-progress-bar",
    ]
    assert cli_run(*first).returncode == 0
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    again = cli_run("train", "--env", "Pendulum-v1", "--timesteps", "70", "--eval-every", "1000", "--out", str(tmp_path))
    assert again.returncode == 2 and "already holds a run (model.zip, best_model.zip" in again.stderr, again.stderr
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # untouched
    replaced = cli_run(
        "train",
        "--env",
        "Pendulum-v1",
        "--timesteps",
        "70",
        "--eval-every",
        "1000",
        "--out",
        str(tmp_path),
        "--overwrite",
        "--no-progress-bar",
    )
    assert replaced.returncode == 0, replaced.stderr
    # Nothing of the first run mixes in; the folder's lock file stays (rundir.run_folder_lock).
    assert sorted(p.name for p in tmp_path.iterdir()) == [".sb3-ddpg.lock", "model.zip"]
    assert PaperDDPG.load(tmp_path / "model.zip").num_timesteps == 70


def test_diverging_run_stops_and_is_not_saved_as_the_result(cli_run, tmp_path: Path) -> None:
    result = cli_run(
        "train",
        "--env",
        "Pendulum-v1",
        "--timesteps",
        "3000",
        "--eval-every",
        "64",
        "--eval-episodes",
        "1",
        "--out",
        str(tmp_path),
        "--no-progress-bar",
        "-p",
        "critic_learning_rate=1e8",
        "--seed",
        "0",
    )
    assert result.returncode == 3, result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("sb3-ddpg train: diverged at step ") and "model.zip not saved" in line
    assert " is nan" in line or " is inf" in line or "nan in actions" in line  # which quantity went first varies
    assert "Traceback" not in result.stderr and not (tmp_path / "model.zip").exists()
    # The evaluation at step 64 (after the first update, on finite weights) saved best_model.zip; the run diverges
    # right after (step 65 for seeds 0, 1 and 2): the last finite weights, named in the line.
    assert f"last finite checkpoint: {tmp_path / 'best_model.zip'}" in line
    assert np.isfinite(PaperDDPG.load(tmp_path / "best_model.zip").predict(np.zeros(3), deterministic=True)[0]).all()


NAN_ENV_MODULE = """
import gymnasium as gym
import numpy as np


class NaNObservations(gym.Wrapper):
    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs * np.nan, reward, terminated, truncated, info


gym.register("NaNObsPendulum-v0", entry_point=lambda **kw: NaNObservations(gym.make("Pendulum-v1", **kw)),
             max_episode_steps=200)
"""


def test_env_side_nan_is_caught_by_vec_check_nan(cli_run, tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "nanenvs.py").write_text(NAN_ENV_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))  # the user's own module, imported by the module:Env-v0 id
    try:
        result = cli_run(
            "train",
            "--env",
            "nanenvs:NaNObsPendulum-v0",
            "--timesteps",
            "100",
            "--out",
            str(tmp_path / "run"),
            "--no-progress-bar",
        )
    finally:
        gym.registry.pop("NaNObsPendulum-v0", None)
        sys.modules.pop("nanenvs", None)
    assert result.returncode == 3 and "Traceback" not in result.stderr, result.stderr
    assert "the environment gave nan in observations at step 0 (SB3's VecCheckNan)" in result.stderr
    assert not (tmp_path / "run" / "model.zip").exists()


def test_evaluate_takes_the_env_saved_with_the_model_and_refuses_other_shapes(cli_run, tmp_path: Path) -> None:
    PaperDDPG("MlpPolicy", "Pendulum-v1", buffer_size=100).save(tmp_path / "m.zip")
    result = cli_run("evaluate", str(tmp_path / "m.zip"), "--episodes", "1")
    assert result.returncode == 0 and result.stdout.startswith("Pendulum-v1, 1 episodes: mean"), result.stderr
    reseeded = cli_run("evaluate", str(tmp_path / "m.zip"), "--episodes", "1", "--seed", "7")
    assert reseeded.stdout.splitlines()[0] != result.stdout.splitlines()[0]  # --seed is not replaced by the training seed
    other = cli_run("evaluate", str(tmp_path / "m.zip"), "--env", "MountainCarContinuous-v0", "--episodes", "1")
    assert other.returncode == 2 and "Traceback" not in other.stderr
    assert "trained on Pendulum-v1 with observation shape (3,), but this env has (2,)" in other.stderr
    assert "--pixels" not in other.stderr  # the hint is for models trained on pixels only


@needs("box2d", "mujoco")
def test_evaluate_names_both_spaces_on_one_line(cli_run, tmp_path: Path) -> None:
    # Same shape, other bounds: numpy prints LunarLander's 8 bounds over several lines; the message kept the first.
    PaperDDPG("MlpPolicy", "LunarLanderContinuous-v3", buffer_size=100).save(tmp_path / "ll.zip")
    bounds = cli_run("evaluate", str(tmp_path / "ll.zip"), "--env", "Swimmer-v5", "--episodes", "1")
    assert bounds.returncode == 2 and len(bounds.stderr.strip().splitlines()) == 1, bounds.stderr
    assert "trained on LunarLanderContinuous-v3 with observation space Box([ -2.5 -2.5" in bounds.stderr
    assert bounds.stderr.strip().endswith("but this env has Box(-inf, inf, (8,), float64)")


@pytest.mark.parametrize("env", [[], ["--env", "Pendulum-v1"]], ids=["saved env", "--env"])
def test_evaluate_refuses_files_that_are_not_paper_ddpg_models(env: list[str], cli_run, tmp_path: Path) -> None:
    # Another algorithm's file is named as such first, whether or not --env is given (SB3's DDPG saves no env id).
    from stable_baselines3 import DDPG

    DDPG("MlpPolicy", "Pendulum-v1", buffer_size=100).save(tmp_path / "sb3.zip")
    (tmp_path / "notes.txt").write_text("hello")
    for path, message in (
        (tmp_path / "sb3.zip", "sb3.zip was not saved by PaperDDPG: it holds a stable_baselines3.td3.policies.TD3Policy"),
        (tmp_path / "notes.txt", "not a saved model"),
        (tmp_path, "is a folder: pass the model file in it"),
    ):
        result = cli_run("evaluate", str(path), *env)
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_evaluate_refuses_a_histogram_matplotlib_cannot_write_before_any_episode(cli, tmp_path: Path) -> None:
    # matplotlib picks the format from the extension (and adds .png to a name without one): checked before the
    # episodes run, not after them.
    model = str(tmp_path / "m.zip")
    PaperDDPG("MlpPolicy", "Pendulum-v1", buffer_size=100).save(model)
    for name, message in (
        ("out.txt", "matplotlib cannot write '.txt' files; give a name ending in .png, .pdf, .svg or another of"),
        ("out", "matplotlib cannot write a name without an extension; give a name ending in .png, .pdf, .svg"),
    ):
        path = tmp_path / name
        result = cli("evaluate", model, "--episodes", "2", "--histogram", str(path))
        assert_one_line_error(result, f"sb3-ddpg evaluate: error: --histogram {path}: {message}")
        assert result[1] == "" and not path.exists() and not path.with_suffix(".png").exists()
    code, out, err = cli("evaluate", model, "--episodes", "1", "--histogram", str(tmp_path / "h.PDF"))
    assert code == 0 and out.endswith(f"histogram: {tmp_path / 'h.PDF'}\n"), err
    assert (tmp_path / "h.PDF").read_bytes().startswith(b"%PDF")


def test_the_command_line_loads_torch_only_to_run_a_command() -> None:
    # --help and argument errors answer at once, and a Ctrl-C while torch and SB3 load is the command's own line
    # (they load inside cli.main's handlers); the package import itself is light.
    code = "import sys, sb3_ddpg_ext.cli; print(sorted({'torch', 'stable_baselines3', 'gymnasium'} & set(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"


def test_version_and_every_option_has_help_with_its_default(cli_run) -> None:
    assert cli_run("--version").stdout == f"sb3-ddpg {__version__}\n"
    assert __version__ == (REPO / "sb3_ddpg_ext" / "version.txt").read_text().strip()  # the imported code's version
    for command in ("train", "evaluate", "tune", "tune-report"):
        lines = cli_run(command, "--help").stdout.splitlines()
        options = [i for i, line in enumerate(lines) if re.match(r"^  -", line)]
        assert len(options) >= 4, command
        for i in options:  # its help on the same line (after 2+ spaces) or indented on the next one
            same_line = re.match(r"^  -\S+(?:, --\S+)?(?: \S+)*?\s{2,}\S", lines[i])
            next_line = i + 1 < len(lines) and re.match(r"^ {10,}\S", lines[i + 1])
            assert same_line or next_line, f"{command}: {lines[i]!r} has no help"
        text = "\n".join(lines)
        assert "--threads THREADS" in text and "(default: 1)" in text, command
    assert "(default: 5000)" in cli_run("train", "--help").stdout


@needs("robotics")
def test_cli_train_and_evaluate_fetch_with_success_rate(cli_run, tmp_path: Path) -> None:
    # -p batch_size=64: the preset's batch of 256 would need 256 steps before the first update
    args = [
        "--timesteps",
        "200",
        "--eval-every",
        "100",
        "--eval-episodes",
        "2",
        "--preset",
        "her-paper",
        "--her-n-goals",
        "2",
        "-p",
        "batch_size=64",
    ]
    run = cli_run("train", "--env", "FetchReach-v4", *args, "--out", str(tmp_path), "--no-progress-bar")
    assert run.returncode == 0, run.stderr
    assert "HER: {'goal_selection_strategy': 'future', 'n_sampled_goal': 2}" in run.stdout and "success rate" in run.stdout
    log = pd.read_csv(tmp_path / "evaluations.csv")
    assert list(log["timesteps"]) == [100, 200] and log["success_rate"].between(0, 1).all()
    assert (tmp_path / "vecnormalize.pkl").exists() and (tmp_path / "learning_curve.png").exists()
    evaluate = cli_run("evaluate", str(tmp_path / "model.zip"), "--env", "FetchReach-v4", "--episodes", "2")
    assert evaluate.returncode == 0, evaluate.stderr
    assert re.search(r"success rate \d\.\d\d", evaluate.stdout)


def test_fetch_id_without_the_robotics_extra_names_it(cli, monkeypatch, tmp_path: Path) -> None:
    # As if the extra were not installed: gymnasium_robotics cannot be imported, and no Fetch id is registered.
    monkeypatch.setitem(sys.modules, "gymnasium_robotics", None)
    for env_id in [k for k in gym.registry if k.startswith("Fetch")]:
        monkeypatch.delitem(gym.registry, env_id)
    result = cli("train", "--env", "FetchPush-v4", "--timesteps", "100", "--out", str(tmp_path / "run"))
    assert_one_line_error(result, "FetchPush-v4 needs gymnasium-robotics: pip install 'sb3-ddpg-ext[robotics]'")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "args, module, extra",
    [
        (("zoo", "train", "--env", "Pendulum-v1"), "rl_zoo3", "zoo"),
        (("tune", "--env", "Pendulum-v1"), "optuna", "tune"),
        (("tune-report", "--study-name", "s"), "optuna", "tune"),
    ],
)
def test_a_command_of_an_extra_not_installed_names_the_extra(args: tuple, module: str, extra: str, cli, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # as if the extra were not installed
    assert_one_line_error(cli(*args), f"this command needs the '{extra}' extra: pip install 'sb3-ddpg-ext[{extra}]'")


@pytest.mark.parametrize(
    "env_id, module, extra",
    [("HalfCheetah-v5", "mujoco", "mujoco"), ("LunarLanderContinuous-v3", "Box2D", "box2d")],
)
def test_an_env_of_an_extra_not_installed_names_the_extra(
    env_id: str, module: str, extra: str, cli, monkeypatch, tmp_path
) -> None:
    # As if the extra were not installed: its module cannot be imported, and gymnasium's env modules that import it
    # are imported afresh (an earlier test of this process may have imported them).
    monkeypatch.setitem(sys.modules, module, None)
    for name in [name for name in sys.modules if name.startswith(f"gymnasium.envs.{extra}")]:
        monkeypatch.delitem(sys.modules, name)
    result = cli("train", "--env", env_id, "--timesteps", "100", "--out", str(tmp_path / "run"))
    assert_one_line_error(result, f"cannot make {env_id}: ")
    assert f"Fix: pip install 'sb3-ddpg-ext[{extra}]'" in result[2] and not (tmp_path / "run").exists()
