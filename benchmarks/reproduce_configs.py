"""What the reproduction campaign runs: the configurations, the published anchors, and the campaign's blocks.

Read by ``reproduce.py`` (the runner and its command line) and ``reproduce_report.py`` (the report).
"""

import importlib.resources
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
from gymnasium import spaces

if TYPE_CHECKING:  # SB3 is imported where a model is made
    from stable_baselines3 import DDPG
    from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
    from stable_baselines3.common.vec_env import VecEnv

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Anchor:
    label: str
    value: float
    steps: int


# Published numbers (shared REFERENCE.md section 2). The TD3 paper's are max average returns over 10 trials on the
# Gym v1 MuJoCo tasks; the RL Zoo's is one agent's deterministic evaluation.
ANCHORS: dict[str, list[Anchor]] = {
    "Pendulum-v1": [Anchor("RL Zoo SB3 DDPG (20k, one agent, +/- 94.28)", -152.10, 20_000)],
    "HalfCheetah-v5": [
        Anchor("TD3 paper: Baselines DDPG (1M)", 3305.60, 1_000_000),
        Anchor('TD3 paper: "Our DDPG" (1M)', 8577.29, 1_000_000),
    ],
    "Hopper-v5": [
        Anchor("TD3 paper: Baselines DDPG (1M)", 2020.46, 1_000_000),
        Anchor('TD3 paper: "Our DDPG" (1M)', 1860.02, 1_000_000),
    ],
    "InvertedPendulum-v5": [Anchor("TD3 paper: Baselines DDPG and Our DDPG (1M)", 1000.0, 1_000_000)],
    "Walker2d-v5": [
        Anchor("TD3 paper: Baselines DDPG (1M)", 1843.85, 1_000_000),
        Anchor('TD3 paper: "Our DDPG" (1M)', 3098.11, 1_000_000),
    ],
}


# ---------------------------------------------------------------------------------------------------- configurations
MUJOCO = {
    "HalfCheetah",
    "Hopper",
    "Walker2d",
    "Ant",
    "Humanoid",
    "Swimmer",
    "InvertedPendulum",
    "Reacher",
    "InvertedDoublePendulum",
    "Pusher",
    "HumanoidStandup",
}


def _zoo_entries() -> dict[str, Any]:
    import yaml

    return yaml.safe_load(importlib.resources.files("rl_zoo3").joinpath("hyperparams/ddpg.yml").read_text())


def zoo_ddpg_entry(task: str) -> tuple[str, str]:
    """Which entry of rl-zoo3's ``hyperparams/ddpg.yml`` ``zoo-ddpg`` takes for ``task``, and why, for the report.

    The task's own entry; for a MuJoCo ``-v5`` task (rl-zoo3 2.9 has no ``-v5`` entries) its ``-v4`` entry; for a
    MuJoCo task without one (InvertedPendulum) the MuJoCo values its ``-v4`` entries share (the ``HalfCheetah-v4``
    anchor), where rl-zoo3 itself would take its ``default`` entry; anything else the ``default`` entry.
    """
    entries, v4 = _zoo_entries(), task.replace("-v5", "-v4")
    if task in entries:
        return task, f"rl-zoo3's `{task}` entry"
    if task.endswith("-v5") and v4 in entries:
        return v4, f"rl-zoo3's `{v4}` entry (rl-zoo3 2.9 has no `-v5` entries)"
    if task.split("-")[0] in MUJOCO:
        return "HalfCheetah-v4", (
            f"rl-zoo3 has no entry for {task.split('-')[0]}: the MuJoCo values its `-v4` entries share (its "
            "`HalfCheetah-v4` entry, `&mujoco-defaults`), our choice; rl-zoo3 itself would take its `default` entry "
            "(Gaussian noise 0.1 and SB3's defaults: learning_starts 100)"
        )
    return "default", "rl-zoo3's `default` entry"


def zoo_ddpg_hyperparams(task: str) -> dict[str, Any]:
    """rl-zoo3's ``hyperparams/ddpg.yml`` values for ``task``, read from the installed package (:func:`zoo_ddpg_entry`
    says which entry)."""
    return dict(_zoo_entries()[zoo_ddpg_entry(task)[0]])


def make_zoo_ddpg(env: "VecEnv", task: str, seed: int) -> "DDPG":
    """SB3's DDPG with rl-zoo3's hyperparameters, noise translated as ``rl_zoo3.exp_manager`` does."""
    from stable_baselines3 import DDPG
    from stable_baselines3.common.noise import NormalActionNoise, OrnsteinUhlenbeckActionNoise
    from torch import nn

    hp = zoo_ddpg_hyperparams(task)
    for key in ("n_timesteps", "policy", "normalize"):
        hp.pop(key, None)
    assert isinstance(env.action_space, spaces.Box)  # DDPG's continuous actions
    n_actions = env.action_space.shape[0]
    noise_type, noise_std = hp.pop("noise_type", None), hp.pop("noise_std", None)
    if noise_type is not None and "normal" in noise_type:
        hp["action_noise"] = NormalActionNoise(np.zeros(n_actions), noise_std * np.ones(n_actions))
    elif noise_type is not None and "ornstein-uhlenbeck" in noise_type:
        hp["action_noise"] = OrnsteinUhlenbeckActionNoise(np.zeros(n_actions), noise_std * np.ones(n_actions))
    if isinstance(hp.get("policy_kwargs"), str):
        hp["policy_kwargs"] = eval(hp["policy_kwargs"], {"dict": dict, "nn": nn})  # as rl-zoo3 does
    if isinstance(hp.get("train_freq"), list):
        hp["train_freq"] = tuple(hp["train_freq"])
    return DDPG("MlpPolicy", env, seed=seed, **hp)


