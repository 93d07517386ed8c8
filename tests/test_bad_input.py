"""Bad input: one clear error, at construction time, naming the problem and the fix."""

import re

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from helpers import needs
from stable_baselines3 import DDPG
from stable_baselines3.common.logger import configure
from stable_baselines3.common.noise import NormalActionNoise
from stable_baselines3.common.vec_env import DummyVecEnv

from sb3_ddpg_ext import PaperDDPG
from sb3_ddpg_ext.callbacks import StopTrainingOnDivergence, divergence_reason
from sb3_ddpg_ext.envs import make_vec_env
from sb3_ddpg_ext.errors import UserError
from sb3_ddpg_ext.models import build_model
from sb3_ddpg_ext.paper_ddpg.buffers import replay_buffer_nbytes
from sb3_ddpg_ext.params import parse_params, parse_value


class SpaceEnv(gym.Env):
    """An env with a given action space (only its spaces matter here)."""

    observation_space = spaces.Box(-1.0, 1.0, (3,), np.float32)

    def __init__(self, action_space: spaces.Space) -> None:
        self.action_space = action_space

    def reset(self, *, seed=None, options=None):
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, False, False, {}


@pytest.mark.parametrize(
    "action_space, message",
    [
        (spaces.Discrete(3), "continuous gymnasium.spaces.Box action space"),
        (spaces.MultiDiscrete([2, 3]), "continuous gymnasium.spaces.Box action space"),
        (spaces.Box(-np.inf, np.inf, (2,)), "finite action bounds.*gymnasium's ClipAction makes the bounds infinite"),
        (spaces.Box(np.array([-1.0, -np.inf]), np.array([1.0, 1.0])), "finite action bounds"),
        # Finite, but high - low overflows float32: the scaled actions would be NaN.
        (spaces.Box(-3e38, 3e38, (2,), np.float32), "finite action bounds whose range is finite"),
    ],
)
def test_bad_action_space(action_space: spaces.Space, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PaperDDPG("MlpPolicy", SpaceEnv(action_space))


class MatrixActionEnv(SpaceEnv):
    """Actions of shape (2, 2) in [-2, 2]: records the ones the env receives."""

    def __init__(self) -> None:
        super().__init__(spaces.Box(-2.0, 2.0, (2, 2), np.float32))
        self.received: list[np.ndarray] = []

    def step(self, action):
        self.received.append(np.array(action))
        return self.observation_space.sample(), -float(np.square(action).sum()), False, False, {}


@pytest.mark.parametrize("noise", [None, "ou:0.3", "normal:0.1"])
def test_action_spaces_of_more_than_one_dimension_get_noise_of_their_shape(noise: str | None) -> None:
    # SB3 acts in the action space's shape: the paper's OU noise (and the -p short forms) draw one process per entry.
    env = MatrixActionEnv()
    params = {"buffer_size": 100, "batch_size": 8, **({"action_noise": noise} if noise else {})}
    model = build_model(DummyVecEnv([lambda: env]), params, seed=0)
    assert model.action_noise._mu.shape == (2, 2)
    model.learn(30)
    assert len(env.received) == 30 and all(a.shape == (2, 2) and np.all(np.abs(a) <= 2) for a in env.received)
    assert np.all(np.stack(env.received).std(axis=0) > 0)  # noise on every entry
    wrong = NormalActionNoise(np.zeros(4), np.ones(4))
    with pytest.raises(ValueError, match=r"shape \(4,\) but the actions have \(2, 2\): build it with np\.zeros\(\(2, 2\)\)"):
        PaperDDPG("MlpPolicy", env, action_noise=wrong)


def test_set_env_checks_the_action_space() -> None:
    model = PaperDDPG("MlpPolicy", "Pendulum-v1")
    with pytest.raises(ValueError, match=r"continuous gymnasium\.spaces\.Box"):
        model.set_env(SpaceEnv(spaces.Discrete(2)))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(tau=0.0), r"tau=0.0 must be in \(0, 1\]"),
        (dict(tau=1.5), r"tau=1.5 must be in \(0, 1\]"),
        (dict(actor_learning_rate=0.0), "actor_learning_rate=0.0 must be > 0"),
        (dict(critic_learning_rate=-1e-3), "critic_learning_rate=-0.001 must be > 0"),
        (dict(actor_learning_rate=lambda _: -1.0), "actor_learning_rate=.* must be > 0"),
        (dict(ou_sigma=-0.2), "ou_sigma=-0.2 must be >= 0"),
        (dict(ou_theta=0.0), "ou_theta=0.0 must be in"),
        (dict(ou_sigma_final=-0.1), "ou_sigma_final=-0.1 must be >= 0"),
        (dict(batch_size=128, buffer_size=100), "batch_size=128 is larger than buffer_size=100"),
        (dict(critic_weight_decay=-0.01), "critic_weight_decay=-0.01 must be >= 0"),
        (dict(gamma=1.2), "gamma=1.2 must be in"),
    ],
)
def test_bad_hyperparameters(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PaperDDPG("MlpPolicy", "Pendulum-v1", **kwargs)


def test_bad_action_input_layer() -> None:
    with pytest.raises(ValueError, match="action_input_layer=5 is outside"):
        PaperDDPG("MlpPolicy", "Pendulum-v1", policy_kwargs=dict(action_input_layer=5))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(tau="0.005"), "tau='0.005' must be a number, got str"),
        (dict(buffer_size=1.5), "buffer_size=1.5 must be an integer"),
        (dict(actor_learning_rate=True), "actor_learning_rate=True must be a number or a schedule"),
    ],
)
def test_wrong_types_raise_type_error(kwargs: dict, message: str) -> None:
    with pytest.raises(TypeError, match=re.escape(message)):
        PaperDDPG("MlpPolicy", "Pendulum-v1", **kwargs)


