"""``PaperDDPG.load`` and ``load_replay_buffer``: what a loaded model is asked to take, checked before it is taken.

SB3's ``load`` sets any keyword as an attribute and replaces only the saved entries named in ``custom_objects``;
values the constructor turns into objects (the OU noise, the critic optimizer's weight decay) keep the saved ones.
Here each value is checked as the constructor checks it, a name that would be ignored is refused, and what the
constructor derives from a value follows it. A replay buffer must come from a model of the same spaces.
"""

import copy
import difflib
import io
import pathlib
import pickle
import re
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.noise import ActionNoise, OrnsteinUhlenbeckActionNoise, VectorizedActionNoise
from stable_baselines3.common.preprocessing import get_action_dim, get_obs_shape
from stable_baselines3.common.utils import update_learning_rate
from stable_baselines3.common.vec_env import VecEnv, unwrap_vec_normalize

from sb3_ddpg_ext.paper_ddpg.buffers import restore_capacity
from sb3_ddpg_ext.paper_ddpg.checks import check_hyperparameters
from sb3_ddpg_ext.paper_ddpg.noise import noise_for_n_envs
from sb3_ddpg_ext.paper_ddpg.policies import PaperDDPGPolicy
from sb3_ddpg_ext.paper_ddpg.save_util import legacy_message, legacy_settings, read_saved_data


def replay_buffer_mismatch(buffer: Any, observation_space: spaces.Space, action_space: spaces.Space, n_envs: int) -> str:
    """What makes a loaded replay buffer unusable by a model ("" if nothing): not a buffer, other spaces, other n_envs."""
    if not isinstance(buffer, ReplayBuffer):
        return f"it holds a {type(buffer).__name__}, not a replay buffer saved by save_replay_buffer"
    ours = (get_obs_shape(observation_space), get_action_dim(action_space))
    theirs = (getattr(buffer, "obs_shape", None), getattr(buffer, "action_dim", None))
    same_bounds = True
    for mine, saved in ((observation_space, buffer.observation_space), (action_space, buffer.action_space)):
        if isinstance(mine, spaces.Box) and isinstance(saved, spaces.Box) and mine.shape == saved.shape:
            # In the buffer's dtype: Float32ReplayBuffer stores float64 observations, and their bounds, as float32.
            for bound, saved_bound in ((mine.low, saved.low), (mine.high, saved.high)):
                same_bounds &= np.array_equal(np.asarray(bound, dtype=saved_bound.dtype), saved_bound, equal_nan=True)
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
# Saved attributes that load rebuilds from an argument (SB3's ``_setup_model``): a value given for them is lost.
REBUILT = {"lr_schedule": "actor_learning_rate", "critic_lr_schedule": "critic_learning_rate"}


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
            if name in REBUILT:
                raise ValueError(
                    f"PaperDDPG.load: {where} '{name}' would be ignored: load rebuilds it from {REBUILT[name]}; give "
                    f"{REBUILT[name]}=... (a number or a schedule) instead"
                )
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
    """What the constructor derives from these settings, rebuilt on a loaded ``model`` from the values given to load;
    the exploration noise follows the env's number of envs (``noise_for_n_envs``)."""
    model.action_noise = noise_for_n_envs(model.action_noise, model.n_envs)
    if {"ou_sigma", "ou_theta"} & overrides.keys():
        model.action_noise = model.make_ou_noise() if model.ou_sigma > 0 else None
    if "critic_weight_decay" in overrides:  # the optimizer state loaded from the file holds the saved one
        model.critic.optimizer.param_groups[0]["weight_decay"] = model.critic_weight_decay  # the decayed group
    progress = model._current_progress_remaining
    update_learning_rate(model.actor.optimizer, model.lr_schedule(progress))
    update_learning_rate(model.critic.optimizer, model.critic_lr_schedule(progress))


def check_saved_by_paper_ddpg(path: Any, data: dict[str, Any]) -> None:
    """A ValueError unless ``data`` (``read_saved_data`` of ``path``) holds a PaperDDPG model: another algorithm's file
    is named as such before anything else is read from it."""
    policy_class = data.get("policy_class")
    if not isinstance(policy_class, type) or not issubclass(policy_class, PaperDDPGPolicy):
        name = getattr(policy_class, "__qualname__", None)
        held = f"a {policy_class.__module__}.{name} policy" if name else "no PaperDDPG policy"
        raise ValueError(
            f"{path} was not saved by PaperDDPG: it holds {held}; load it with the algorithm that saved it "
            "(e.g. stable_baselines3.DDPG, TD3 or SAC)"
        )


def _check_saved_model(path: Any, data: dict[str, Any], env: Any) -> None:
    """The file holds a PaperDDPG model, and ``env`` (if given) has the spaces it was trained on."""
    check_saved_by_paper_ddpg(path, data)
    if env is None:
        return
    for kind, saved, given in (
        ("observation", data.get("observation_space"), env.observation_space),
        ("action", data.get("action_space"), env.action_space),
    ):
        if saved is not None and saved != given:
            shapes = (getattr(saved, "shape", saved), getattr(given, "shape", given))
            what = "shape" if shapes[0] != shapes[1] else "space"
            env_id = data.get("env_id") or "its training env"
            mine, theirs = (shapes[0], shapes[1]) if what == "shape" else (saved, given)
            raise ValueError(  # on one line: numpy prints a long Box's bounds over several
                f"the model was trained on {env_id} with {kind} {what} {' '.join(str(mine).split())}, "
                f"but this env has {' '.join(str(theirs).split())}"
            )