def make_sb3_ddpg(env: "VecEnv", task: str, seed: int) -> "DDPG":
    """SB3's DDPG at the paper's numbers: 400-300, batch 64, tau 1e-3, OU noise (theta 0.15, sigma 0.2, dt 1); SB3's own
    networks (action at the critic's input, no batch norm), one learning rate 1e-3, no L2."""
    from stable_baselines3 import DDPG

    from sb3_ddpg_ext.paper_ddpg.noise import paper_ou_noise

    assert isinstance(env.action_space, spaces.Box)  # DDPG's continuous actions
    noise = paper_ou_noise(env.action_space.shape[0], sigma=0.2, theta=0.15)
    return DDPG(
        "MlpPolicy",
        env,
        learning_rate=1e-3,
        batch_size=64,
        tau=1e-3,
        learning_starts=64,
        action_noise=noise,
        seed=seed,
        policy_kwargs=dict(net_arch=[400, 300]),
    )


def describe(change: dict[str, Any]) -> str:
    """``tau=0.005`` for a config change, in code font, for the report."""
    return ", ".join(f"`{k}={v!r}`" for k, v in change.items())


def paper(**kwargs: Any) -> dict[str, Any]:
    """A PaperDDPG configuration: constructor arguments over the paper's defaults (the run layer builds it)."""
    return kwargs


# rllab's reading of the BN statistics in the update passes, this package's default before issue 9 (without the
# Lasagne epsilon of ``presets.rllab()``: the configs below were run with torch's).
RUNNING_STATS = dict(bn_stats_for_y="running", bn_stats_for_policy_gradient="running")

# zoo-ddpg's values for InvertedPendulum-v5 that differ from the paper's, one PaperDDPG change each (the critic's
# learning rate, gamma, the buffer and the 400-300 sizes are the same).
ZOO_VALUES: dict[str, dict[str, Any]] = {
    "tau-5e-3": dict(tau=5e-3),  # SB3 DDPG's default; paper 1e-3
    "actor-lr-1e-3": dict(actor_learning_rate=1e-3),  # rl-zoo3's one learning rate; paper 1e-4
    "no-l2": dict(critic_weight_decay=0.0),  # SB3: none; paper 1e-2 on the critic's weights
    "batch-256": dict(batch_size=256),  # rl-zoo3; paper 64
    "gaussian-0.1": dict(action_noise="normal:0.1"),  # rl-zoo3: Gaussian std 0.1; paper OU (theta 0.15, sigma 0.2)
    "warmup-10k": dict(learning_starts=10_000),  # rl-zoo3: 10k uniform random steps first; paper 0
    "no-bn": dict(policy_kwargs=dict(batch_norm=False)),  # SB3: no batch norm; paper: batch norm
}

# A config is PaperDDPG's arguments (a dict), or a function (env, task, seed) -> model for another algorithm.
ModelMaker: TypeAlias = "Callable[[VecEnv, str, int], OffPolicyAlgorithm]"
CONFIGS: "dict[str, dict[str, Any] | ModelMaker]" = {
    # PaperDDPG at the paper's settings (the defaults).
    "paper": paper(),
    "paper-no-bn": paper(policy_kwargs=dict(batch_norm=False)),
    "zoo-ddpg": make_zoo_ddpg,
    "sb3-ddpg": make_sb3_ddpg,
    "paper-running-stats": paper(**RUNNING_STATS),
    # Batch-norm stability candidates (docs/bn_stability.md), each one change from "paper-running-stats".
    "bn-actor-only": paper(**RUNNING_STATS, policy_kwargs=dict(critic_batch_norm=False)),
    "bn-batch-stats": paper(bn_stats_for_y="batch", bn_stats_for_policy_gradient="batch"),  # = "paper"
    "bn-batch-stats-y": paper(bn_stats_for_y="batch", bn_stats_for_policy_gradient="running"),
    "batch-renorm": paper(
        **RUNNING_STATS, policy_kwargs=dict(norm_layer="batch_renorm", norm_layer_kwargs=dict(warmup_steps=5_000))
    ),
    "running-stats-no-l2": paper(**RUNNING_STATS, critic_weight_decay=0.0),
    # The behaviour before issue 9: L2 on every critic parameter, target BN statistics copied, running statistics.
    "paper-before-issue9": paper(**RUNNING_STATS, critic_l2_on="all", target_bn_stats="copy"),
    # The networks before 0.3.0: a bias on each Linear layer that feeds batch norm (issue 20's before/after).
    "paper-bias-before-bn": paper(policy_kwargs=dict(bias_before_norm=True)),
    # Issue 20's ablation on InvertedPendulum-v5 (docs/ablation_inverted_pendulum.md): `paper` with one of
    # zoo-ddpg's values each (rl-zoo3's ddpg.yml entry and SB3's DDPG defaults), then all of them together.
    **{f"paper-{name}": paper(**change) for name, change in ZOO_VALUES.items() if name != "no-bn"},  # paper-no-bn above
    "paper-zoo-values": paper(**{k: v for change in ZOO_VALUES.values() for k, v in change.items()}),
    # Leave one out: zoo-ddpg's values but one, where the paper's is back. Which paper value alone loses the task?
    **{
        f"zoo-values-but-{name}": paper(**{k: v for other, c in ZOO_VALUES.items() if other != name for k, v in c.items()})
        for name in ZOO_VALUES
    },
    # The L2 scope the paper leaves open: OpenAI baselines' (no decay on Q's output layer) against rllab's (the default).
    "paper-l2-hidden": paper(critic_l2_on="hidden_weights"),
}