@needs("box2d")
def test_replay_buffer_larger_than_memory_is_refused_before_allocation() -> None:
    """CarRacing-v3 (96x96x3 pixels) with the paper's 1e6 buffer: 51.5 GiB, refused with the estimate and the fix."""
    import psutil

    if psutil.virtual_memory().available > 50 * 2**30:
        pytest.skip("this machine has room for the buffer")
    with pytest.raises(
        MemoryError,
        match=r"buffer_size=1000000 needs 51\.5 GiB but .* lower buffer_size \(e\.g\. "
        r"buffer_size=\d+\), or optimize_memory_usage=True",
    ):
        PaperDDPG("CnnPolicy", "CarRacing-v3")


@pytest.mark.parametrize("optimize, n_envs", [(False, 1), (True, 1), (False, 3)])
def test_replay_buffer_estimate_matches_what_sb3_allocates(optimize: bool, n_envs: int) -> None:
    from stable_baselines3.common.buffers import ReplayBuffer

    obs, act = spaces.Box(0, 255, (3, 8, 8), np.uint8), spaces.Box(-1, 1, (2,), np.float32)
    buffer = ReplayBuffer(
        999, obs, act, n_envs=n_envs, optimize_memory_usage=optimize, handle_timeout_termination=not optimize
    )
    arrays = [buffer.observations, buffer.actions, buffer.rewards, buffer.dones, buffer.timeouts]
    allocated = sum(a.nbytes for a in arrays) + (0 if optimize else buffer.next_observations.nbytes)
    assert replay_buffer_nbytes(obs, act, 999, n_envs, optimize) == allocated


def test_load_refuses_another_algorithms_file(tmp_path) -> None:
    DDPG("MlpPolicy", "Pendulum-v1", buffer_size=100).save(tmp_path / "sb3_ddpg.zip")
    with pytest.raises(ValueError, match=r"was not saved by PaperDDPG: it holds a stable_baselines3\.td3\.policies"):
        PaperDDPG.load(tmp_path / "sb3_ddpg.zip")


def test_load_refuses_a_file_that_is_not_a_model(tmp_path) -> None:
    (tmp_path / "notes.zip").write_text("not a zip")
    with pytest.raises(ValueError, match="is not a saved model: not a zip file"):
        PaperDDPG.load(tmp_path / "notes.zip")


