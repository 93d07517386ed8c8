"""Pixels, Lillicrap et al. (2015), sections 4 and 7: each test inspects the built env or model, not the source.

Renders downsampled to 64x64, the 3 renderings of one agent step stacked (9 channels), action repeat 3, [0, 1] at the
network; 3 conv layers of 32 filters without pooling, 200-200 fully connected, final init 3e-4, batch 16, no BN.
"""

import math
import sys
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from helpers import assert_one_line_error, assert_uniform, linears, needs
from torch import nn

from sb3_ddpg_ext import PaperDDPG
from sb3_ddpg_ext.envs import make_pixel_env, pixel_wrapper
from sb3_ddpg_ext.errors import UserError
from sb3_ddpg_ext.paper_ddpg.policies import CnnPolicy, PaperCNN, norm_layers

IMAGE = spaces.Box(0, 255, (9, 64, 64), dtype=np.uint8)
ACTION = spaces.Box(-2.0, 2.0, (1,), dtype=np.float32)


class CountingEnv(gym.Env):
    """Counts simulator steps; each render is a flat 64x64 frame whose value is the step count; reward 1 per step."""

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, terminate_at: int = 1000, render_mode: str | None = "rgb_array") -> None:
        self.observation_space = spaces.Box(-1.0, 1.0, (1,), dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (1,), dtype=np.float32)
        self.render_mode = render_mode
        self.terminate_at = terminate_at
        self.steps = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.steps = 0
        return np.zeros(1, np.float32), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        self.steps += 1
        return np.zeros(1, np.float32), 1.0, self.steps >= self.terminate_at, False, {}

    def render(self) -> np.ndarray:
        return np.full((64, 64, 3), self.steps, dtype=np.uint8)


