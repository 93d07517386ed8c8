"""A run in which no gradient step can happen is refused before anything is built, naming the setting, or reported as
an error at its end; values SB3 would silently reinterpret are refused. Through the command and the Python API."""

import re
import warnings
from pathlib import Path

import pytest
from helpers import assert_one_line_error

from sb3_ddpg_ext import PaperDDPG
from sb3_ddpg_ext.paper_ddpg.budget import NoGradientStep

TRAIN = ["train", "--env", "Pendulum-v1", "--eval-every", "1000", "--no-progress-bar"]


@pytest.mark.parametrize(
    "args, message",
    [
        (("--timesteps", "100", "-p", "learning_starts=100"), "learning_starts=100 >= --timesteps=100: no gradient step"),
        (("--timesteps", "50"), "batch_size=64 > the 50 transitions stored by --timesteps=50: no gradient step"),
        (("--timesteps", "10", "--pixels"), "batch_size=16 > the 10 transitions stored by --timesteps=10"),
        (("--timesteps", "6", "--n-envs", "4", "-p", "learning_starts=8"), "learning_starts=8 >= --timesteps=6"),
        (("--timesteps", "100", "-p", "gradient_steps=0"), "gradient_steps=0 makes no gradient step: use 1"),
        (("--timesteps", "100", "-p", "gradient_steps=-2"), "gradient_steps=-2 must be >= 1, or -1 (SB3 would read"),
        (("--timesteps", "100", "-p", "n_steps=0"), "n_steps=0 must be >= 1"),
        (("--timesteps", "100", "-p", "train_freq=0"), "train_freq=0 must be >= 1 (SB3 would never collect a step)"),
        (("--timesteps", "100", "-p", "train_freq=(1, 'epsiode')"), "train_freq unit 'epsiode' must be 'step' or 'episode'"),
    ],
)
def test_cli_refuses_a_run_that_cannot_learn_before_anything_is_built(args: tuple, message: str, cli, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert_one_line_error(cli(*TRAIN, "--out", str(out), *args), message)
    assert not out.exists()  # refused before the run folder (or any env) was made


def test_cli_refusal_keeps_the_run_it_would_overwrite(cli, tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "model.zip").write_bytes(b"the previous run")
    assert_one_line_error(cli(*TRAIN, "--timesteps", "30", "--out", str(out), "--overwrite"), "batch_size=64 > the 30")
    assert (out / "model.zip").read_bytes() == b"the previous run"


def test_cli_reports_a_run_that_made_no_gradient_step_as_an_error_at_its_end(cli, tmp_path: Path) -> None:
    # An episode-based train_freq: how many steps the run takes depends on the episodes, so it is known at the end.
    # Pendulum's episodes are 200 steps: learn(100) ends after one, and 200 steps never pass learning_starts=300.
    out = tmp_path / "run"
    result = cli(
        *TRAIN, "--timesteps", "100", "--out", str(out), "-p", "train_freq=(1, 'episode')", "-p", "learning_starts=300"
    )
    assert_one_line_error(result, "no gradient step in 200 steps (train_freq=1 episode(s), learning_starts=300")
    assert not (out / "model.zip").exists()  # an untrained agent is not saved as the result


def test_run_layer_reports_another_algorithm_that_made_no_gradient_step(tmp_path: Path) -> None:
    # SB3's own DDPG (the benchmarks' zoo-ddpg, through make_model) says nothing when learning_starts outlasts the run.
    from stable_baselines3 import DDPG

    from sb3_ddpg_ext.errors import UserError
    from sb3_ddpg_ext.run import RunConfig, train

    config = RunConfig("Pendulum-v1", 300, eval_every=300, eval_episodes=1)
    with pytest.raises(UserError, match=r"DDPG took no gradient step in 300 steps \(learning_starts 1000\): raise the"):
        train(config, tmp_path, make_model=lambda env: DDPG("MlpPolicy", env, learning_starts=1000, buffer_size=1000))
    assert train(config, tmp_path, make_model=lambda env: DDPG("MlpPolicy", env, learning_starts=100)).model._n_updates > 0


@pytest.mark.parametrize("total", [0, -5])
def test_learn_refuses_no_timesteps(total: int, pendulum) -> None:
    model = pendulum()
    with pytest.raises(ValueError, match=rf"^PaperDDPG.learn: total_timesteps={total} must be >= 1") as error:
        model.learn(total)
    assert error.value.__cause__ is None and model.num_timesteps == 0


def test_learn_takes_integral_floats_and_refuses_fractions(pendulum) -> None:
    assert pendulum().learn(1e2).num_timesteps == 100
    with pytest.raises(TypeError, match=r"^PaperDDPG.learn: total_timesteps=100.5 must be an integer$"):
        pendulum().learn(100.5)


def test_learn_refuses_a_run_that_cannot_pass_learning_starts(pendulum) -> None:
    model = pendulum(learning_starts=200)
    with pytest.raises(ValueError, match=re.escape("learning_starts=200 >= total_timesteps=100: no gradient step can")):
        model.learn(100)
    assert model.num_timesteps == 0  # refused before a step was taken
    model.learn(100, reset_num_timesteps=False)  # a continued run is the caller's to split: not checked
    model.learn(150, reset_num_timesteps=False)
    assert model._n_updates == 50


def test_learn_warns_when_it_stores_less_than_a_batch_and_the_next_call_goes_on(pendulum) -> None:
    model = pendulum()
    with pytest.warns(NoGradientStep, match=re.escape("batch_size=64 > the 50 transitions stored by total_timesteps=50")):
        model.learn(50)
    with warnings.catch_warnings():
        warnings.simplefilter("error", NoGradientStep)
        model.learn(20)  # the 50 stored transitions are kept: this call updates from its 14th step, and does not warn
    assert model.replay_buffer.size() == 70 and model._n_updates == 7


def test_the_budget_counts_whole_rollouts(pendulum) -> None:
    # SB3 collects rollouts of train_freq steps whole: learn(300) with train_freq=400 takes 400 steps, then updates.
    assert pendulum(train_freq=400).learn(300)._n_updates == 1


def test_learn_warns_at_the_end_when_an_episode_based_run_made_no_gradient_step(pendulum) -> None:
    model = pendulum(train_freq=(1, "episode"), learning_starts=300)
    with pytest.warns(NoGradientStep, match=re.escape("no gradient step in 200 steps (train_freq=1 episode(s)")):
        model.learn(100)
    assert model._n_updates == 0


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(gradient_steps=0), ValueError, "gradient_steps=0 makes no gradient step"),
        (dict(gradient_steps=-3), ValueError, "gradient_steps=-3 must be >= 1, or -1"),
        (dict(gradient_steps=2.5), TypeError, "gradient_steps=2.5 must be an integer"),
        (dict(n_steps=0), ValueError, "n_steps=0 must be >= 1"),
        (dict(n_steps=-1), ValueError, "n_steps=-1 must be >= 1"),
        (dict(train_freq=0), ValueError, "train_freq=0 must be >= 1"),
        (dict(train_freq=(0, "episode")), ValueError, "train_freq=0 must be >= 1"),
        (dict(train_freq=(1, "epsiode")), ValueError, "train_freq unit 'epsiode' must be 'step' or 'episode'"),
        (dict(train_freq="1"), TypeError, "train_freq='1' must be an integer >= 1 or a tuple"),
    ],
)
def test_settings_sb3_would_reinterpret_are_refused(kwargs: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=re.escape(f"PaperDDPG: {message}")) as raised:
        PaperDDPG("MlpPolicy", "Pendulum-v1", **kwargs)
    assert raised.value.__cause__ is None and "sb3_ddpg_ext" in str(raised.traceback[-1].path)
