"""Goal-conditioned robotics through the Python API (the ``robotics`` extra): the HER paper's preset on the Fetch
tasks, their registration, the README's HER example, the mujoco pin they need, and a FetchReach learning check. The
preset's two PaperDDPG options are in test_her_paper_options.py; the CLI, zoo and tuning on Fetch are with their
commands (test_cli.py, test_options_take_effect.py, test_zoo.py, test_tuning.py)."""

import re
from pathlib import Path

import gymnasium as gym
import pytest
import torch as th
from helpers import REPO, needs
from stable_baselines3 import HerReplayBuffer
from stable_baselines3.common.env_util import make_vec_env

from sb3_ddpg_ext import PaperDDPG
from sb3_ddpg_ext.envs import check_env_id, is_goal_env
from sb3_ddpg_ext.models import evaluate_episodes
from sb3_ddpg_ext.paper_ddpg.budget import NoGradientStep
from sb3_ddpg_ext.presets import HER_PAPER, her_paper, her_paper_env

pytestmark = needs("robotics")


@pytest.fixture(autouse=True, scope="module")
def fetch_tasks_registered() -> None:
    """As the README asks of a user: gymnasium-robotics imported and its envs registered, before make_vec_env."""
    import gymnasium_robotics

    gym.register_envs(gymnasium_robotics)


def test_her_paper_preset_builds_the_her_papers_ddpg() -> None:
    env = her_paper_env(make_vec_env("FetchPush-v4", seed=0))
    model = PaperDDPG("MultiInputPolicy", env, **her_paper(env, buffer_size=1000))
    assert is_goal_env(env) and isinstance(model.replay_buffer, HerReplayBuffer)
    assert model.replay_buffer.n_sampled_goal == 4 and model.replay_buffer.goal_selection_strategy.name == "FUTURE"
    assert (model.tau, model.gamma, model.batch_size, model.actor_action_l2, model.random_action_eps) == (
        0.05,
        0.98,
        256,
        1.0,
        0.3,
    )
    assert model.actor.optimizer.param_groups[0]["lr"] == model.critic.optimizer.param_groups[0]["lr"] == 1e-3
    assert all(g["weight_decay"] == 0.0 for g in model.critic.optimizer.param_groups)
    assert [m.out_features for m in model.actor.modules() if isinstance(m, th.nn.Linear)] == [256, 256, 256, 4]
    assert not any(isinstance(m, th.nn.BatchNorm1d) for m in model.policy.modules())
    assert model.action_noise._sigma.tolist() == [0.2] * 4 and env.norm_obs and not env.norm_reward
    assert HER_PAPER["replay_buffer_kwargs"] == {"goal_selection_strategy": "future", "n_sampled_goal": 4}


@pytest.mark.parametrize("n_envs", [1, 2])
def test_her_updates_start_once_an_episode_has_ended(n_envs: int) -> None:
    # The paper's learning_starts=0 with a batch smaller than an episode (FetchReach: 50 steps): HER can relabel
    # finished episodes only, so the first update waits for the first episode's end instead of failing in SB3.
    env = make_vec_env("FetchReach-v4", n_envs=n_envs, seed=0)
    model = PaperDDPG("MultiInputPolicy", env, replay_buffer_class=HerReplayBuffer, batch_size=32, buffer_size=1000)
    model.learn(120)
    assert model._n_updates == 120 // n_envs - 50 + 1  # one per vectorised step from the step that ended episode 1
    with pytest.warns(NoGradientStep, match="with HER, once an episode has ended"):
        PaperDDPG("MultiInputPolicy", env, replay_buffer_class=HerReplayBuffer, batch_size=32).learn(40)


def test_a_her_model_loads_with_its_env_only(tmp_path: Path) -> None:
    env = make_vec_env("FetchReach-v4", seed=0)
    PaperDDPG("MultiInputPolicy", env, replay_buffer_class=HerReplayBuffer, buffer_size=200).save(tmp_path / "her.zip")
    with pytest.raises(ValueError, match=r"trained with HerReplayBuffer, which needs its env to relabel goals: pass env=$"):
        PaperDDPG.load(tmp_path / "her.zip")
    assert isinstance(PaperDDPG.load(tmp_path / "her.zip", env=env).replay_buffer, HerReplayBuffer)


