"""``PaperDDPG.load`` and ``load_replay_buffer``: what a loaded model is asked to take, checked before it is taken.

SB3's ``load`` sets any keyword as an attribute and replaces only the saved entries named in ``custom_objects``;
values the constructor turns into objects (the OU noise, the critic optimizer's weight decay) keep the saved ones.
Here each value is checked as the constructor checks it, a name that would be ignored is refused, and what the
constructor derives from a value follows it. A replay buffer must come from a model of the same spaces.
"""

import difflib
from typing import Any

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.noise import ActionNoise, OrnsteinUhlenbeckActionNoise, VectorizedActionNoise
from stable_baselines3.common.preprocessing import get_action_dim, get_obs_shape
from stable_baselines3.common.utils import update_learning_rate

from sb3_ddpg_ext.paper_ddpg.checks import check_hyperparameters


def replay_buffer_mismatch(buffer: Any, observation_space: spaces.Space, action_space: spaces.Space, n_envs: int) -> str:
    """What makes a loaded replay buffer unusable by a model ("" if nothing): not a buffer, other spaces, other n_envs."""
    if not isinstance(buffer, ReplayBuffer):
        return f"it holds a {type(buffer).__name__}, not a replay buffer saved by save_replay_buffer"
    ours = (get_obs_shape(observation_space), get_action_dim(action_space))
    theirs = (getattr(buffer, "obs_shape", None), getattr(buffer, "action_dim", None))
    same_bounds = True
    for mine, saved in ((observation_space, buffer.observation_space), (action_space, buffer.action_space)):
        if isinstance(mine, spaces.Box) and isinstance(saved, spaces.Box) and mine.shape == saved.shape:
            low, high = (np.asarray(b, dtype=np.float64) for b in (mine.low, mine.high))
            same_bounds &= np.array_equal(low, saved.low.astype(np.float64), equal_nan=True)
            same_bounds &= np.array_equal(high, saved.high.astype(np.float64), equal_nan=True)
    if ours != theirs or type(buffer.observation_space) is not type(observation_space) or not same_bounds:
        return (
            f"its transitions have observation space {buffer.observation_space} and action space {buffer.action_space}, "
            f"but this model has {observation_space} and {action_space}"
        )
    if buffer.n_envs != n_envs:
        return f"it was filled by {buffer.n_envs} envs at a time, this model steps {n_envs}"
    return ""


# PaperDDPG's argument -> the attribute SB3 saves it under (``learning_rate`` is the actor's: SB3's lr_schedule).
SAVED_AS = {"actor_learning_rate": "learning_rate"}


def check_load_overrides(
    data: dict[str, Any], custom_objects: dict[str, Any], kwargs: dict[str, Any], paper: dict, defaults: dict
) -> dict[str, Any]:
    """The values ``PaperDDPG.load`` is asked to replace (``custom_objects``, keyword arguments), checked as the
    constructor checks them, by argument name. Both dicts are updated in place: PaperDDPG's names become the saved
    attributes (``actor_learning_rate`` -> ``learning_rate``) and integral floats ints. A name that would be ignored
    (not saved in the file, or no argument at all) is refused with the closest valid one.
    """
    saved_names = {arg: SAVED_AS.get(arg, arg) for arg in defaults}
    argument_of = {saved: arg for arg, saved in saved_names.items()}
    overrides: dict[str, Any] = {}
    keyword_names = set(data) | set(saved_names.values())
    for where, given, valid in (("custom_objects", custom_objects, set(data)), ("keyword", kwargs, keyword_names)):
        for name in list(given):
            saved = SAVED_AS.get(name, name)
            if saved != name:
                if saved in given and given[saved] != given[name]:
                    raise ValueError(f"PaperDDPG.load: {where} gives both {name} and {saved}; they are the same setting")
                given[saved] = given.pop(name)
            if saved not in valid:
                close = difflib.get_close_matches(name, sorted(valid | set(defaults)), n=1)
                if where == "custom_objects" and name not in defaults and not set(close) & set(defaults):
                    continue  # SB3 replaces saved entries only; tools pass extras for other algorithms (rl-zoo3)
                hint = f"did you mean '{close[0]}'?" if close else "it is not a PaperDDPG argument"
                what = "is not saved in this file, so it would be ignored" if where == "custom_objects" else "is unknown"
                raise ValueError(f"PaperDDPG.load: {where} '{name}' {what}; {hint}")
            if saved in argument_of:
                overrides[argument_of[saved]] = given[saved]
    # Each value on its own: the file's other values are the ones it was trained with (and evaluation loads with
    # buffer_size=1 whatever the batch size).
    try:
        overrides = check_hyperparameters(overrides, paper, defaults, combinations=False)
    except (TypeError, ValueError) as e:
        raise type(e)(str(e).replace("PaperDDPG:", "PaperDDPG.load:", 1)) from None
    for name, value in overrides.items():
        for given in (custom_objects, kwargs):
            if saved_names[name] in given:
                given[saved_names[name]] = value
    ou = sorted({"ou_sigma", "ou_theta", "ou_sigma_final"} & overrides.keys())
    noise = overrides.get("action_noise", data.get("action_noise"))
    if ou and ("action_noise" in overrides or not _built_from_ou(noise, data.get("ou_theta", defaults["ou_theta"]))):
        raise ValueError(
            f"PaperDDPG.load: {', '.join(ou)} would have no effect: this model explores with action_noise={noise}, not "
            "the OU noise PaperDDPG builds from ou_sigma and ou_theta; give action_noise=... alone"
        )
    if "critic_l2_on" in overrides and overrides["critic_l2_on"] != data.get("critic_l2_on", defaults["critic_l2_on"]):
        raise ValueError(
            f"PaperDDPG.load: critic_l2_on cannot change at load (the saved critic optimizer has its parameter groups); "
            f"this model was trained with critic_l2_on={data.get('critic_l2_on')!r}"
        )
    return overrides


def _built_from_ou(noise: ActionNoise | None, ou_theta: float) -> bool:
    """Whether ``noise`` is the OU noise PaperDDPG builds from ``ou_*`` (or none): its sigma may have been annealed."""
    noises = noise.noises if isinstance(noise, VectorizedActionNoise) else [noise]
    return noise is None or all(
        isinstance(n, OrnsteinUhlenbeckActionNoise) and n._theta == ou_theta and n._dt == 1.0 for n in noises
    )


def apply_load_overrides(model: Any, overrides: dict[str, Any]) -> None:
    """What the constructor derives from these settings, rebuilt on a loaded ``model`` from the values given to load."""
    if {"ou_sigma", "ou_theta"} & overrides.keys():
        model.action_noise = model.make_ou_noise() if model.ou_sigma > 0 else None
    if "critic_weight_decay" in overrides:  # the optimizer state loaded from the file holds the saved one
        model.critic.optimizer.param_groups[0]["weight_decay"] = model.critic_weight_decay  # the decayed group
    progress = model._current_progress_remaining
    update_learning_rate(model.actor.optimizer, model.lr_schedule(progress))
    update_learning_rate(model.critic.optimizer, model.critic_lr_schedule(progress))
