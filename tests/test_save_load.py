"""SB3-style save/load tests."""

import os
import stat

import numpy as np
import pytest
import torch as th
from stable_baselines3.common.env_util import make_vec_env

from sb3_ddpg_ext import PaperDDPG
from sb3_ddpg_ext.paper_ddpg.policies import PaperDDPGPolicy


@pytest.fixture
def trained() -> PaperDDPG:
    model = PaperDDPG("MlpPolicy", "Pendulum-v1", buffer_size=1000, seed=0, actor_learning_rate=5e-4, critic_weight_decay=0.05)
    model.learn(120)
    return model


def observations(n: int = 16) -> np.ndarray:
    return np.random.default_rng(0).uniform(-1, 1, size=(n, 3)).astype(np.float32)


def test_save_load_identical_predictions(trained: PaperDDPG, tmp_path) -> None:
    obs = observations()
    expected, _ = trained.predict(obs, deterministic=True)
    trained.save(tmp_path / "model.zip")
    loaded = PaperDDPG.load(tmp_path / "model.zip")
    actual, _ = loaded.predict(obs, deterministic=True)
    np.testing.assert_array_equal(actual, expected)
    assert type(loaded.policy) is PaperDDPGPolicy
    # Hyperparameters, optimizer state and target networks survive the round trip.
    assert (loaded.tau, loaded.batch_size, loaded.critic_weight_decay, loaded.ou_sigma) == (1e-3, 64, 0.05, 0.2)
    assert loaded.actor.optimizer.param_groups[0]["lr"] == 5e-4
    assert loaded.critic.optimizer.param_groups[0]["lr"] == 1e-3
    assert loaded.critic.optimizer.param_groups[0]["weight_decay"] == 0.05
    for a, b in zip(trained.critic.optimizer.state.values(), loaded.critic.optimizer.state.values(), strict=True):
        assert th.equal(a["exp_avg"], b["exp_avg"])
    for a, b in zip(trained.policy.state_dict().values(), loaded.policy.state_dict().values(), strict=True):
        assert th.equal(a, b)


def test_load_from_a_file_object(trained: PaperDDPG, tmp_path) -> None:
    # SB3's save and load take file objects: an in-memory buffer and an open file load, and stay open.
    import io

    expected, _ = trained.predict(observations(), deterministic=True)
    memory = io.BytesIO()
    trained.save(memory)
    memory.seek(0)
    trained.save(tmp_path / "model.zip")
    with (tmp_path / "model.zip").open("rb") as file:
        for source in (memory, file):
            np.testing.assert_array_equal(PaperDDPG.load(source).predict(observations(), deterministic=True)[0], expected)
            assert not source.closed


def test_float32_buffer_of_float64_observations_loads_back(tmp_path) -> None:
    # Float32ReplayBuffer keeps float64 observations as float32, bounds included: -0.1 is not a float32, and the
    # buffer's spaces must still match the model's.
    import gymnasium as gym

    from sb3_ddpg_ext.paper_ddpg.buffers import Float32ReplayBuffer

    env = gym.wrappers.DtypeObservation(gym.make("Pendulum-v1"), np.float64)
    env = gym.wrappers.RescaleObservation(env, np.float64(-0.1), np.float64(0.3))
    model = PaperDDPG("MlpPolicy", env, buffer_size=500, replay_buffer_class=Float32ReplayBuffer, seed=0)
    model.learn(80)
    model.save_replay_buffer(tmp_path / "buffer")
    model.load_replay_buffer(tmp_path / "buffer")
    assert model.replay_buffer.size() == 80 and model.replay_buffer.observations.dtype == np.float32


def test_load_and_continue_training(trained: PaperDDPG, tmp_path) -> None:
    trained.save(tmp_path / "model")
    trained.save_replay_buffer(tmp_path / "buffer")
    loaded = PaperDDPG.load(tmp_path / "model", env=make_vec_env("Pendulum-v1", n_envs=1, seed=2))
    loaded.load_replay_buffer(tmp_path / "buffer")
    assert loaded.replay_buffer.size() == trained.replay_buffer.size() == 120
    np.testing.assert_array_equal(loaded.replay_buffer.observations, trained.replay_buffer.observations)
    n_updates = loaded._n_updates
    loaded.learn(50, reset_num_timesteps=False)
    assert loaded._n_updates == n_updates + 50
    assert loaded.num_timesteps == 170


