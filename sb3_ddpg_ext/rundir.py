"""Run folders: a new run's folder is checked before anything is built, and never mixes two runs' files."""

import os
import shutil
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
)


def prepare_run_dir(out: Path, overwrite: bool = False) -> Path:
    """A writable folder for a new run, checked before anything is built.

    A file in its place, an unwritable place, or a folder that already holds a run (any of :data:`RUN_FILES`) is
    refused; ``overwrite`` removes the earlier run's files first, so nothing of the two runs mixes.
    """
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file, not a folder: give a folder for the run")
    existing = [out / name for name in RUN_FILES if (out / name).exists()]
    if existing and not overwrite:
        raise UserError(
            f"--out {out} already holds a run ({', '.join(p.name for p in existing)}): "
            "give another folder, or --overwrite to replace it"
        )
    writable_folder(out, "--out")
    for path in existing:
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    return out


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
