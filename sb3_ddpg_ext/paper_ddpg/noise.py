"""Exploration: the paper's Ornstein-Uhlenbeck noise (section 7) and the HER paper's random actions (appendix A).

SB3's ``OrnsteinUhlenbeckActionNoise`` is the process; what is written here is only where the paper's use differs
from SB3's defaults (dt=1, the theta and sigma of section 7, a sigma that can anneal).
"""

from collections.abc import Callable
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.noise import (
    ActionNoise,
    NormalActionNoise,
    OrnsteinUhlenbeckActionNoise,
    VectorizedActionNoise,
)


def paper_ou_noise(action_shape: int | tuple[int, ...], sigma: float, theta: float) -> OrnsteinUhlenbeckActionNoise:
    """Exploration noise, section 7: OU with dt=1 (rllab's update rule); the paper's theta 0.15 and sigma 0.2 are
    PaperDDPG's ``ou_theta`` and ``ou_sigma`` defaults. Sigma is in units of the action half-range (the actor acts in
    [-1, 1]). SB3's default dt=1e-2 would give a correlation time of ~667 steps instead of ~7. One independent
    process per action entry, in the action space's shape (SB3 adds the noise to actions of that shape).
    """
    return OrnsteinUhlenbeckActionNoise(mean=np.zeros(action_shape), sigma=sigma * np.ones(action_shape), theta=theta, dt=1.0)


def noise_from_text(form: str, action_shape: int | tuple[int, ...], ou_theta: float) -> ActionNoise:
    """``normal:SIGMA`` -> SB3's NormalActionNoise; ``ou:SIGMA`` -> :func:`paper_ou_noise` with that sigma."""
    kind, _, sigma = form.partition(":")
    if kind == "normal":
        return NormalActionNoise(mean=np.zeros(action_shape), sigma=float(sigma) * np.ones(action_shape))
    return paper_ou_noise(action_shape, float(sigma), ou_theta)


def ou_processes(action_noise: ActionNoise | None) -> list[OrnsteinUhlenbeckActionNoise]:
    """The OU processes inside ``action_noise`` (one per env for a VectorizedActionNoise)."""
    noises = action_noise.noises if isinstance(action_noise, VectorizedActionNoise) else [action_noise]
    return [noise for noise in noises if isinstance(noise, OrnsteinUhlenbeckActionNoise)]


def noise_for_n_envs(action_noise: ActionNoise | None, n_envs: int) -> ActionNoise | None:
    """``action_noise`` for a model of ``n_envs`` envs: one vectorized for another number (a model saved with other
    n_envs, loaded on this env) gives back its base noise, which SB3's ``learn()`` vectorizes anew, each env's
    process from its mean (as at a new episode). SB3 keeps the saved count, and the first step fails on the shapes."""
    if isinstance(action_noise, VectorizedActionNoise) and action_noise.n_envs != n_envs:
        return action_noise.base_noise
    return action_noise


def set_ou_sigma(action_noise: ActionNoise | None, sigma: float) -> None:
    """Set the sigma of every OU process in ``action_noise`` (``ou_sigma_final``; not in the paper)."""
    for noise in ou_processes(action_noise):
        noise._sigma = np.full_like(noise._sigma, sigma)  # SB3's OU noise has no sigma setter


def replace_with_uniform(
    action: np.ndarray,
    buffer_action: np.ndarray,
    action_space: spaces.Box,
    eps: float,
    scale_action: Callable[[np.ndarray], np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Each env's action replaced, with probability ``eps``, by a uniformly random one (Andrychowicz et al. 2017,
    "Hindsight Experience Replay", appendix A: epsilon 0.3; OpenAI baselines' ``random_eps``).

    ``action`` is in the env's bounds, ``buffer_action`` in [-1, 1]; ``scale_action`` maps the first to the second.
    """
    n_envs = len(action)
    replace = np.random.random(n_envs) < eps
    if not replace.any():
        return action, buffer_action
    uniform = np.array([action_space.sample() for _ in range(n_envs)])
    action, buffer_action = action.copy(), buffer_action.copy()
    action[replace] = uniform[replace]
    buffer_action[replace] = scale_action(uniform)[replace]
    return action, buffer_action


def noisy_policy_action(model: Any, action_noise: ActionNoise | None) -> tuple[np.ndarray, np.ndarray]:
    """mu(s_t) + N_t (Algorithm 1) for ``model``'s last observations: (env action, action in [-1, 1] for the buffer).

    The same actions as SB3's ``predict`` path, in one tensor conversion and one actor call: SB3 goes through
    ``predict`` (mode switch, observation checks and reshapes, ``no_grad``); here the actor runs under
    ``inference_mode`` and the rest stays in numpy, with SB3's own scale/unscale and clip, in SB3's order.
    """
    policy = model.policy
    if policy.training:  # collect_rollouts has already switched to eval mode: this is predict's switch
        policy.set_training_mode(False)
    with th.inference_mode():
        mu = model.actor(th.as_tensor(model._last_obs, device=model.device)).cpu().numpy()
    scaled_action = policy.scale_action(policy.unscale_action(mu.reshape((-1, *model.action_space.shape))))
    if action_noise is not None:
        scaled_action = np.clip(scaled_action + action_noise(), -1, 1)
    return policy.unscale_action(scaled_action), scaled_action
