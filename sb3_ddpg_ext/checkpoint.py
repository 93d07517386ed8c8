"""Checkpoints of a run: everything needed to continue it after a stop, a crash or a kill.

A checkpoint is a folder ``checkpoints/step-<N>/`` holding the model (weights, optimizers, step counter, noise state:
SB3's ``save``), the replay buffer (SB3's ``save_replay_buffer``), the VecNormalize statistics where present, and
``state.pkl`` (the run's options, the random generators, the evaluation history). It is written under a temporary
name and renamed into place once every file is on disk, so a kill or a full disk mid-save leaves the previous
checkpoint as the newest complete one. A run that completes writes ``checkpoints/finished.json`` last: nothing is
left to resume. SB3's ``CheckpointCallback`` is not used as it is: it writes a new set of
files per checkpoint, in place, without the generators or the evaluation history.
"""

import json
import os
import pickle
import random
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np
import torch as th
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import Logger, TensorBoardOutputFormat, make_output_format
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.utils import get_latest_run_id
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from sb3_ddpg_ext.errors import UserError
from sb3_ddpg_ext.paper_ddpg.buffers import restore_capacity
from sb3_ddpg_ext.paper_ddpg.save_util import atomic_file
from sb3_ddpg_ext.rundir import NORMALIZATION_FILE

CHECKPOINTS = "checkpoints"
PREFIX = "step-"
FINISHED = "finished.json"  # under CHECKPOINTS: the run reached its budget and wrote its files
RUN_FILE_PREFIX = "run-"  # a run file as it was at the checkpoint (run-best_model.zip), beside the checkpoint's own


def random_states(model: BaseAlgorithm) -> dict[str, Any]:
    """The generators a run draws from: Python's, numpy's, torch's, and the action space's (warm-up actions)."""
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": th.get_rng_state(),
        "action_space": model.action_space.np_random.bit_generator.state,
    }


def set_random_states(model: BaseAlgorithm, states: dict[str, Any]) -> None:
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    th.set_rng_state(states["torch"])
    model.action_space.np_random.bit_generator.state = states["action_space"]


def _fsync_folder(folder: Path) -> None:
    for path in folder.iterdir():
        with path.open("rb+") as f:
            os.fsync(f.fileno())


def save_checkpoint(folder: Path, model: OffPolicyAlgorithm, state: dict[str, Any], run_files: Sequence[Path] = ()) -> Path:
    """Write the checkpoint of ``model`` at its current step under ``folder``, with a copy of each of ``run_files``
    that exists (the run's best model as it is now); older checkpoints are removed after."""
    name = f"{PREFIX}{model.num_timesteps:012d}"
    partial = folder / f".{name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        for path in run_files:
            if path.is_file():
                shutil.copyfile(path, partial / f"{RUN_FILE_PREFIX}{path.name}")
        model.save(partial / "model.zip")
        save_replay_buffer_rows(model, partial / "replay_buffer.pkl")
        normalize = model.get_vec_normalize_env()
        if normalize is not None:
            normalize.save(str(partial / NORMALIZATION_FILE))
        state = {**state, "algorithm": type(model), "num_timesteps": model.num_timesteps, "random": random_states(model)}
        with (partial / "state.pkl").open("wb") as f:
            cloudpickle.dump(state, f)
        _fsync_folder(partial)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)  # a full disk or a kill: the previous checkpoint stays the newest
        raise
    final = folder / name
    shutil.rmtree(final, ignore_errors=True)  # the same step written again after a resume
    os.rename(partial, final)
    for old in folder.iterdir():
        if old != final and (old.name.startswith(PREFIX) or old.name.endswith(".partial")):
            shutil.rmtree(old, ignore_errors=True)
    return final


