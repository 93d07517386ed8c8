"""Every explicit option takes effect, or is refused in one line: on the command line (HER flags, -p values that
would have no effect together) and in PaperDDPG.load (the values it is asked to replace)."""

import re
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_one_line_error, needs
from stable_baselines3 import HerReplayBuffer
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.noise import NormalActionNoise, OrnsteinUhlenbeckActionNoise

from sb3_ddpg_ext import PaperDDPG
from sb3_ddpg_ext.paper_ddpg.buffers import Float32ReplayBuffer

TRAIN = ["train", "--timesteps", "100", "--eval-every", "1000", "--no-progress-bar"]


@pytest.mark.parametrize(
    "args, message",
    [
        (("-p", "action_noise=None"), "action_noise=None keeps the paper's OU noise (the default); for no exploration noise"),
        (("-p", "replay_buffer_class=HerReplayBuffer"), "HER needs a goal-conditioned env (Dict observations"),
        (("--her",), "HER needs a goal-conditioned env"),
        (("--her-strategy", "final"), "--her-strategy sets HER, which is off here (Pendulum-v1 has no goals): drop it"),
        (("--her-n-goals", "8"), "--her-n-goals sets HER, which is off here (Pendulum-v1 has no goals)"),
        (("--her-n-goals", "-2"), "argument --her-n-goals: must be >= 1, got -2"),
        (("-p", "ou_sigma=0.3", "-p", "action_noise=normal:0.1"), "ou_sigma=0.3 has no effect with action_noise=Normal"),
        (("-p", "ou_sigma_final=0.05", "-p", "action_noise=ou:0.3"), "ou_sigma_final=0.05 has no effect with action_noise"),
        (("-p", "ou_sigma=0", "-p", "ou_sigma_final=0.1"), "ou_sigma_final=0.1 has no effect with ou_sigma=0"),
        (("-p", "n_steps=3", "-p", "replay_buffer_class=ReplayBuffer"), "n_steps=3 has no effect with replay_buffer_class"),
        (("-p", "replay_buffer_kwargs=dict(handle_timeout=False)"), "ReplayBuffer takes no argument 'handle_timeout'; did"),
        (("--preset", "her-paper", "--no-her", "-p", "ou_sigma=0.3"), "ou_sigma=0.3 has no effect with action_noise=Normal"),
    ],
)
def test_cli_options_without_effect_are_refused(args: tuple, message: str, cli, capsys, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = cli(*TRAIN, "--env", "Pendulum-v1", "--out", str(out), *args)
    if "--her-n-goals" in args and "-2" in args:  # argparse: its usage line, then the error
        assert result[0] == 2 and "Traceback" not in result[2] and message in result[2].splitlines()[-1]
    else:
        assert_one_line_error(result, message)
    assert not out.exists()  # refused before the run folder or the model was made


@pytest.mark.parametrize(
    "args, message",
    [
        (("--no-her", "-p", "replay_buffer_class=HerReplayBuffer"), "--no-her contradicts -p replay_buffer_class=Her"),
        (("--her", "-p", "replay_buffer_class=ReplayBuffer"), "--her contradicts -p replay_buffer_class=ReplayBuffer"),
        (("--no-her", "--her-n-goals", "2"), "--her-n-goals sets HER, which is off here (--no-her): drop it"),
        (("--her-n-goals", "2", "-p", "replay_buffer_kwargs=dict(n_sampled_goal=4)"), "--her-n-goals 2 contradicts"),
    ],
)
@needs("robotics")
def test_cli_her_options_on_a_goal_env_take_effect_or_are_refused(args: tuple, message: str, cli, tmp_path: Path) -> None:
    assert_one_line_error(cli(*TRAIN, "--env", "FetchReach-v4", "--out", str(tmp_path / "run"), *args), message)


@needs("robotics")
def test_cli_her_flags_reach_the_buffer(cli, tmp_path: Path) -> None:
    code, out, err = cli(
        *TRAIN, "--env", "FetchReach-v4", "--out", str(tmp_path), "--her-strategy", "final", "--her-n-goals", "2"
    )
    assert code == 0, err
    assert "HER: {'goal_selection_strategy': 'final', 'n_sampled_goal': 2}" in out


@needs("robotics")
def test_cli_her_is_on_for_goal_envs_only(cli, tmp_path: Path) -> None:
    # HER on a goal env by default, off with --no-her; --her on Pendulum-v1 is refused (test_cli_options_without_effect...).
    common = ["--env", "FetchReach-v4", "--timesteps", "70", "--eval-every", "1000", "--no-progress-bar"]
    code, out, err = cli("train", *common, "--out", str(tmp_path / "a"))
    assert code == 0 and "HER:" in out, err
    assert isinstance(
        PaperDDPG.load(tmp_path / "a" / "model.zip", env=make_vec_env("FetchReach-v4")).replay_buffer, HerReplayBuffer
    )
    code, out, err = cli("train", *common, "--no-her", "--out", str(tmp_path / "b"))
    assert code == 0 and "HER:" not in out, err
    assert not isinstance(PaperDDPG.load(tmp_path / "b" / "model.zip").replay_buffer, HerReplayBuffer)


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    """A Pendulum-v1 model trained for 100 steps at the paper's defaults, saved."""
    path = tmp_path_factory.mktemp("load") / "model.zip"
    PaperDDPG("MlpPolicy", "Pendulum-v1", buffer_size=1000, seed=0).learn(100).save(path)
    return path


@pytest.mark.parametrize("how", ["custom_objects", "keyword"])
def test_load_replaces_the_actor_learning_rate(how: str, saved: Path) -> None:
    given = {"actor_learning_rate": 5e-4, "critic_learning_rate": 2e-3}
    env = make_vec_env("Pendulum-v1")
    model = PaperDDPG.load(saved, env=env, **({"custom_objects": given} if how == "custom_objects" else given))
    assert (model.lr_schedule(1.0), model.critic_lr_schedule(1.0)) == (5e-4, 2e-3)
    model.learn(70)
    assert model.actor.optimizer.param_groups[0]["lr"] == 5e-4 and model.critic.optimizer.param_groups[0]["lr"] == 2e-3


def test_load_rebuilds_what_the_constructor_derives(saved: Path) -> None:
    model = PaperDDPG.load(saved, custom_objects={"ou_sigma": 0.5}, critic_weight_decay=0.0)
    assert isinstance(model.action_noise, OrnsteinUhlenbeckActionNoise) and model.action_noise._sigma.tolist() == [0.5]
    assert model.critic.optimizer.param_groups[0]["weight_decay"] == 0.0  # the file's optimizer state held 1e-2
    assert PaperDDPG.load(saved, ou_sigma=0.0).action_noise is None


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(tua=0.1), "PaperDDPG.load: keyword 'tua' is unknown; did you mean 'tau'?"),
        (dict(custom_objects={"ou_sigm": 0.1}), "custom_objects 'ou_sigm' is not saved in this file, so it would be ignored"),
        (dict(tau=-1.0), "PaperDDPG.load: tau=-1.0 must be in (0, 1]"),
        (dict(buffer_size=0.5), "PaperDDPG.load: buffer_size=0.5 must be an integer"),
        (dict(critic_l2_on="all"), "critic_l2_on cannot change at load"),
        (dict(action_noise=NormalActionNoise(np.zeros(1), np.ones(1)), ou_sigma=0.3), "ou_sigma would have no effect"),
        (dict(actor_learning_rate=1e-3, learning_rate=2e-3), "gives both actor_learning_rate and learning_rate"),
    ],
)
def test_load_refuses_values_that_would_be_ignored_or_are_wrong(kwargs: dict, message: str, saved: Path) -> None:
    with pytest.raises((ValueError, TypeError), match=re.escape(message)) as error:
        PaperDDPG.load(saved, **kwargs)
    assert error.value.__cause__ is None and "sb3_ddpg_ext" in str(error.traceback[-1].path)


