"""SB3-style run tests: every policy alias, VecEnvs, callbacks, progress bar and TensorBoard logging."""

import numpy as np
import pytest
from helpers import env_param
from stable_baselines3.common.callbacks import CheckpointCallback, EvalCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import FakeImageEnv, SimpleMultiObsEnv
from stable_baselines3.common.noise import NormalActionNoise
from stable_baselines3.common.vec_env import SubprocVecEnv, VecNormalize

from sb3_ddpg_ext import MlpPolicy, PaperDDPG
from sb3_ddpg_ext.paper_ddpg.policies import PaperDDPGPolicy


def test_policy_aliases() -> None:
    assert PaperDDPG.policy_aliases["MlpPolicy"] is MlpPolicy is PaperDDPGPolicy
    model = PaperDDPG("MlpPolicy", "Pendulum-v1")
    assert type(model.policy) is PaperDDPGPolicy


@pytest.mark.parametrize(
    "env_id", map(env_param, ["Pendulum-v1", "MountainCarContinuous-v0", "LunarLanderContinuous-v3", "InvertedPendulum-v5"])
)
def test_run(env_id: str) -> None:
    model = PaperDDPG("MlpPolicy", env_id, buffer_size=1000, seed=0)
    model.learn(150)
    assert model._n_updates == 150 - 63


def test_run_cnn_policy() -> None:
    model = PaperDDPG(
        "CnnPolicy", FakeImageEnv(discrete=False, screen_height=36, screen_width=36), buffer_size=200, batch_size=16
    )
    model.learn(40)
    assert model._n_updates > 0


def test_run_multi_input_policy() -> None:
    env = SimpleMultiObsEnv(random_start=False, discrete_actions=False)
    model = PaperDDPG("MultiInputPolicy", env, buffer_size=200, batch_size=16, seed=0)
    model.learn(40)
    obs, _ = env.reset()
    action, _ = model.predict(obs, deterministic=True)
    assert env.action_space.contains(action)


@pytest.mark.parametrize("n_envs", [2, 4])
def test_vec_envs(n_envs: int) -> None:
    env = make_vec_env("Pendulum-v1", n_envs=n_envs, seed=0)
    model = PaperDDPG("MlpPolicy", env, buffer_size=1000, seed=0)
    model.learn(200)
    assert model.num_timesteps == 200
    assert len(model.action_noise.noises) == n_envs
    actions, _ = model.predict(env.reset(), deterministic=True)
    assert actions.shape == (n_envs, 1)


def test_subproc_vec_env_and_vec_normalize() -> None:
    env = VecNormalize(make_vec_env("Pendulum-v1", n_envs=2, vec_env_cls=SubprocVecEnv, seed=0))
    try:
        model = PaperDDPG("MlpPolicy", env, buffer_size=500, seed=0)
        model.learn(100)
        assert model.num_timesteps == 100 and model._n_updates == 50 - 31  # 2 envs: a batch of 64 after 32 steps
        assert env.obs_rms.count > 100  # VecNormalize saw every observation of both subprocesses
        assert model._vec_normalize_env is env  # and the replay samples are normalized with it
    finally:
        env.close()


@pytest.mark.parametrize(
    "train_freq, gradient_steps, n_updates",
    [
        ((1, "episode"), -1, 400),  # two 200-step episodes, as many updates as steps
        (4, 2, 2 * ((400 - 64) // 4 + 1)),  # 2 updates every 4 steps, from the step that completes a batch of 64
    ],
)
def test_train_frequencies(train_freq, gradient_steps, n_updates: int, pendulum) -> None:
    model = pendulum(train_freq=train_freq, gradient_steps=gradient_steps)
    model.learn(400)
    assert model._n_updates == n_updates


def test_explicit_noise_and_options() -> None:
    noise = NormalActionNoise(np.zeros(1), 0.1 * np.ones(1))
    model = PaperDDPG(
        "MlpPolicy",
        "Pendulum-v1",
        action_noise=noise,
        n_steps=3,
        learning_starts=70,
        policy_kwargs=dict(batch_norm=False, action_input_layer=0, net_arch=[32, 32]),
        seed=0,
    )
    model.learn(100)
    assert model.critic.q_net[0].in_features == 3 + 1  # action at the critic's input (SB3/TD3 style)
    # Every other option took effect: the given noise (not OU), 3-step returns, 70 random steps, no batch norm, 32 units.
    from stable_baselines3.common.buffers import NStepReplayBuffer
    from torch import nn

    assert model.action_noise is noise
    assert isinstance(model.replay_buffer, NStepReplayBuffer) and model.replay_buffer.n_steps == 3
    assert model._n_updates == 100 - 70  # updates start after learning_starts (a batch of 64 is stored by then)
    assert not any(isinstance(m, nn.BatchNorm1d) for m in model.policy.modules())
    assert [m.out_features for m in model.actor.mu if isinstance(m, nn.Linear)] == [32, 32, 1]


def test_callbacks_progress_bar_and_tensorboard(tmp_path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    eval_env = make_vec_env("Pendulum-v1", n_envs=1, seed=1)
    callbacks = [
        CheckpointCallback(save_freq=50, save_path=str(tmp_path / "ckpt"), name_prefix="paper_ddpg"),
        EvalCallback(eval_env, eval_freq=100, n_eval_episodes=1, log_path=str(tmp_path / "eval")),
    ]
    model = PaperDDPG("MlpPolicy", "Pendulum-v1", tensorboard_log=str(tmp_path / "tb"), seed=0)
    model.learn(400, callback=callbacks, progress_bar=True, log_interval=1)
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir())[0].startswith("paper_ddpg_")
    assert (tmp_path / "eval" / "evaluations.npz").exists()
    run_dir = next((tmp_path / "tb").iterdir())
    assert run_dir.name.startswith("PaperDDPG_")
    events = EventAccumulator(str(run_dir))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    expected = {
        "train/critic_loss",
        "train/actor_loss",
        "train/q_mean",
        "train/actor_learning_rate",
        "train/critic_learning_rate",
    }
    assert expected <= tags
    assert {"rollout/ep_rew_mean", "eval/mean_reward"} <= tags
    q_mean = [e.value for e in events.Scalars("train/q_mean")]
    assert all(np.isfinite(q_mean)) and len(q_mean) >= 1


def test_predict_shapes_and_bounds() -> None:
    model = PaperDDPG("MlpPolicy", "MountainCarContinuous-v0", seed=0)
    obs = model.observation_space.sample()
    action, state = model.predict(obs, deterministic=True)
    assert action.shape == (1,) and state is None
    batch, _ = model.predict(np.stack([obs] * 5))
    assert batch.shape == (5, 1)
    assert np.all(np.abs(batch) <= 1.0)