def frame_values(obs: np.ndarray) -> list[int]:
    """The step count rendered in each of the stacked frames (channels 0-2, 3-5, 6-8)."""
    return [int(obs[3 * k : 3 * k + 3].mean()) for k in range(obs.shape[0] // 3)]


def test_action_repeat_3_stacks_the_3_renderings_of_one_agent_step() -> None:
    env = pixel_wrapper(CountingEnv())
    obs, _ = env.reset()
    assert obs.shape == (9, 64, 64) and obs.dtype == np.uint8
    assert frame_values(obs) == [0, 0, 0]  # the reset render fills the stack
    for agent_step in range(1, 4):
        obs, reward, terminated, truncated, _ = env.step(np.zeros(1, np.float32))
        assert env.unwrapped.steps == 3 * agent_step  # 3 simulator steps per agent step
        assert frame_values(obs) == [3 * agent_step - 2, 3 * agent_step - 1, 3 * agent_step]
        assert reward == 3.0  # rewards summed over the repeat
        assert not (terminated or truncated)


def test_episode_ends_inside_the_repeat() -> None:
    env = pixel_wrapper(CountingEnv(terminate_at=5))
    env.reset()
    env.step(np.zeros(1, np.float32))
    _, reward, terminated, _, _ = env.step(np.zeros(1, np.float32))
    assert terminated and reward == 2.0 and env.unwrapped.steps == 5  # sub-steps 4 and 5, then stop


@needs("pixels")
def test_pendulum_pixels_at_the_env_and_at_the_network() -> None:
    """Pendulum-v1: uint8 (9, 64, 64) at the env and in the replay buffer, float in [0, 1] at the first conv layer."""
    env = make_pixel_env("Pendulum-v1", seed=0)
    assert env.observation_space == IMAGE
    model = PaperDDPG("CnnPolicy", env, seed=0, **PaperDDPG.pixel_hyperparameters(buffer_size=100))
    assert model.replay_buffer.observations.dtype == np.uint8
    seen: list[th.Tensor] = []
    first_conv = model.actor.features_extractor.cnn[0]
    first_conv.register_forward_pre_hook(lambda _, inputs: seen.append(inputs[0]))
    obs = env.reset()
    model.predict(obs, deterministic=True)
    x = seen[-1]
    assert x.shape == (1, 9, 64, 64) and x.dtype == th.float32
    assert 0.0 <= x.min() and x.max() <= 1.0 and x.max() > 0.5
    np.testing.assert_allclose(x.numpy(), obs / 255.0, rtol=1e-6)


@needs("pixels")
def test_pendulum_time_limit_counts_simulator_steps() -> None:
    """The 200-step limit is 200 simulator steps: 67 agent steps, the return sums 200 rewards (Monitor's length)."""
    env = make_pixel_env("Pendulum-v1", seed=0)
    env.reset()
    agent_steps, done = 0, [False]
    while not done[0]:
        _, _, done, info = env.step(np.zeros((1, 1), np.float32))
        agent_steps += 1
    assert agent_steps == 67 and info[0]["episode"]["l"] == 200


@needs("mujoco")
def test_mujoco_renders_headless() -> None:
    """InvertedPendulum-v5 renders 64x64 through EGL (set by sb3_ddpg_ext.envs when no display is set)."""
    env = make_pixel_env("InvertedPendulum-v5", seed=0)
    obs = env.reset()
    assert obs.shape == (1, 9, 64, 64) and obs.dtype == np.uint8 and obs.std() > 0


def test_env_without_rgb_array_rendering_is_a_user_error() -> None:
    with pytest.raises(UserError, match="render_mode='rgb_array'"):
        pixel_wrapper(CountingEnv(render_mode=None))


def test_pixels_without_pygame_name_the_pixels_extra(cli, monkeypatch, tmp_path: Path) -> None:
    """Classic control renders with pygame, which the pixels extra installs: without it, one line that names the extra."""
    monkeypatch.setitem(sys.modules, "pygame", None)  # as if it were not installed (Pendulum imports it in render())
    result = cli("train", "--env", "Pendulum-v1", "--pixels", "--timesteps", "100", "--out", str(tmp_path / "run"))
    assert_one_line_error(result, "cannot render Pendulum-v1 as pixels: pygame is not installed")
    assert "Fix: pip install 'sb3-ddpg-ext[pixels]'" in result[2]


def test_conv_and_fully_connected_shapes() -> None:
    """3 conv layers of 32 filters (3x3, strides 2, 2, 1), no pooling, ReLU; 5408 features -> 200 -> 200."""
    policy = CnnPolicy(IMAGE, ACTION, lambda _: 1e-3)
    for net in (policy.actor, policy.critic):
        cnn = net.features_extractor
        assert isinstance(cnn, PaperCNN)
        convs = [m for m in cnn.modules() if isinstance(m, nn.Conv2d)]
        assert [(c.in_channels, c.out_channels, c.kernel_size, c.stride) for c in convs] == [
            (9, 32, (3, 3), (2, 2)),
            (32, 32, (3, 3), (2, 2)),
            (32, 32, (3, 3), (1, 1)),
        ]
        assert not [m for m in cnn.modules() if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d))]
        assert cnn.features_dim == 32 * 13 * 13
    assert [(m.in_features, m.out_features) for m in linears(policy.actor)] == [(5408, 200), (200, 200), (200, 1)]
    assert policy.actor.features_extractor is not policy.critic.features_extractor  # one encoder per network


def test_kernel_sizes_and_strides_are_options() -> None:
    kwargs = dict(kernel_sizes=(8, 4, 3), strides=(4, 2, 1))
    policy = CnnPolicy(IMAGE, ACTION, lambda _: 1e-3, features_extractor_kwargs=kwargs)
    convs = [m for m in policy.actor.features_extractor.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.kernel_size[0], c.stride[0]) for c in convs] == [(8, 4), (4, 2), (3, 1)]
    assert policy.actor.features_extractor.features_dim == 32 * 4 * 4  # 64 -> 15 -> 6 -> 4


def test_action_enters_the_critic_at_the_second_fully_connected_layer() -> None:
    """The state path (convs, first FC layer) never sees the action; the 2nd FC layer takes [h1, a]."""
    policy = CnnPolicy(IMAGE, ACTION, lambda _: 1e-3)
    critic = policy.critic
    assert [(m.in_features, m.out_features) for m in linears(critic.state_net)] == [(5408, 200)]
    assert [(m.in_features, m.out_features) for m in linears(critic.q_net)] == [(200 + 1, 200), (200, 1)]
    # Functional: the output of the state path is the same for two actions; Q differs.
    obs = th.as_tensor(IMAGE.sample()[None]).float() / 255
    h = []
    critic.state_net.register_forward_hook(lambda _, __, out: h.append(out))
    q1, q2 = critic.q1_forward(obs, th.tensor([[-1.0]])), critic.q1_forward(obs, th.tensor([[1.0]]))
    assert th.equal(h[0], h[1]) and not th.equal(q1, q2)
    # Option: the first fully connected layer, next to the conv features (never the convolutions).
    at_first = CnnPolicy(IMAGE, ACTION, lambda _: 1e-3, action_input_layer=0).critic
    assert [m.in_features for m in linears(at_first.q_net)] == [5408 + 1, 200, 200]


