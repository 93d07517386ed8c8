"""Run folders: a new run's folder is checked before anything is built, never mixes two runs' files, and is used by
one process at a time (``run_folder_lock``)."""

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from sb3_ddpg_ext.errors import UserError

# SB3's VecNormalize statistics of a run (``VecNormalize.save``), beside its model and in each checkpoint.
NORMALIZATION_FILE = "vecnormalize.pkl"

# The best evaluation's model (SB3's ``EvalCallback``), in a run folder and, as it was then, in each checkpoint.
BEST_MODEL_FILE = "best_model.zip"

# The files a run folder of ``sb3-ddpg train`` may hold: a folder with any of them holds a run.
RUN_FILES = (
    "model.zip",
    BEST_MODEL_FILE,
    "evaluations.csv",
    "evaluations.npz",
    "learning_curve.png",
    NORMALIZATION_FILE,
    "checkpoints",
    "model_returns.png",  # sb3-ddpg evaluate's histograms, beside the models
    "best_model_returns.png",
)


# Held (``fcntl.flock``) by the process training in a run folder; the kernel drops it when that process ends, however.
LOCK_FILE = ".sb3-ddpg.lock"
_held: dict[Path, tuple[int, int]] = {}  # run folder -> (lock file descriptor, nesting depth) in this process


def prepare_run_dir(out: Path, overwrite: bool = False) -> Path:
    """A writable folder for a new run, checked before anything is built.

    A file in its place, an unwritable place, or a folder that already holds a run (any of :data:`RUN_FILES`) is
    refused, unless ``overwrite``: then ``clear_run_dir``, under the folder's lock, removes the earlier run's files.
    """
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file, not a folder: give a folder for the run")
    existing = [out / name for name in RUN_FILES if (out / name).exists()]
    if existing and not overwrite:
        raise UserError(
            f"--out {out} already holds a run ({', '.join(p.name for p in existing)}): "
            "give another folder, or --overwrite to replace it"
        )
    return writable_folder(out, "--out")


def clear_run_dir(out: Path) -> None:
    """Removes an earlier run's files (:data:`RUN_FILES`) from ``out``, so nothing of two runs mixes. Call it holding
    the folder (``run_folder_lock``): a process still training there would go on writing among the new run's files."""
    for path in (out / name for name in RUN_FILES):
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def remove_scratch_files(out: Path) -> None:
    """Removes what a killed process left in the run folder ``out``: the scratch files of its atomic writes
    (``.<name>.<random>.partial``, ``.evaluations-<pid>-<id>.partial.npz``) and a checkpoint it was writing
    (``checkpoints/.step-<N>.partial``). Call it holding the folder: no other process is writing there."""
    for scratch in [*out.glob(".*.partial*"), *(out / "checkpoints").glob(".*.partial")]:
        shutil.rmtree(scratch) if scratch.is_dir() else scratch.unlink(missing_ok=True)


@contextlib.contextmanager
def run_folder_lock(out: Path) -> Iterator[Path]:
    """Holds the run folder ``out`` for this process: another process that asks for it (a second ``--resume`` of the
    run, an ``--overwrite`` of it, a second campaign on the same results) gets one line instead of two runs writing
    the same checkpoints. Nests within a process. Where the file system cannot lock (some network ones), no lock."""
    key = out.resolve()
    if key in _held:
        fd, depth = _held[key]
        _held[key] = (fd, depth + 1)
    else:
        _held[key] = (_lock(out), 1)
    try:
        yield out
    finally:
        fd, depth = _held.pop(key)
        if depth > 1:
            _held[key] = (fd, depth - 1)
        elif fd >= 0:
            os.close(fd)  # releases the lock


def _lock(out: Path) -> int:
    """The descriptor of ``out``'s lock file, locked; -1 where locks are not available."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks from the standard library
        return -1
    fd = os.open(out / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 64).decode(errors="replace").strip()
        os.close(fd)
        raise UserError(
            f"{out} is in use by another process{f' (pid {holder})' if holder.isdigit() else ''}: wait for it to "
            "end, or stop it, then try again"
        ) from None
    except OSError:  # no locking on this file system
        os.close(fd)
        return -1
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd


def writable_folder(folder: Path, option: str) -> Path:
    """``folder`` exists (created if needed) and a file can be written in it; checked by writing one."""
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{option} {folder} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".sb3-ddpg-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise UserError(f"{option} {folder} is not a writable folder: {e.strerror or e}") from e
    return folder


def writable_file(path: Path, option: str) -> Path:
    """A file about to be written: not a folder, in a writable folder."""
    if path.is_dir():
        raise UserError(f"{option} {path} is a folder: give a file path")
    writable_folder(path.parent, option)
    return path
