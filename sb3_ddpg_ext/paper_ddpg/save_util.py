"""Saved PaperDDPG files: reading their ``data`` entry, and loading files of earlier versions as they were trained.

As SB3's ``common/save_util.py``, this module knows the file format, not the algorithm. Each release that changed a
default records here the value its files were trained with, so that ``PaperDDPG.load`` restores it.
"""

import io
import json
import os
import pathlib
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

from stable_baselines3.common.save_util import json_to_data, open_path

# The attribute under which a saved file records the package version that wrote it (from 0.3.0 on).
VERSION_KEY = "sb3_ddpg_ext_version"


class LegacyDefault(NamedTuple):
    """A default that changed: files saved before ``since`` were trained with ``old`` for ``name``."""

    name: str
    old: Any
    since: str
    in_policy_kwargs: bool = False


# Files that do not record a setting were trained with its value of the time. Constructor attributes are missing from
# the files that predate them; a policy keyword is recognised by the version the file records (none before 0.3.0).
LEGACY_DEFAULTS: tuple[LegacyDefault, ...] = (
    LegacyDefault("critic_l2_on", "all", "0.2.0"),  # L2 on every critic parameter
    LegacyDefault("target_bn_stats", "copy", "0.2.0"),  # target BN statistics copied, not tau-averaged
    LegacyDefault("bn_stats_for_y", "running", "0.2.0"),  # rllab's reading of the update passes
    LegacyDefault("bn_stats_for_policy_gradient", "running", "0.2.0"),
    LegacyDefault("bias_before_norm", True, "0.3.0", in_policy_kwargs=True),  # a bias on Linear layers feeding BN
)


def read_saved_data(path: str | pathlib.Path | io.BufferedIOBase, custom_objects: dict | None = None) -> dict:
    """The ``data`` entry of a saved model (its class attributes and spaces), without its weights. A file object is
    read from where it stands, left open and put back there, so that SB3's ``load`` can read it next."""
    if isinstance(path, io.BufferedIOBase):
        start = path.tell()
        try:
            return _read_data(path, path, custom_objects)
        finally:
            path.seek(start)
    with open_path(path, "r", verbose=0, suffix="zip") as file:
        return _read_data(file, path, custom_objects)


DAMAGED = "is damaged ({}): a save or a copy that did not finish? Copy it again, or use a checkpoint"


def _read_data(file: io.BufferedIOBase, path: Any, custom_objects: dict | None) -> dict:
    start = file.tell()
    try:
        with zipfile.ZipFile(file) as archive:
            if "data" not in archive.namelist():
                raise ValueError(f"{path} is a zip file but not a saved model (no 'data' entry)")
            corrupt = archive.testzip()  # every entry's CRC: SB3 would call a bad one "not a zip-file"
            if corrupt is not None:
                raise ValueError(f"{path} " + DAMAGED.format(f"its entry '{corrupt}' fails its checksum"))
            return json_to_data(archive.read("data").decode(), custom_objects=custom_objects)
    except zipfile.BadZipFile as e:
        file.seek(start)
        if file.read(4) == b"PK\x03\x04":  # a zip's first entry, without the directory a finished zip ends with
            raise ValueError(f"{path} " + DAMAGED.format("a zip file cut short")) from e
        raise ValueError(f"{path} is not a saved model: not a zip file") from e
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path} is not a saved model: its 'data' entry is not SB3's JSON") from e


def legacy_settings(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The settings a file of an earlier version was trained with and does not record:
    (constructor attributes, policy keywords). Both are empty for a file of this version."""
    attributes: dict[str, Any] = {}
    policy_kwargs: dict[str, Any] = {}
    saved_policy_kwargs = data.get("policy_kwargs") or {}
    for legacy in LEGACY_DEFAULTS:
        if legacy.in_policy_kwargs:
            if VERSION_KEY not in data and legacy.name not in saved_policy_kwargs:
                policy_kwargs[legacy.name] = legacy.old
        elif legacy.name not in data:
            attributes[legacy.name] = legacy.old
    return attributes, policy_kwargs


def legacy_message(data: dict[str, Any], attributes: dict[str, Any], policy_kwargs: dict[str, Any]) -> str:
    """One line saying which earlier defaults a loaded file keeps."""
    saved_by = data.get(VERSION_KEY, "a version before 0.3.0")
    kept = [f"{k}={v!r}" for k, v in attributes.items()] + [f"policy_kwargs {k}={v!r}" for k, v in policy_kwargs.items()]
    return (
        f"PaperDDPG: this file was saved by sb3_ddpg_ext {saved_by}; it loads with the settings it was trained with, "
        f"which are no longer the defaults: {', '.join(kept)} (CHANGELOG.md)"
    )


def _umask() -> int:
    """The process's umask (read by setting it and setting it back, as there is no getter before Python 3.13's)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_file(path: str | pathlib.Path) -> Iterator[pathlib.Path]:
    """A temporary path beside ``path`` to write to; renamed over ``path`` once written and flushed to disk.

    A crash, a kill or a full disk mid-write leaves the previous file (or none) under the final name, never a
    truncated one; the partial file is removed when the writer raises.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    os.close(fd)
    tmp = pathlib.Path(name)
    try:
        yield tmp
        with tmp.open("rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's file is 0600: give it the mode open() would have
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        if e.filename:
            raise
        raise OSError(e.errno, e.strerror or str(e), str(path)) from e  # name the file the write was for
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save_atomically(path: str | pathlib.Path | io.BufferedIOBase, write: Callable[[Any], None], suffix: str) -> None:
    """``write(path)`` (SB3's ``save`` or ``save_replay_buffer``), atomic for a path (:func:`atomic_file`; ``suffix``
    appended when the name has none, as SB3 does); a buffer is written as is."""
    if isinstance(path, io.BufferedIOBase):
        return write(path)
    final = pathlib.Path(path)
    with atomic_file(final if final.suffix else final.with_name(final.name + suffix)) as tmp:
        write(tmp)


def zip_path(path: str | pathlib.Path) -> pathlib.Path:
    """The file SB3's ``save`` writes for ``path``: ``.zip`` appended when the name has no suffix."""
    path = pathlib.Path(path)
    return path if path.suffix else path.with_name(path.name + ".zip")