def fan_in_bound(fan_in: int) -> float:
    """1/sqrt(fan_in) as torch's float32 init draws it (it may round up by one float32 ulp)."""
    return float(th.tensor(1 / math.sqrt(fan_in), dtype=th.float32))


def test_pixel_init_bounds() -> None:
    """Convs and hidden FC layers U(+-1/sqrt(fan_in)); final layers U(+-3e-4), pooled over seeds."""
    policies = []
    for seed in range(16):
        th.manual_seed(seed)
        policies.append(CnnPolicy(IMAGE, ACTION, lambda _: 1e-3))
    for net in ("actor", "critic"):
        convs = [[m for m in getattr(p, net).modules() if isinstance(m, nn.Conv2d)] for p in policies]
        for i, fan_in in enumerate((9 * 9, 32 * 9, 32 * 9)):
            assert_uniform(th.cat([c[i].weight.flatten() for c in convs]), fan_in_bound(fan_in))
            assert_uniform(th.cat([c[i].bias.flatten() for c in convs]), fan_in_bound(fan_in))
        fcs = [linears(getattr(p, net)) for p in policies]
        fan_ins = (5408, 200 + (1 if net == "critic" else 0))
        for i, fan_in in enumerate(fan_ins):
            assert_uniform(th.cat([f[i].weight.flatten() for f in fcs]), fan_in_bound(fan_in))
            assert_uniform(th.cat([f[i].bias.flatten() for f in fcs]), fan_in_bound(fan_in))
        # The critic's single output bias: 16 seeds are too few for assert_uniform, so check the bound and non-zero.
        finals = th.cat([f[-1].weight.flatten() for f in fcs])
        assert_uniform(finals, 3e-4)
        biases = th.cat([f[-1].bias.flatten() for f in fcs])
        assert biases.abs().max() <= 3e-4 and biases.abs().max() > 3e-5


@needs("pixels")
def test_pixel_hyperparameters_batch_16_no_batch_norm_uint8_replay() -> None:
    env = make_pixel_env("Pendulum-v1", seed=0)
    hp = PaperDDPG.pixel_hyperparameters()
    assert hp == dict(
        batch_size=16,
        buffer_size=100_000,
        optimize_memory_usage=True,
        replay_buffer_kwargs=dict(handle_timeout_termination=False),
    )
    model = PaperDDPG("CnnPolicy", env, seed=0, **{**hp, "buffer_size": 64})
    assert model.batch_size == 16
    assert norm_layers(model.policy) == []
    assert model.replay_buffer.optimize_memory_usage
    assert getattr(model.replay_buffer, "next_observations", None) is None  # next observations are not stored twice
    assert model.replay_buffer.observations.shape == (64, 1, 9, 64, 64)
    assert model.policy.final_layer_init == 3e-4


@needs("pixels")
def test_train_save_load_evaluate_from_pixels_with_the_cli(cli, tmp_path: Path) -> None:
    """Pendulum-v1 from pixels trains 100 agent steps (300 simulator steps), saves, loads, evaluates (in process)."""
    code, _, err = cli(
        "train",
        "--env",
        "Pendulum-v1",
        "--pixels",
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
    assert code == 0, err
    model = PaperDDPG.load(tmp_path / "model.zip", buffer_size=1)
    assert model.num_timesteps == 100 and model._n_updates == 100 - 15 and model.batch_size == 16
    assert model.observation_space == IMAGE
    code, out, err = cli("evaluate", str(tmp_path / "model.zip"), "--env", "Pendulum-v1", "--pixels", "--episodes", "1")
    assert code == 0 and out.startswith("Pendulum-v1 from pixels, 1 episodes: mean"), err
    # The model says it acts on the pixel observations: evaluate makes them without --pixels, on its saved env id.
    code, out, err = cli("evaluate", str(tmp_path / "model.zip"), "--episodes", "1")
    assert code == 0 and out.startswith("Pendulum-v1 from pixels, 1 episodes: mean"), err
