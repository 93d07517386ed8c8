"""rl-zoo3's enjoy with ``paper_ddpg``: how it loads the model, finds it, and normalizes the env it plays in
(``zoo.registered(enjoy=True)`` applies :func:`patch_enjoy` for one command)."""

import contextlib
import functools
from collections.abc import Callable
from typing import Any
from unittest import mock

import rl_zoo3.enjoy
from rl_zoo3.utils import get_model_path

from sb3_ddpg_ext.errors import UserError
from sb3_ddpg_ext.paper_ddpg import PaperDDPG


class EnjoyPaperDDPG(PaperDDPG):
    """rl-zoo3's enjoy loads the off-policy algorithms of its hard-coded list with a 1-transition buffer. It also
    passes every algorithm zeroed schedules (``learning_rate: 0.0``, for files whose schedules do not unpickle):
    PaperDDPG's do, and a zero learning rate is not a value PaperDDPG accepts."""

    @classmethod
    def load(cls, path: Any, **kwargs: Any) -> PaperDDPG:  # type: ignore[override]  # for rl-zoo3 enjoy: path and keywords, gives a PaperDDPG
        kwargs.setdefault("buffer_size", 1)
        kwargs.setdefault("optimize_memory_usage", False)
        kwargs.pop("custom_objects", None)
        return PaperDDPG.load(path, **kwargs)


def found_model_path(loaded: list[str], *args: Any, **kwargs: Any) -> Any:
    """rl-zoo3's ``get_model_path``, the file it picks noted in ``loaded``; a missing folder or checkpoint is one line,
    not an AssertionError traceback."""
    try:
        name, model_path, log_path = get_model_path(*args, **kwargs)
    except (AssertionError, ValueError) as e:
        raise UserError(f"{e}: train an agent first with 'sb3-ddpg zoo train --env ENV -f FOLDER', then pass -f FOLDER") from e
    loaded.append(model_path)
    return name, model_path, log_path


def normalized_test_env(loaded: list[str], create_test_env: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """rl-zoo3's ``create_test_env``, normalized with the statistics saved in the model enjoy loads (``PaperDDPG.save``
    keeps them): rl-zoo3 reads the folder's vecnormalize.pkl, the run's last, for best_model.zip and checkpoints too."""
    from stable_baselines3.common.vec_env import unwrap_vec_normalize

    from sb3_ddpg_ext.paper_ddpg.save_util import read_saved_data

    env = create_test_env(*args, **kwargs)
    normalize = unwrap_vec_normalize(env)
    if normalize is not None and loaded:
        normalize.__dict__.update(read_saved_data(loaded[-1]).get("observation_normalization") or {})
    return env


def no_hub_download(*args: Any, **kwargs: Any) -> None:
    raise UserError("no trained paper_ddpg agent here (the SB3 hub has none): pass -f FOLDER of 'sb3-ddpg zoo train'")


def patch_enjoy(stack: contextlib.ExitStack) -> None:
    """rl-zoo3's enjoy, for the life of ``stack``: a missing model or folder in one line, no hub download, and the
    env normalized with the statistics saved in the model it loads."""
    loaded: list[str] = []
    stack.enter_context(mock.patch.object(rl_zoo3.enjoy, "get_model_path", functools.partial(found_model_path, loaded)))
    stack.enter_context(mock.patch.object(rl_zoo3.enjoy, "download_from_hub", no_hub_download))
    create = functools.partial(normalized_test_env, loaded, rl_zoo3.enjoy.create_test_env)
    stack.enter_context(mock.patch.object(rl_zoo3.enjoy, "create_test_env", create))
