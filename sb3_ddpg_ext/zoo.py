"""rl-zoo3 glue: ``paper_ddpg`` as an rl-zoo3 algorithm, run through rl-zoo3's own train, enjoy and optimize.

sb3-ddpg zoo train --env Pendulum-v1 [any rl-zoo3 flag]     (-conf defaults to the shipped zoo_configs/paper_ddpg.yml)
sb3-ddpg zoo enjoy --env Pendulum-v1 -f logs/ --no-render
sb3-ddpg zoo optimize --env Pendulum-v1 --n-trials 20

rl-zoo3 reads its algorithms, samplers and arguments from module globals (``ALGOS``, ``HYPERPARAMS_SAMPLER``,
``sys.argv``). :func:`registered` sets them for the length of one command and restores every one afterwards.
"""

import contextlib
import sys
from collections.abc import Iterator
from typing import Any
from unittest import mock

import rl_zoo3.enjoy
import rl_zoo3.train
from rl_zoo3.exp_manager import ExperimentManager
from rl_zoo3.hyperparams_opt import HYPERPARAMS_CONVERTER, HYPERPARAMS_SAMPLER
from rl_zoo3.utils import ALGOS
from stable_baselines3.common.utils import LinearSchedule

from sb3_ddpg_ext.envs import ROBOTICS_PREFIXES
from sb3_ddpg_ext.errors import UserError
from sb3_ddpg_ext.experiment import check_names
from sb3_ddpg_ext.paper_ddpg import PaperDDPG
from sb3_ddpg_ext.resources import default_zoo_config, her_zoo_config
from sb3_ddpg_ext.search_space import sample_params

ALGO = "paper_ddpg"
COMMANDS = ("train", "enjoy", "optimize")
# Keys rl-zoo3 consumes itself before it builds the algorithm.
ZOO_KEYS = {"n_timesteps", "policy", "n_envs", "normalize", "env_wrapper", "vec_env_wrapper", "frame_stack", "callback",
            "env_kwargs", "noise_type", "noise_std"}  # fmt: skip


def check_config(env_id: str, hyperparams: dict[str, Any]) -> None:
    """Unknown keys and typos give one error naming the key (rl-zoo3 would fail later with a TypeError)."""
    # rl-zoo3's Gaussian noise (noise_type: normal, the HER paper's) is fine; its OU noise is not the paper's process
    if "ornstein" in str(hyperparams.get("noise_type", "")):
        raise UserError(
            f"{env_id}: 'noise_type' builds rl-zoo3's OU noise with dt=0.01, not the paper's dt=1; "
            "use ou_sigma and ou_theta (and ou_sigma_final for a decay) instead"
        )
    check_names(hyperparams, f"{env_id} config", extra=ZOO_KEYS)


class _TrialId(int):
    """rl-zoo3 checks ``if self.trial_id`` and so ignores ``--trial-id 0``; this id is truthy."""

    def __bool__(self) -> bool:
        return True


class PaperExperimentManager(ExperimentManager):
    """rl-zoo3's ExperimentManager, with config checks, ``--trial-id 0`` and lin_X schedules for both learning rates."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.algo == ALGO and self.trial_id is not None:
            self.trial_id = _TrialId(self.trial_id)

    def read_hyperparameters(self) -> tuple[dict[str, Any], dict[str, Any]]:
        hyperparams, saved_hyperparams = super().read_hyperparameters()
        if self.algo == ALGO:
            check_config(self.env_name.gym_id, hyperparams)
        return hyperparams, saved_hyperparams

    @staticmethod
    def is_robotics_env(env_id: str) -> bool:
        # rl-zoo3 looks for gym's old robotics module: gymnasium-robotics' goal envs get their success rate logged too
        entry_point = str(ExperimentManager.entry_point(env_id))
        return ExperimentManager.is_robotics_env(env_id) or entry_point.startswith("gymnasium_robotics.")

    @staticmethod
    def _preprocess_schedules(hyperparams: dict[str, Any]) -> dict[str, Any]:
        hyperparams = ExperimentManager._preprocess_schedules(hyperparams)
        for key in ("actor_learning_rate", "critic_learning_rate"):
            value = hyperparams.get(key)
            if isinstance(value, str) and value.startswith("lin_"):
                hyperparams[key] = LinearSchedule(float(value[4:]), 0.0, 1.0)
        return hyperparams


class _EnjoyPaperDDPG(PaperDDPG):
    """rl-zoo3's enjoy loads the off-policy algorithms of its hard-coded list with a 1-transition buffer."""

    @classmethod
    def load(cls, path: Any, **kwargs: Any) -> PaperDDPG:  # type: ignore[override]
        kwargs.setdefault("buffer_size", 1)
        kwargs.setdefault("optimize_memory_usage", False)
        return PaperDDPG.load(path, **kwargs)