def test_load_keeps_sb3s_custom_objects_of_other_algorithms(saved: Path) -> None:
    # Tools pass every algorithm the same replacements (rl-zoo3's enjoy: clip_range, for PPO): nothing to replace here.
    assert PaperDDPG.load(saved, custom_objects={"clip_range": lambda _: 0.0}).num_timesteps == 100


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(action_noise=NormalActionNoise(np.zeros(1), np.ones(1)), ou_sigma_final=0.05), "ou_sigma_final=0.05 has no"),
        (dict(action_noise=NormalActionNoise(np.zeros(1), np.ones(1)), ou_theta=0.3), "ou_theta=0.3 has no effect"),
        (dict(n_steps=3, replay_buffer_class=Float32ReplayBuffer), "n_steps=3 has no effect with replay_buffer_class"),
        (dict(replay_buffer_class=HerReplayBuffer), "replay_buffer_class=HerReplayBuffer needs a goal-conditioned env"),
        (dict(replay_buffer_kwargs=dict(handle_timeout_terminations=False)), "did you mean 'handle_timeout_termination'"),
        (dict(optimize_memory_usage=True), "optimize_memory_usage=True needs replay_buffer_kwargs"),
        (dict(action_noise="normal:0.1"), "action_noise='normal:0.1' must be an SB3 ActionNoise"),
    ],
)
def test_constructor_refuses_options_that_would_have_no_effect(kwargs: dict, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=re.escape(message)) as error:
        PaperDDPG("MlpPolicy", "Pendulum-v1", buffer_size=1000, **kwargs)
    assert error.value.__cause__ is None and "sb3_ddpg_ext" in str(error.traceback[-1].path)


@pytest.mark.parametrize(
    "her_kwargs, message",
    [
        (dict(n_sampled_goal=-2), "n_sampled_goal=-2 must be an integer >= 1"),
        (dict(n_sampled_goal=0), "n_sampled_goal=0 must be an integer >= 1"),
        (dict(goal_selection_strategy="futur"), "goal_selection_strategy='futur' must be one of ('future', 'final', 'ep"),
    ],
)
@needs("robotics")
def test_her_settings_are_checked(her_kwargs: dict, message: str) -> None:
    import gymnasium as gym
    import gymnasium_robotics

    gym.register_envs(gymnasium_robotics)
    with pytest.raises(ValueError, match=re.escape(message)):
        PaperDDPG(
            "MultiInputPolicy",
            "FetchReach-v4",
            buffer_size=1000,
            replay_buffer_class=HerReplayBuffer,
            replay_buffer_kwargs=her_kwargs,
        )