def save_replay_buffer_rows(model: OffPolicyAlgorithm, path: Path) -> None:
    """The replay buffer as SB3 saves it, with only the rows written when it has not wrapped yet (a pixel run's 1e5
    uint8 buffer is 3.7 GB whole, a Fetch HER run's 1e6 about 300 MB). SB3's ReplayBuffer, DictReplayBuffer and
    HerReplayBuffer, and Float32ReplayBuffer; other classes (a user's subclass) are saved whole."""
    from stable_baselines3 import HerReplayBuffer
    from stable_baselines3.common.buffers import DictReplayBuffer, ReplayBuffer

    from sb3_ddpg_ext.paper_ddpg.buffers import SAVED_ROWS, Float32ReplayBuffer, first_rows, row_arrays

    buffer = model.replay_buffer
    known = (ReplayBuffer, DictReplayBuffer, HerReplayBuffer, Float32ReplayBuffer)
    if buffer is None or type(buffer) not in known or buffer.full:
        model.save_replay_buffer(path)
        return
    rows = buffer.pos + 1  # pos < buffer_size: not full
    whole = row_arrays(buffer)
    try:
        for name, array in whole.items():
            buffer.__dict__[name] = first_rows(array, rows)
        buffer.__dict__[SAVED_ROWS] = rows
        model.save_replay_buffer(path)
    finally:
        buffer.__dict__.update(whole)
        buffer.__dict__.pop(SAVED_ROWS, None)


def latest_checkpoint(folder: Path) -> Path | None:
    """The newest complete checkpoint under ``folder`` (only complete ones carry the ``step-`` name), or None."""
    found = sorted(p for p in folder.glob(f"{PREFIX}*") if (p / "state.pkl").is_file()) if folder.is_dir() else []
    return found[-1] if found else None


def write_finished(folder: Path, timesteps: int) -> Path:
    """Records under ``folder`` (a run's checkpoints) that the run finished at ``timesteps``: the last write of a run
    that completed and saved its files, atomic, so a run stopped, interrupted or killed before its end has none."""
    with atomic_file(folder / FINISHED) as tmp:
        tmp.write_text(json.dumps({"timesteps": timesteps}) + "\n")
    return folder / FINISHED


def read_finished(folder: Path) -> int | None:
    """The step at which the run of the checkpoints in ``folder`` finished (``write_finished``), or None."""
    path = folder / FINISHED
    if not path.is_file():
        return None
    try:
        return int(json.loads(path.read_text())["timesteps"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UserError(f"{path} is not readable ({type(e).__name__}: {e}): the run finished; nothing to resume") from e


def read_state(checkpoint: Path) -> dict[str, Any]:
    try:
        with (checkpoint / "state.pkl").open("rb") as f:
            return pickle.load(f)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError) as e:
        raise UserError(f"{checkpoint} is not a readable checkpoint ({type(e).__name__}: {e})") from e


def restore_run_files(checkpoint: Path, out: Path, names: Sequence[str]) -> None:
    """Put back the run files ``names`` (saved models) in ``out`` as ``checkpoint`` holds them, and remove those it does
    not hold: a run that stopped after its checkpoint may have written a new best model, of weights the resumed run
    never has. A checkpoint of a version before 0.5.1 holds none: a file saved at or before its step is kept."""
    from sb3_ddpg_ext.paper_ddpg.save_util import read_saved_data

    step = int(read_state(checkpoint).get("num_timesteps", -1))
    for name in names:
        saved = checkpoint / f"{RUN_FILE_PREFIX}{name}"
        if saved.is_file():
            with atomic_file(out / name) as tmp:
                shutil.copyfile(saved, tmp)
        elif (out / name).is_file():
            try:
                kept = int(read_saved_data(out / name).get("num_timesteps", step + 1)) <= step
            except (OSError, ValueError):
                kept = False
            if not kept:
                (out / name).unlink()


def load_checkpoint(checkpoint: Path, env: VecEnv, device: str = "auto") -> tuple[OffPolicyAlgorithm, dict[str, Any]]:
    """The model of ``checkpoint`` on ``env`` (a new episode starts), with its replay buffer, normalization statistics
    and random generators restored; and the checkpoint's state."""
    state = read_state(checkpoint)
    try:  # a checkpoint is renamed into place whole: a file missing or damaged in it was removed or changed since
        model = state["algorithm"].load(_present(checkpoint / "model.zip"), env=env, device=device)
        model.load_replay_buffer(_present(checkpoint / "replay_buffer.pkl"))
        restore_capacity(model.replay_buffer)  # a buffer saved with its written rows only (save_replay_buffer_rows)
    except (OSError, ValueError) as e:
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
        damaged = isinstance(e, OSError) or any(
            sign in reason for sign in ("is damaged", "not a saved model", "zip", "cannot be read as a replay buffer")
        )
        if not damaged:  # the env it resumes on differs from the run's (an edited env, an upgraded dependency)
            raise UserError(f"{checkpoint} cannot be resumed here: {reason}") from e
        raise UserError(f"{checkpoint} is damaged ({reason}): it cannot be resumed; start the run again") from e
    normalize = model.get_vec_normalize_env()
    if (checkpoint / NORMALIZATION_FILE).is_file() and normalize is not None:
        saved = VecNormalize.load(str(checkpoint / NORMALIZATION_FILE), env)
        normalize.obs_rms, normalize.ret_rms = saved.obs_rms, saved.ret_rms
    set_random_states(model, state["random"])
    return model, state


def _present(path: Path) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"{path.name} is missing")
    return path