def test_fetch_ids_register_gymnasium_robotics() -> None:
    assert check_env_id("FetchSlide-v4").id == "FetchSlide-v4"  # the import registered the Fetch tasks


def test_readme_her_example_runs_as_written(tmp_path: Path, monkeypatch) -> None:
    readme = (REPO / "README.md").read_text()
    block = re.search(r"<!-- her-example.*?-->\n```python\n(.*?)```", readme, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)
    assert namespace["action"].shape == (1, 4) and isinstance(namespace["model"].replay_buffer, HerReplayBuffer)
    assert (tmp_path / "paper_ddpg_fetchreach.zip").exists()


def test_robotics_extra_pins_a_mujoco_that_builds_fetch() -> None:
    import gymnasium as gym
    import mujoco

    lines = (REPO / "constraints.txt").read_text().splitlines()
    pins = dict(line.split("==") for line in lines if "==" in line and not line.startswith("#"))
    assert pins["mujoco"] == mujoco.__version__ and "mujoco-core" not in pins
    env = gym.make("FetchPickAndPlace-v4")  # gymnasium-robotics' set_joint_qpos fails to build it from mujoco 3.12 on
    obs, _ = env.reset(seed=0)
    assert obs["observation"].shape == (25,)


def test_fetchreach_succeeds_with_the_her_paper_preset() -> None:
    """HER paper preset, 1500 steps (600 updates): seeds 0, 1 and 2 each succeeded in 10 of 10 deterministic
    episodes by 1000 steps (docs/results.md)."""
    env = her_paper_env(make_vec_env("FetchReach-v4", seed=0))
    model = PaperDDPG("MultiInputPolicy", env, seed=0, **her_paper(env))
    model.learn(1500)
    eval_env = her_paper_env(make_vec_env("FetchReach-v4", seed=10_000), training=False)
    eval_env.obs_rms = env.obs_rms
    assert evaluate_episodes(model, eval_env, 20).success_rate >= 0.9


def test_a_her_checkpoint_saves_the_rows_written_and_loads_back_the_whole_buffer(tmp_path: Path) -> None:
    # HER's buffer: Dict observations, episode bounds and infos, 1e6 transitions allocated (about 300 MB pickled whole).
    # Saved with its 130 written rows only; loaded, every array and info is SB3's as before, and sampling goes on.
    import pickle

    import numpy as np

    from sb3_ddpg_ext.checkpoint import save_replay_buffer_rows

    def model(seed: int) -> PaperDDPG:
        env = make_vec_env("FetchReach-v4", n_envs=2, seed=seed)
        return PaperDDPG("MultiInputPolicy", env, replay_buffer_class=HerReplayBuffer, batch_size=32, seed=seed)

    trained = model(0).learn(260)  # 2 envs: 130 rows, episodes of 50 (one unfinished in each env)
    save_replay_buffer_rows(trained, tmp_path / "buffer.pkl")
    assert (tmp_path / "buffer.pkl").stat().st_size < 1_000_000
    loaded = model(1)
    loaded.load_replay_buffer(tmp_path / "buffer.pkl", truncate_last_traj=False)
    before, after = trained.replay_buffer, loaded.replay_buffer
    assert type(after) is HerReplayBuffer and after.pos == before.pos == 130 and after.buffer_size == 500_000
    for name in ("observations", "next_observations"):
        for key, array in getattr(before, name).items():
            np.testing.assert_array_equal(getattr(after, name)[key], array)
    for name in ("actions", "rewards", "dones", "timeouts", "ep_start", "ep_length"):
        np.testing.assert_array_equal(getattr(after, name), getattr(before, name))
    assert after.infos.shape == before.infos.shape and pickle.dumps(after.infos) == pickle.dumps(before.infos)
    assert after.infos[500, 0] == {} and after.infos[500, 0] is not after.infos[501, 0]  # as SB3 allocates them
    np.testing.assert_array_equal(after._current_ep_start, before._current_ep_start)
    loaded.learn(60, reset_num_timesteps=False)  # samples and fills as before
