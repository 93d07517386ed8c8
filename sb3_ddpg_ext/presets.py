"""Named settings presets for PaperDDPG: rllab's reading of batch norm, and the HER paper's DDPG for goal-conditioned
tasks (Fetch).

Andrychowicz et al. (2017), "Hindsight Experience Replay", https://arxiv.org/abs/1707.01495, appendix A, trained DDPG
with its own settings, not those of Lillicrap et al. (2015). ``HER_PAPER`` lists them next to the DDPG paper's value
each replaces; ``her_paper()`` turns them into PaperDDPG constructor arguments and ``her_paper_env()`` adds the
observation normalization. The rl-zoo3 form of the same preset is ``zoo_configs/paper_ddpg_her.yml``.

    from stable_baselines3.common.env_util import make_vec_env
    env = her_paper_env(make_vec_env("FetchPush-v4"))
    model = PaperDDPG("MultiInputPolicy", env, **her_paper(env))

Differences from the HER paper that remain (SB3 has no hook for them, or the paper is not specific):
- targets are soft-updated with tau 0.05 after every gradient step; OpenAI baselines' HER updates them once per cycle
  (every 40 gradient steps), so here they track the online networks faster;
- the target y is not clipped to [-1/(1-gamma), 0] (baselines' ``clip_return``);
- ``VecNormalize`` updates its statistics from the observations the env returns, not from the relabelled goals of
  each sampled batch, and clips the normalized values to [-5, 5] (baselines: clip_obs 200 before, 5 after);
- one environment (one worker): the paper's curves average gradients over several MPI workers.
"""

from typing import Any

import numpy as np
from stable_baselines3 import HerReplayBuffer
from stable_baselines3.common.noise import NormalActionNoise
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

# The HER paper's DDPG, appendix A (values as in OpenAI baselines' her/experiment/config.py).
# Each comment gives the DDPG paper's value that the setting replaces.
HER_PAPER: dict[str, Any] = {
    "actor_learning_rate": 1e-3,  # DDPG paper: 1e-4
    "critic_learning_rate": 1e-3,  # DDPG paper: 1e-3 (same)
    "critic_weight_decay": 0.0,  # DDPG paper: L2 1e-2 on Q; HER: none
    "tau": 0.05,  # polyak 0.95; DDPG paper: 1e-3
    "gamma": 0.98,  # DDPG paper: 0.99
    "batch_size": 256,  # DDPG paper: 64
    "buffer_size": 1_000_000,  # same
    "learning_starts": 0,  # same: the policy plus noise acts from the first step
    "train_freq": (2, "episode"),  # one "cycle": 2 episodes, then 40 updates; DDPG paper: one update per step
    "gradient_steps": 40,
    "actor_action_l2": 1.0,  # HER: penalty on the squared actions in the actor loss; DDPG paper: none
    "random_action_eps": 0.3,  # HER: 30% uniformly random actions; DDPG paper: none
    "ou_sigma": 0.0,  # DDPG paper: OU noise (sigma 0.2); HER: Gaussian noise, NOISE_STD below
    "policy_kwargs": {
        "net_arch": [256, 256, 256],  # DDPG paper: [400, 300]
        "batch_norm": False,  # DDPG paper: batch norm; HER: observation normalization instead
        "action_input_layer": 0,  # HER: (o, g, a) at the critic's input; DDPG paper: a at the 2nd layer
    },
    "replay_buffer_class": HerReplayBuffer,
    # "future" strategy, k = 4 relabelled goals per real one (80% of the sampled transitions relabelled)
    "replay_buffer_kwargs": {"goal_selection_strategy": "future", "n_sampled_goal": 4},
}
# Gaussian exploration noise, std 0.2 of the action range (scaled actions in [-1, 1]); DDPG paper: OU sigma 0.2
NOISE_STD = 0.2
# Observation normalization (running mean/std of observations and goals), clipped to [-5, 5]; DDPG paper: batch norm
NORMALIZE: dict[str, Any] = {"norm_obs": True, "norm_reward": False, "clip_obs": 5.0}


def her_paper(env: VecEnv, **overrides: Any) -> dict[str, Any]:
    """PaperDDPG constructor arguments of the HER paper's DDPG for ``env`` (which needs its action dimension).

    ``overrides`` replace single values; ``policy_kwargs`` and ``replay_buffer_kwargs`` are merged key by key.
    """
    shape = tuple(env.action_space.shape or ())  # a Box: always a shape
    kwargs = {
        **HER_PAPER,
        "policy_kwargs": dict(HER_PAPER["policy_kwargs"]),
        "replay_buffer_kwargs": dict(HER_PAPER["replay_buffer_kwargs"]),
        "action_noise": NormalActionNoise(np.zeros(shape), NOISE_STD * np.ones(shape)),
    }
    for key in ("policy_kwargs", "replay_buffer_kwargs"):
        kwargs[key].update(overrides.pop(key, None) or {})
    kwargs.update(overrides)
    return kwargs


def her_paper_env(env: VecEnv, training: bool = True, gamma: float = HER_PAPER["gamma"]) -> VecNormalize:
    """``env`` with the HER paper's observation normalization: SB3's ``VecNormalize`` (observations only).

    For an evaluation env pass ``training=False`` (SB3's ``EvalCallback`` then copies the training statistics);
    save the statistics with ``env.save(path)`` and reload them with ``VecNormalize.load(path, venv)``.
    """
    return VecNormalize(env, training=training, gamma=gamma, **NORMALIZE)


# rllab's DDPG (Duan et al. 2016, ``rllab/algos/ddpg.py``; the reimplementation closest to the paper): how it reads
# batch norm, where the paper is silent. Each comment gives PaperDDPG's default that the setting replaces.
RLLAB: dict[str, Any] = {
    "bn_stats_for_y": "running",  # targets normalize s' with their running statistics (deterministic=True); default batch
    "bn_stats_for_policy_gradient": "running",  # dQ/da through the critic's running statistics; default batch
    # Lasagne's BatchNormLayer: epsilon 1e-4, alpha 0.1 (torch's momentum, same convention); default eps 1e-5
    "policy_kwargs": {"norm_layer_kwargs": {"eps": 1e-4, "momentum": 0.1}},
}


def rllab(**overrides: Any) -> dict[str, Any]:
    """PaperDDPG constructor arguments of rllab's reading of batch norm, in one call.

    ``PaperDDPG("MlpPolicy", env, **rllab())``; ``sb3-ddpg train --preset rllab``. ``overrides`` replace single values;
    ``policy_kwargs`` is merged key by key. What still differs from rllab: its BN layer stores and averages the standard
    deviation sqrt(var + eps) (torch's the variance); rllab drops the transition at the time limit
    (``include_horizon_terminal_transitions=False``), SB3's buffer bootstraps through it; rllab's runs start updating
    after 10k stored transitions (``min_pool_size``), the paper's Algorithm 1 (and PaperDDPG) once a minibatch is stored.
    """
    kwargs = {**RLLAB, "policy_kwargs": {**RLLAB["policy_kwargs"], **(overrides.pop("policy_kwargs", None) or {})}}
    kwargs.update(overrides)
    return kwargs