def prepare_load(
    path: str | pathlib.Path | io.BufferedIOBase,
    env: Any,
    custom_objects: dict[str, Any],
    kwargs: dict[str, Any],
    paper: dict[str, Any],
    defaults: dict[str, Any],
) -> dict[str, Any]:
    """Everything ``PaperDDPG.load`` checks before SB3's ``load``: the file is a PaperDDPG model for ``env``'s spaces,
    the values given are checked (:func:`check_load_overrides`; returned), a file of an earlier version gets the
    settings it was trained with (``save_util.LEGACY_DEFAULTS``, one warning), and a model trained on normalized
    observations warns when ``env`` is not normalized. ``custom_objects`` and ``kwargs`` are updated in place."""
    data = read_saved_data(path, custom_objects)
    _check_saved_model(path, data, env)
    if "policy_kwargs" in custom_objects:  # SB3 compares a policy_kwargs keyword with the file's, not this one
        saved = read_saved_data(path).get("policy_kwargs")
        if custom_objects["policy_kwargs"] != saved:
            raise ValueError(
                f"PaperDDPG.load: custom_objects policy_kwargs={custom_objects['policy_kwargs']!r} cannot replace the "
                f"saved policy_kwargs={saved!r}: the saved weights are those networks'; drop it"
            )
    if env is None and _is_her(data.get("replay_buffer_class")):
        raise ValueError(
            f"PaperDDPG.load: {path} was trained with HerReplayBuffer, which needs its env to relabel goals: pass env="
        )
    overrides = check_load_overrides(data, custom_objects, kwargs, paper, defaults)
    attributes, policy_kwargs = legacy_settings(data)
    for name, value in attributes.items():
        kwargs.setdefault(name, value)
    if policy_kwargs:
        custom_objects["policy_kwargs"] = {**policy_kwargs, **(data.get("policy_kwargs") or {})}
    if attributes or policy_kwargs:
        warnings.warn(legacy_message(data, attributes, policy_kwargs), stacklevel=3)
    normalized = isinstance(env, VecEnv) and unwrap_vec_normalize(env) is not None
    if data.get("observation_normalization") and env is not None and not normalized:
        warnings.warn(
            f"PaperDDPG: {path} was trained on normalized observations (VecNormalize) and this env is not "
            "normalized: its actions would be wrong. Wrap it: env = sb3_ddpg_ext.run.saved_normalization(env, path)",
            stacklevel=3,
        )
    return overrides


def _is_her(buffer_class: Any) -> bool:
    from stable_baselines3 import HerReplayBuffer

    return isinstance(buffer_class, type) and issubclass(buffer_class, HerReplayBuffer)


def load_replay_buffer_checked(model: Any, path: Any, load: Callable[[], None]) -> None:
    """``load()`` (SB3's ``load_replay_buffer`` on ``model``); a file that holds no replay buffer, or one of another
    env (spaces or number of envs), is refused with one ValueError and ``model`` keeps its buffer."""
    previous = model.replay_buffer
    try:
        load()
        error = ""
    except (pickle.UnpicklingError, EOFError, AssertionError, AttributeError, ImportError, IndexError) as e:
        error = f"it cannot be read as a replay buffer ({str(e).splitlines()[0]})"
    buffer = model.replay_buffer if model.replay_buffer is not previous else None  # what SB3 put in its place
    if isinstance(buffer, ReplayBuffer):
        restore_capacity(buffer)  # a checkpoint's buffer, saved with its written rows only
    mismatch = buffer is not None and replay_buffer_mismatch(buffer, model.observation_space, model.action_space, model.n_envs)
    problem = mismatch or error
    if problem:
        model.replay_buffer = previous
        raise ValueError(f"PaperDDPG.load_replay_buffer: {path}: {problem}")


def set_parameters_checked(model: Any, source: Any, set_parameters: Callable[[Any], None]) -> None:
    """``set_parameters(source)`` (SB3's, on ``model``), all or nothing: a file saved by another algorithm is refused
    before anything is read from it, and parameters that do not fit the model's networks (torch's many-line state-dict
    error, after it has copied the ones that fit) put the model back as it was and raise one ValueError."""
    if not isinstance(source, dict):
        check_saved_by_paper_ddpg(source, read_saved_data(source))
    before = copy.deepcopy(model.get_parameters())
    try:
        set_parameters(source)
    except (RuntimeError, ValueError) as e:
        set_parameters(before)
        raise ValueError(f"PaperDDPG.set_parameters: they do not fit this model's networks: {_first_problem(e)}") from None


def _first_problem(error: Exception) -> str:
    """The first of the problems torch's ``load_state_dict`` lists (one per line), with how many more there are."""
    lines = [line.strip() for line in str(error).splitlines()]
    problems = lines[1:] or lines  # torch: a header line, then one line per kind of problem
    keys = re.findall(r'"([^"]+)"', problems[0])
    first = problems[0] if len(keys) < 2 else f"{problems[0].split(':')[0]}: {', '.join(keys[:2])} and {len(keys) - 2} more"
    return first + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
