"""Checkpoints of unfinished campaign runs, small enough to commit, so a campaign survives a change of machine.

A run keeps its checkpoints under ``~/.cache`` (``reproduce.CHECKPOINT_ROOT``), which a new machine does not have: a
session handed one restarts every unfinished run from step 0 (on 2026-12-01 that cost two HalfCheetah ``zoo-ddpg``
runs at 225k and 70k steps, about 4 process-hours). ``reproduce.py stash`` copies each unfinished run's newest
checkpoint beside its CSV (``seed<k>.checkpoint/``), and ``reproduce.py run`` resumes from that copy when the cache
holds none as new.

The copy is the checkpoint's files as they are, without the run's best model (the harness keeps the CSV only), and
with the replay buffer, most of its size, kept exactly but more compactly (in a compressed ``.npz``):
- the rows written only;
- a next observation only where it is not the next row's observation (an episode's end, the newest row, a resume);
- float64 observations as float32, the values the networks take (SB3's ``preprocess_obs`` casts them), except in a run
  that normalizes observations, whose VecNormalize scales them in float64 before that cast.
"""

import os
import pickle
import shutil
from pathlib import Path
from typing import Any, cast

import numpy as np

from sb3_ddpg_ext.checkpoint import PREFIX, RUN_FILE_PREFIX, latest_checkpoint
from sb3_ddpg_ext.paper_ddpg.buffers import ROW_ARRAYS, SAVED_ROWS
from sb3_ddpg_ext.rundir import NORMALIZATION_FILE

BUFFER = "replay_buffer.pkl"  # as the checkpoint holds it (checkpoint.save_replay_buffer_rows)
ARRAYS = "replay_buffer.npz"  # its rows, compacted
REST = "replay_buffer.rest.pkl"  # the rest of the buffer object: its class and its other attributes
OBSERVATIONS = ("observations", "next_observations")


class _Pickled:
    """Pickles as an instance of ``cls`` with ``state`` (what pickle writes for it), without making one."""

    def __init__(self, cls: type, state: dict[str, Any]) -> None:  # cls: a class whose __new__ is object's
        self.cls, self.state = cls, state

    def __reduce__(self) -> tuple[Any, ...]:
        return object.__new__, (self.cls,), self.state  # as pickle makes one: object.__new__(cls), then its state


def stash_step(stash: Path) -> int | None:
    """The step of the checkpoint stashed in ``stash``, or None where there is none."""
    found = sorted(stash.glob(f"{PREFIX}*")) if stash.is_dir() else []
    return int(found[-1].name.removeprefix(PREFIX)) if found else None


def compact_buffer(buffer_file: Path, normalized: bool) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The replay buffer in ``buffer_file``, as arrays to save with ``np.savez_compressed`` and the rest."""
    with buffer_file.open("rb") as f:
        buffer = pickle.load(f)
    getstate = getattr(buffer, "__getstate__", None)  # Float32ReplayBuffer's leaves out its tensor views
    state = dict(getstate() if getstate is not None else buffer.__dict__)
    rows = buffer.buffer_size if buffer.full else buffer.pos + 1  # as save_replay_buffer_rows saves them
    state.pop(SAVED_ROWS, None)
    # Numeric arrays; a Dict buffer's observations and HER's infos stay with the rest (their written rows only).
    numeric = [name for name in ROW_ARRAYS if isinstance(state.get(name), np.ndarray) and state[name].dtype != object]
    arrays = {name: state.pop(name)[:rows] for name in numeric}
    dtypes = {name: array.dtype.str for name, array in arrays.items()}
    stored = dict(arrays)
    if "next_observations" in arrays:
        obs, following = arrays["observations"], arrays["next_observations"]
        kept = np.ones(obs.shape[:2], dtype=bool)  # (rows, n_envs): next observations kept as they are
        kept[:-1] = ~(following[:-1] == obs[1:]).reshape(rows - 1, obs.shape[1], -1).all(axis=2)
        stored["next_observations"], stored["next_kept"] = following[kept], kept
    for name in OBSERVATIONS:
        if name in stored and stored[name].dtype == np.float64 and not normalized:
            stored[name] = stored[name].astype(np.float32)
    return stored, {"class": type(buffer), "state": state, "rows": rows, "dtypes": dtypes}


def expand_buffer(stored: dict[str, np.ndarray], rest: dict[str, Any]) -> _Pickled:
    """The buffer ``compact_buffer`` compacted, to pickle as the checkpoint held it (its written rows)."""
    dtypes = rest["dtypes"]
    arrays = {name: stored[name].astype(dtypes[name]) for name in dtypes if name != "next_observations"}
    if "next_observations" in dtypes:
        obs, kept = arrays["observations"], stored["next_kept"]
        following = np.empty_like(obs)
        following[:-1][~kept[:-1]] = obs[1:][~kept[:-1]]
        following[kept] = stored["next_observations"].astype(dtypes["next_observations"])
        arrays["next_observations"] = following
    return _Pickled(rest["class"], {**rest["state"], **arrays, SAVED_ROWS: rest["rows"]})


def stash(checkpoints: Path, destination: Path) -> Path | None:
    """Copy the newest checkpoint under ``checkpoints`` (a run's, possibly still writing new ones) to
    ``destination/step-<N>`` in place of any older one, compacted; None where there is none, or none newer."""
    for _ in range(3):  # a running run replaces its checkpoint by a newer one: copy that one instead
        checkpoint = latest_checkpoint(checkpoints)
        if checkpoint is None:
            return None
        step = int(checkpoint.name.removeprefix(PREFIX))
        stashed = stash_step(destination)
        if stashed is not None and stashed >= step:
            return None
        try:
            return _stash(checkpoint, destination / checkpoint.name)
        except FileNotFoundError:
            continue
    raise RuntimeError(f"{checkpoints}: the newest checkpoint changed three times while it was copied")


def _stash(checkpoint: Path, target: Path) -> Path:
    partial = target.parent / f".{target.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        for path in checkpoint.iterdir():  # not the run's best model (run-*): the harness keeps only the CSV
            if path.name != BUFFER and not path.name.startswith(RUN_FILE_PREFIX):
                shutil.copyfile(path, partial / path.name)
        stored, rest = compact_buffer(checkpoint / BUFFER, normalized=(checkpoint / NORMALIZATION_FILE).is_file())
        np.savez_compressed(partial / ARRAYS, **cast(dict[str, Any], stored))
        with (partial / REST).open("wb") as f:
            pickle.dump(rest, f)
        os.rename(partial, target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    for old in target.parent.iterdir():
        if old != target:
            shutil.rmtree(old, ignore_errors=True)
    return target


def unstash(destination: Path, checkpoints: Path) -> Path:
    """Write the checkpoint stashed in ``destination`` to ``checkpoints/step-<N>``, as the run wrote it."""
    source = sorted(destination.glob(f"{PREFIX}*"))[-1]
    target = checkpoints / source.name
    partial = checkpoints / f".{source.name}.partial"  # removed by the next checkpoint if a kill leaves it
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for path in source.iterdir():
        if path.name not in (ARRAYS, REST):
            shutil.copyfile(path, partial / path.name)
    with (source / REST).open("rb") as f:
        rest = pickle.load(f)
    with np.load(source / ARRAYS) as stored, (partial / BUFFER).open("wb") as f:
        pickle.dump(expand_buffer(dict(stored), rest), f, protocol=pickle.HIGHEST_PROTOCOL)
    shutil.rmtree(target, ignore_errors=True)
    os.rename(partial, target)
    return target
