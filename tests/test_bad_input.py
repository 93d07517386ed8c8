"""Bad input: one clear error, at construction time, naming the problem and the fix."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from sb3_ddpg_ext import PaperDDPG


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
        (spaces.Box(-np.inf, np.inf, (2,)), "finite action bounds.*RescaleAction"),
        (spaces.Box(np.array([-1.0, -np.inf]), np.array([1.0, 1.0])), "finite action bounds"),
    ],
)
def test_bad_action_space(action_space: spaces.Space, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PaperDDPG("MlpPolicy", SpaceEnv(action_space))


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