# The VecNormalize settings a model needs to see observations as it saw them in training; saved in the model's data
# (``observation_normalization``), so that a model.zip copied without its vecnormalize.pkl still evaluates right.
NORMALIZATION_KEYS = ("obs_rms", "clip_obs", "epsilon", "norm_obs", "norm_obs_keys")


def normalization_state(vec_normalize: Any) -> dict[str, Any] | None:
    """The observation statistics and settings of a VecNormalize (None without one)."""
    if vec_normalize is None:
        return None
    return {key: getattr(vec_normalize, key) for key in NORMALIZATION_KEYS if hasattr(vec_normalize, key)}


# Wrappers SB3 adds around every env it wraps (``Monitor``): not part of the env a user made.
SB3_WRAPPERS = ("stable_baselines3.common.monitor:",)


def shortest_time_limit(env: Any) -> int | None:
    """The shortest ``TimeLimit`` in the wrapper chain of a DummyVecEnv's first env (the one that truncates its
    episodes); None for other VecEnvs (their envs live in other processes) or without a time limit."""
    from gymnasium.wrappers import TimeLimit
    from stable_baselines3.common.vec_env import DummyVecEnv

    while hasattr(env, "venv"):  # VecNormalize, VecCheckNan, ...
        env = env.venv
    limits, inner = [], env.envs[0] if isinstance(env, DummyVecEnv) else None
    while inner is not None:
        if isinstance(inner, TimeLimit):
            limits.append(inner._max_episode_steps)
        inner = getattr(inner, "env", None)
    return min(limits) if limits else None


def recorded_env_spec(spec: Any, time_limit: int | None = None) -> tuple[str | None, str | None]:
    """(gymnasium's JSON of ``spec``, None) for an env made with other kwargs, time limit or wrappers than its id's
    registration gives; (None, None) for one made from the id alone; (None, what) for one gymnasium could not remake
    from a spec (a kwarg that is an object, a wrapper that does not record its arguments). SB3's Monitor and
    ``render_mode`` (how to show the env, not the task) are left out. ``time_limit``: the env's own, where it is not
    the spec's (gymnasium's spec takes the outermost ``TimeLimit``, which an inner, shorter one overrides)."""
    import dataclasses

    import gymnasium as gym

    wrappers = tuple(w for w in spec.additional_wrappers if not str(w.entry_point).startswith(SB3_WRAPPERS))
    kwargs = {k: v for k, v in spec.kwargs.items() if k != "render_mode"}
    if time_limit is not None:
        spec = dataclasses.replace(spec, max_episode_steps=time_limit)
    unrecorded = [w.name for w in wrappers if w.kwargs is None]  # gym.make(spec) refuses those
    if unrecorded:
        return None, (
            f"the wrapper {', '.join(unrecorded)} (it does not record its arguments: gymnasium.utils.RecordConstructorArgs)"
        )
    try:
        registered = gym.spec(spec.id)
    except gym.error.Error:
        registered = None
    if registered is not None and not wrappers and spec.max_episode_steps == registered.max_episode_steps:
        try:
            if kwargs == registered.kwargs:
                return None, None
        except ValueError:  # a numpy array among the kwargs has no single truth value: they differ
            pass
    try:
        return dataclasses.replace(spec, kwargs=kwargs, additional_wrappers=wrappers).to_json(), None
    except (ValueError, TypeError):
        what = [f"{k}={v!r}" for k, v in kwargs.items()] + [f"the wrapper {w.name}" for w in wrappers]
        return None, f"{', '.join(what)} (values that cannot be saved as JSON)"


def training_env_spec(data: dict[str, Any]) -> Any:
    """The spec of the env a model (its attributes, or a saved file's ``data``) was trained on: the recorded one
    (:func:`recorded_env_spec`) or the registered spec of its ``env_id`` (None without an id). A ValueError when the
    env was made with values that could not be saved."""
    import gymnasium as gym
    from gymnasium.envs.registration import EnvSpec

    if data.get("env_spec_unsaved"):
        raise ValueError(f"PaperDDPG: its training env {data.get('env_id')} was made with {data['env_spec_unsaved']}")
    if data.get("env_spec"):  # absent from files saved before 0.5.2
        return EnvSpec.from_json(data["env_spec"])
    return gym.spec(data["env_id"]) if data.get("env_id") else None