def test_load_calls_a_cut_short_or_corrupted_model_damaged(tmp_path) -> None:
    # A copy that did not finish, or a flipped byte in the weights: SB3 calls both "not a zip-file".
    PaperDDPG("MlpPolicy", "Pendulum-v1", buffer_size=100, seed=0).save(tmp_path / "m.zip")
    saved = (tmp_path / "m.zip").read_bytes()
    (tmp_path / "cut.zip").write_bytes(saved[: len(saved) // 2])
    with pytest.raises(ValueError, match=r"cut\.zip is damaged \(a zip file cut short\): a save or a copy that did not"):
        PaperDDPG.load(tmp_path / "cut.zip")
    flipped = bytearray(saved)
    flipped[len(saved) // 2] ^= 0xFF  # inside policy.pth, the largest entry
    (tmp_path / "flipped.zip").write_bytes(bytes(flipped))
    with pytest.raises(ValueError, match=r"flipped\.zip is damaged \(its entry 'policy\.pth' fails its checksum\)"):
        PaperDDPG.load(tmp_path / "flipped.zip")


def test_set_parameters_is_all_or_nothing_with_one_error(tmp_path) -> None:
    model = PaperDDPG("MlpPolicy", "Pendulum-v1", buffer_size=100, seed=0)
    before = {k: v.clone() for k, v in model.get_parameters()["policy"].items()}
    DDPG("MlpPolicy", "Pendulum-v1", buffer_size=100).save(tmp_path / "sb3_ddpg.zip")
    with pytest.raises(ValueError, match=r"sb3_ddpg\.zip was not saved by PaperDDPG: it holds a stable_baselines3"):
        model.set_parameters(str(tmp_path / "sb3_ddpg.zip"))
    small = PaperDDPG("MlpPolicy", "Pendulum-v1", buffer_size=100, seed=1, policy_kwargs={"net_arch": [32, 32]})
    # torch copies the entries that fit (the 3-wide batch-norm layers) before it raises: all are put back.
    for source in (small.get_parameters(), {"policy": {}}):
        with pytest.raises(ValueError, match=r"^PaperDDPG\.set_parameters: they do not fit this model's networks: ") as e:
            model.set_parameters(source)
        assert "\n" not in str(e.value)
        assert all(th.equal(before[k], v) for k, v in model.get_parameters()["policy"].items())
    other = PaperDDPG("MlpPolicy", "Pendulum-v1", buffer_size=100, seed=5)
    other.save(tmp_path / "other.zip")
    model.set_parameters(str(tmp_path / "other.zip"))  # a PaperDDPG file of the same networks: taken whole
    assert all(th.equal(other.policy.state_dict()[k], v) for k, v in model.policy.state_dict().items())


@needs("mujoco")
def test_load_names_both_shapes_when_the_env_differs(tmp_path) -> None:
    PaperDDPG("MlpPolicy", "Pendulum-v1", buffer_size=100).save(tmp_path / "m.zip")
    with pytest.raises(ValueError, match=r"trained on Pendulum-v1 with observation shape \(3,\), but this env has \(17,\)"):
        PaperDDPG.load(tmp_path / "m.zip", env=gym.make("HalfCheetah-v5"))
    assert PaperDDPG.load(tmp_path / "m.zip").env_id == "Pendulum-v1"  # the env id travels with the model


def test_stop_training_on_divergence_callback(nan_pendulum: str) -> None:
    model = PaperDDPG("MlpPolicy", nan_pendulum, buffer_size=1000, seed=0)
    callback = StopTrainingOnDivergence()
    model.learn(500, callback=callback)
    assert callback.diverged_at == 81 and callback.reason == "reward is nan"
    assert model.num_timesteps == 81  # stopped at once


@pytest.mark.parametrize(("value", "reason"), [(float("nan"), "q_net.0"), (float("inf"), "q_net.0"), (1e30, None)])
def test_divergence_reason_names_the_non_finite_weight(value: float, reason: str | None) -> None:
    model = PaperDDPG("MlpPolicy", "Pendulum-v1", buffer_size=100, seed=0)
    model.set_logger(configure(None, []))
    assert divergence_reason(model) is None
    with th.no_grad():
        model.critic.q_net[0].weight[3, 1] = value  # 1e30 is finite, though its square overflows a fused norm
    assert divergence_reason(model) == (reason and f"non-finite weights in critic.{reason}.weight")


@pytest.mark.parametrize(
    "text, value",
    [
        ("1e-4", 1e-4),
        ("1e6", 1e6),
        ("True", True),
        ("false", False),
        ("None", None),
        ("null", None),
        ("[400, 300]", [400, 300]),
        ("(1, 'episode')", (1, "episode")),
        ("{'a': 1}", {"a": 1}),
        ("dict(net_arch=[400, 300], batch_norm=False)", {"net_arch": [400, 300], "batch_norm": False}),
        ("dict(net_arch=dict(pi=[64], qf=[64]))", {"net_arch": {"pi": [64], "qf": [64]}}),
        ("weights", "weights"),
        ("__import__('os').system('true')", "__import__('os').system('true')"),  # read as text, never run
        ("[1, episode]", [1, "episode"]),
    ],
)
def test_command_line_values(text: str, value) -> None:
    assert parse_value(text) == value


@pytest.mark.parametrize(
    "pair, message",
    [
        ("tau=abc", "tau='abc' is a str; expected float"),
        ("batch_size=64.5", "batch_size=64.5 is a float; expected int"),
        ("policy_kwargs=[1]", "policy_kwargs=[1] is a list; expected a dict or None"),
        ("train_freq=(1, 2)", "train_freq=(1, 2) is a tuple; expected int or a tuple (int, str)"),
        ("action_noise=gauss:0.1", "use normal:SIGMA or ou:SIGMA"),
        ("replay_buffer_class=MyBuffer", "replay_buffer_class='MyBuffer' is not one of ReplayBuffer, DictReplayBuffer"),
        ("actor_learning_rate=lin_x", "write lin_X with a number X"),
    ],
)
def test_wrong_command_line_values(pair: str, message: str) -> None:
    with pytest.raises(UserError, match=re.escape(message)):
        parse_params([pair])


def test_short_forms_build_the_objects() -> None:
    params = parse_params(
        ["action_noise=normal:0.1", "replay_buffer_class=ReplayBuffer", "buffer_size=1e3", "critic_learning_rate=lin_1e-3"]
    )
    assert params["buffer_size"] == 1000 and isinstance(params["buffer_size"], int)
    model = build_model(make_vec_env("Pendulum-v1"), params)
    assert isinstance(model.action_noise, NormalActionNoise) and model.action_noise._sigma.tolist() == [0.1]
    assert model.critic_lr_schedule(0.5) == pytest.approx(5e-4)