@pytest.mark.parametrize("n_envs", [1, 3])
def test_load_on_another_number_of_envs_and_continue(tmp_path, n_envs: int) -> None:
    # SB3's set_env refuses another n_envs and points to load(path, env); the saved OU noise, vectorized for the
    # 2 envs it was trained with, follows the new env's number (each process from its mean) instead of failing.
    from stable_baselines3.common.noise import OrnsteinUhlenbeckActionNoise, VectorizedActionNoise

    model = PaperDDPG("MlpPolicy", make_vec_env("Pendulum-v1", n_envs=2, seed=0), buffer_size=1000, batch_size=16)
    model.learn(40)
    assert isinstance(model.action_noise, VectorizedActionNoise) and model.action_noise.n_envs == 2
    model.save(tmp_path / "model")
    loaded = PaperDDPG.load(tmp_path / "model", env=make_vec_env("Pendulum-v1", n_envs=n_envs, seed=1))
    loaded.learn(30, reset_num_timesteps=False)
    assert loaded.num_timesteps == 70
    noises = loaded.action_noise.noises if n_envs > 1 else [loaded.action_noise]
    assert len(noises) == n_envs and all(isinstance(n, OrnsteinUhlenbeckActionNoise) for n in noises)
    assert loaded.replay_buffer.n_envs == n_envs


def test_policy_only_save_load(trained: PaperDDPG, tmp_path) -> None:
    obs = observations()
    trained.policy.save(tmp_path / "policy.pth")
    policy = PaperDDPGPolicy.load(tmp_path / "policy.pth")
    np.testing.assert_array_equal(policy.predict(obs, deterministic=True)[0], trained.predict(obs, deterministic=True)[0])
    assert policy.critic.q_net[0].in_features == 401 and policy.batch_norm


def test_get_set_parameters(trained: PaperDDPG) -> None:
    fresh = PaperDDPG("MlpPolicy", "Pendulum-v1", seed=1)
    params = trained.get_parameters()
    assert {"policy", "actor.optimizer", "critic.optimizer"} <= set(params)
    fresh.set_parameters(params)
    obs = observations()
    np.testing.assert_array_equal(fresh.predict(obs)[0], trained.predict(obs)[0])


def test_set_env(trained: PaperDDPG) -> None:
    trained.set_env(make_vec_env("Pendulum-v1", n_envs=1, seed=3))
    trained.learn(40, reset_num_timesteps=False)
    assert trained.num_timesteps == 160


@pytest.mark.parametrize("device", ["cpu", "auto", "cuda"])
def test_devices(device: str, tmp_path) -> None:
    if device == "cuda" and not th.cuda.is_available():
        pytest.skip("no CUDA device on this machine")
    model = PaperDDPG("MlpPolicy", "Pendulum-v1", device=device, buffer_size=500, seed=0)
    model.learn(80)
    model.save(tmp_path / "m")
    loaded = PaperDDPG.load(tmp_path / "m", device="cpu")
    assert loaded.device.type == "cpu"
    expected = "cuda" if device == "cuda" or (device == "auto" and th.cuda.is_available()) else "cpu"
    assert model.device.type == expected


def test_save_load_keeps_the_fidelity_and_bn_options(tmp_path) -> None:
    from sb3_contrib.common.torch_layers import BatchRenorm1d

    model = PaperDDPG(
        "MlpPolicy",
        "Pendulum-v1",
        buffer_size=500,
        seed=0,
        critic_l2_on="all",
        target_bn_stats="copy",
        bn_stats_for_y="running",
        bn_stats_for_policy_gradient="running",
        policy_kwargs=dict(critic_batch_norm=False, norm_layer="batch_renorm"),
    )
    model.learn(80)
    model.save(tmp_path / "m")
    loaded = PaperDDPG.load(tmp_path / "m")
    assert (loaded.critic_l2_on, loaded.target_bn_stats) == ("all", "copy")
    assert (loaded.bn_stats_for_y, loaded.bn_stats_for_policy_gradient) == ("running", "running")
    assert not loaded.actor_target.mu[0].training  # the targets normalize y's batch with running statistics
    assert len(loaded.critic.optimizer.param_groups) == 1  # one group: L2 on every critic parameter
    assert [type(m) for m in loaded.actor.mu if isinstance(m, BatchRenorm1d)] == 3 * [BatchRenorm1d]
    assert not any(isinstance(m, BatchRenorm1d) for m in loaded.critic.modules())
    default = PaperDDPG("MlpPolicy", "Pendulum-v1", buffer_size=500, seed=0)
    default.learn(70)
    default.save(tmp_path / "d")
    loaded = PaperDDPG.load(tmp_path / "d")
    assert [g["weight_decay"] for g in loaded.critic.optimizer.param_groups] == [1e-2, 0.0]
    assert (loaded.bn_stats_for_y, loaded.bn_stats_for_policy_gradient) == ("batch", "batch")
    assert loaded.actor_target.mu[0].training and not loaded.actor_target.mu[0].track_running_stats