DESCRIPTIONS: dict[str, str] = {
    "paper": "`PaperDDPG()` at the paper's settings (the defaults: batch statistics in every update pass, L2 on the "
    "critic's weights, target BN statistics averaged)",
    "paper-no-bn": "`PaperDDPG`, `policy_kwargs=dict(batch_norm=False)`",
    "zoo-ddpg": "SB3's `DDPG` with the values of rl-zoo3's `hyperparams/ddpg.yml` (each task section says which entry "
    "and lists its values)",
    "sb3-ddpg": "SB3's `DDPG` at the paper's numbers (400-300, batch 64, tau 1e-3, OU noise; its own networks, one "
    "learning rate 1e-3, no L2)",
    "paper-running-stats": '`PaperDDPG`, `bn_stats_for_y="running"`, `bn_stats_for_policy_gradient="running"` '
    "(rllab's reading; the default before issue 9)",
    "bn-actor-only": "`paper-running-stats` with `policy_kwargs=dict(critic_batch_norm=False)`",
    "bn-batch-stats": '`bn_stats_for_y="batch"`, `bn_stats_for_policy_gradient="batch"` (now the defaults: = `paper`)',
    "bn-batch-stats-y": '`paper-running-stats` with `bn_stats_for_y="batch"`',
    "batch-renorm": '`paper-running-stats` with `policy_kwargs=dict(norm_layer="batch_renorm")`, warm-up 5,000 steps',
    "running-stats-no-l2": "`paper-running-stats` with `critic_weight_decay=0`",
    "paper-before-issue9": '`paper-running-stats` with `critic_l2_on="all"`, `target_bn_stats="copy"`',
    "paper-bias-before-bn": "`PaperDDPG`, `policy_kwargs=dict(bias_before_norm=True)` (the networks before 0.3.0)",
    **{
        f"paper-{name}": f"`paper` with {describe(change)} (zoo-ddpg's value)"
        for name, change in ZOO_VALUES.items()
        if name != "no-bn"
    },
    "paper-l2-hidden": "`paper` with `critic_l2_on=\"hidden_weights\"` (OpenAI baselines' L2 scope: not on Q's output "
    "layer; rllab's, the default, decays it too)",
    "paper-zoo-values": "`PaperDDPG` with all of zoo-ddpg's values above together (its networks stay the paper's: "
    "the action enters the critic at the second layer, the paper's initialization, two Adam optimizers)",
    **{
        f"zoo-values-but-{name}": f"`paper-zoo-values` with the paper's value back in place of {describe(change)}"
        for name, change in ZOO_VALUES.items()
    },
}


# The MuJoCo campaign (issue 20), block by block: each block's runs before the next block's. ``run --campaign``
# works through it; finished runs are skipped and unfinished ones resume, so every session starts the same command.
CAMPAIGN: list[tuple[str, int, list[int], list[str]]] = [
    ("InvertedPendulum-v5", 100_000, [0, 1, 2, 3, 4], ["paper", "zoo-ddpg"]),
    ("HalfCheetah-v5", 300_000, [0, 1, 2], ["paper", "zoo-ddpg"]),
    ("Hopper-v5", 300_000, [0, 1, 2], ["paper", "zoo-ddpg"]),
    ("Walker2d-v5", 300_000, [0, 1, 2], ["paper", "zoo-ddpg"]),
    ("InvertedPendulum-v5", 100_000, [0, 1, 2, 3, 4], ["paper-no-bn"]),
    ("HalfCheetah-v5", 300_000, [0, 1, 2], ["paper-no-bn"]),
    ("Hopper-v5", 300_000, [0, 1, 2], ["paper-no-bn"]),
    ("Walker2d-v5", 300_000, [0, 1, 2], ["paper-no-bn"]),
]


def default_eval_every(steps: int) -> int:
    """Every 5k steps (TD3 paper); every 2% of the budget when that gives fewer than 20 evaluations."""
    return 5_000 if steps >= 100_000 else max(1, steps // 50)