def sample_paper_ddpg_params(trial: Any, n_actions: int, n_envs: int, additional_args: dict) -> dict[str, Any]:
    """rl-zoo3 sampler: tau, actor and critic learning rates and OU sigma (dt stays 1)."""
    return sample_params(trial)


def convert_paper_ddpg_params(params: dict[str, Any]) -> dict[str, Any]:
    """rl-zoo3 converter for ``--trial-id``: the trial's parameter names are PaperDDPG arguments already."""
    return dict(params)


@contextlib.contextmanager
def registered(argv: list[str], enjoy: bool = False) -> Iterator[None]:
    """``paper_ddpg`` in rl-zoo3's registries and ``argv`` as ``sys.argv``, for the duration of the block only."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.dict(ALGOS, {ALGO: _EnjoyPaperDDPG if enjoy else PaperDDPG}))
        stack.enter_context(mock.patch.dict(HYPERPARAMS_SAMPLER, {ALGO: sample_paper_ddpg_params}))
        stack.enter_context(mock.patch.dict(HYPERPARAMS_CONVERTER, {ALGO: convert_paper_ddpg_params}))
        stack.enter_context(mock.patch.object(rl_zoo3.train, "ExperimentManager", PaperExperimentManager))
        stack.enter_context(mock.patch.object(sys, "argv", argv))
        yield


def _env_id(args: list[str]) -> str:
    for flag in ("--env", "-e"):
        if flag in args[:-1]:
            return args[args.index(flag) + 1]
    return ""


def _with_defaults(args: list[str], *, config: bool) -> list[str]:
    """Add ``--algo paper_ddpg`` (and the shipped paper config) when the user gave none.

    For a gymnasium-robotics id (FetchPush-v4): ``--gym-packages gymnasium_robotics`` (it registers the envs) and the
    HER paper's config ``zoo_configs/paper_ddpg_her.yml``.
    """
    args = list(args)
    robotics = _env_id(args).startswith(ROBOTICS_PREFIXES)
    if "--algo" not in args:
        args = ["--algo", ALGO, *args]
    if config and not {"-conf", "--conf-file"} & set(args):
        args += ["-conf", str(her_zoo_config() if robotics else default_zoo_config())]
    if robotics and "--gym-packages" not in args:
        args += ["--gym-packages", "gymnasium_robotics"]
    return args


def main(argv: list[str]) -> int:
    """``sb3-ddpg zoo {train,enjoy,optimize} [rl-zoo3 flags]``; a UserError reaches the CLI."""
    if not argv or argv[0] not in COMMANDS:
        raise UserError(f"usage: sb3-ddpg zoo {{{','.join(COMMANDS)}}} [rl-zoo3 flags]")
    command, rest = argv[0], argv[1:]
    if command == "enjoy":
        with registered(["rl_zoo3 enjoy", *_with_defaults(rest, config=False)], enjoy=True):
            rl_zoo3.enjoy.enjoy()
    else:
        extra = ["-optimize"] if command == "optimize" and "-optimize" not in rest else []
        with registered(["rl_zoo3 train", *_with_defaults(rest + extra, config=True)]):
            rl_zoo3.train.train()
    return 0