class Checkpointer(BaseCallback):
    """Writes a checkpoint every ``every`` env steps, after that rollout's gradient steps (as ``EvalAfterUpdates``),
    so the saved weights include the updates of every transition in the saved replay buffer.

    :param folder: where the ``step-<N>`` folders go
    :param every: env steps between checkpoints
    :param state: returns what else the run needs to continue (its options, the evaluation history)
    :param run_files: files of the run folder saved with each checkpoint as they are then (its best model)
    """

    model: OffPolicyAlgorithm  # a checkpoint holds the replay buffer

    def __init__(self, folder: Path, every: int, state: Callable[[], dict[str, Any]], run_files: Sequence[Path] = ()) -> None:
        super().__init__()
        self.folder, self.every, self.state, self.run_files = folder, every, state, run_files
        self.next_checkpoint = every
        self.written: Path | None = None

    def _init_callback(self) -> None:
        self.next_checkpoint = (self.model.num_timesteps // self.every + 1) * self.every

    def _on_step(self) -> bool:
        return True

    def _on_rollout_start(self) -> None:
        self.save_if_due()

    def _on_training_end(self) -> None:
        self.save_if_due()

    def save_if_due(self) -> None:
        if self.model.num_timesteps < self.next_checkpoint:
            return
        self.next_checkpoint = (self.model.num_timesteps // self.every + 1) * self.every
        self.written = save_checkpoint(self.folder, self.model, self.state(), self.run_files)


class PurgingTensorBoardOutputFormat(TensorBoardOutputFormat):
    """SB3's TensorBoard output, its writer opened with ``purge_step``: TensorBoard hides the events of the run folder
    at steps >= ``purge_step`` written before it (a stopped run's steps after its checkpoint)."""

    def __init__(self, folder: str, purge_step: int) -> None:
        from torch.utils.tensorboard import SummaryWriter

        # As TensorBoardOutputFormat.__init__, which takes no purge_step (it would open a second event file first).
        self.writer = SummaryWriter(log_dir=folder, purge_step=purge_step)
        self._is_closed = False


def resumed_logger(model: BaseAlgorithm, tb_log_name: str, folder: str | None = None) -> Logger | None:
    """The logger SB3's ``configure_logger`` gives a continued run (the same formats), in the run's own TensorBoard
    folder (``folder``, saved with the checkpoint), with the events written after the checkpoint by the run that
    stopped purged; None without TensorBoard."""
    if model.tensorboard_log is None:
        return None  # SB3's own logger: nothing is written to a file that a stopped run could have written too
    if folder is None:  # a checkpoint from before 0.5.1: SB3's choice (reset_num_timesteps=False), the newest folder
        folder = os.path.join(model.tensorboard_log, f"{tb_log_name}_{get_latest_run_id(model.tensorboard_log, tb_log_name)}")
    # Events at the checkpoint's own step (its evaluation, an episode's log) were written before it: kept.
    tensorboard = PurgingTensorBoardOutputFormat(folder, purge_step=model.num_timesteps + 1)
    outputs = [make_output_format("stdout", folder)] if model.verbose >= 1 else []
    logger = Logger(folder=folder, output_formats=[*outputs, tensorboard])
    logger.log(f"Logging to {folder}")
    return logger