def test_files_saved_by_0_1_0_load_as_they_were_trained() -> None:
    """tests/data/paper_ddpg_0.1.0_pendulum.zip: saved by release 0.1.0 (commit 7d5c965; net_arch [8, 8], 80 steps)."""
    from helpers import REPO

    old = PaperDDPG.load(REPO / "tests" / "data" / "paper_ddpg_0.1.0_pendulum.zip")
    assert (old.critic_l2_on, old.target_bn_stats) == ("all", "copy")  # the behaviour it was trained with
    assert (old.bn_stats_for_y, old.bn_stats_for_policy_gradient) == ("running", "running")
    assert not old.actor_target.mu[0].training
    assert [g["weight_decay"] for g in old.critic.optimizer.param_groups] == [1e-2]
    action, _ = old.predict(np.array([0.1, 0.2, 0.3], dtype=np.float32), deterministic=True)
    np.testing.assert_allclose(action, [0.0011785], atol=1e-6)  # printed by 0.1.0 when it saved the file
    old.set_env(make_vec_env("Pendulum-v1", n_envs=1, seed=0))
    old.learn(70, reset_num_timesteps=False)  # training continues with its saved optimizer state
    assert old._n_updates > 0


def test_files_saved_by_0_2_0_load_with_their_biases() -> None:
    """tests/data/paper_ddpg_0.2.0_pendulum.zip: saved by commit 30eb157 (0.2.0 defaults, which still kept a bias on the
    Linear layers that feed batch norm; net_arch [8, 8], 80 steps, seed 0)."""
    from helpers import REPO

    with pytest.warns(
        UserWarning, match=r"saved by sb3_ddpg_ext a version before 0\.3\.0.*policy_kwargs bias_before_norm=True"
    ):
        old = PaperDDPG.load(REPO / "tests" / "data" / "paper_ddpg_0.2.0_pendulum.zip")
    assert old.policy.bias_before_norm and old.critic.state_net[1].bias is not None
    assert (old.bn_stats_for_y, old.critic_l2_on) == ("batch", "weights")  # recorded in the file: not legacy
    action, _ = old.predict(np.array([0.5, -0.5, 0.25], dtype=np.float32), deterministic=True)
    np.testing.assert_allclose(action, [-0.00333834], atol=1e-6)  # printed by 30eb157 when it saved the file


def test_saved_files_record_the_version_and_load_without_warning(trained: PaperDDPG, tmp_path) -> None:
    import warnings

    from sb3_ddpg_ext import __version__ as PACKAGE_VERSION
    from sb3_ddpg_ext.paper_ddpg.save_util import VERSION_KEY

    trained.save(tmp_path / "model.zip")
    assert PaperDDPG.read_saved_data(tmp_path / "model.zip")[VERSION_KEY] == PACKAGE_VERSION
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = PaperDDPG.load(tmp_path / "model.zip")
    assert not loaded.policy.bias_before_norm and loaded.critic.state_net[1].bias is None
    explicit = PaperDDPG("MlpPolicy", "Pendulum-v1", buffer_size=100, policy_kwargs=dict(bias_before_norm=True))
    explicit.save(tmp_path / "explicit.zip")
    assert PaperDDPG.load(tmp_path / "explicit.zip").critic.state_net[1].bias is not None


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_saved_files_get_the_mode_of_the_users_umask(trained: PaperDDPG, tmp_path, umask: int, mode: int) -> None:
    # Saves are atomic (a temporary file renamed into place); the temporary file must not keep mkstemp's 0600, or
    # colleagues on a shared machine could not read a model saved under umask 022.
    old = os.umask(umask)
    try:
        trained.save(tmp_path / "model.zip")
        trained.save_replay_buffer(tmp_path / "buffer.pkl")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "model.zip").stat().st_mode) == mode
    assert stat.S_IMODE((tmp_path / "buffer.pkl").stat().st_mode) == mode


def test_readme_api_example_runs_as_written(tmp_path, monkeypatch) -> None:
    # The README's first example, to its last line: the env remade from the saved model is the one it trained on.
    import re

    from helpers import REPO

    block = re.search(r"<!-- api-example.*?-->\n```python\n(.*?)```", (REPO / "README.md").read_text(), re.S).group(1)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)
    assert namespace["env"].spec.id == "Pendulum-v1" and namespace["action"].shape == (1,)
    assert namespace["model"].num_timesteps == 3000 and (tmp_path / "paper_ddpg_pendulum.zip").exists()
