"""rl-zoo3 glue: ``paper_ddpg`` as an rl-zoo3 algorithm, run through rl-zoo3's own train, enjoy and optimize.

sb3-ddpg zoo train --env Pendulum-v1 [any rl-zoo3 flag]     (-conf defaults to the shipped zoo_configs/paper_ddpg.yml)
sb3-ddpg zoo enjoy --env Pendulum-v1 -f logs/ --no-render
sb3-ddpg zoo optimize --env Pendulum-v1 --n-trials 20

rl-zoo3 reads its algorithms, samplers and arguments from module globals (``ALGOS``, ``HYPERPARAMS_SAMPLER``,
``sys.argv``). :func:`registered` sets them for the length of one command and restores every one afterwards.
"""

import contextlib
import importlib
import importlib.util
import itertools
import re
import signal
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar
from unittest import mock

import rl_zoo3.enjoy
import rl_zoo3.exp_manager
import rl_zoo3.train
import yaml
from rl_zoo3.exp_manager import ExperimentManager
from rl_zoo3.hyperparams_opt import HYPERPARAMS_CONVERTER, HYPERPARAMS_SAMPLER
from rl_zoo3.utils import ALGOS

from sb3_ddpg_ext.callbacks import EvalAfterUpdates
from sb3_ddpg_ext.envs import ROBOTICS_PREFIXES, check_env_id, register_robotics_envs
from sb3_ddpg_ext.errors import Interrupted, UserError, interrupted_message
from sb3_ddpg_ext.paper_ddpg import PaperDDPG
from sb3_ddpg_ext.paper_ddpg.budget import NoGradientStep
from sb3_ddpg_ext.params import check_names, read_config_values
from sb3_ddpg_ext.preflight import check_run_budget
from sb3_ddpg_ext.resources import default_zoo_config, her_zoo_config
from sb3_ddpg_ext.search_space import DEFAULT_SEARCH_SPACE, sample_params
from sb3_ddpg_ext.zoo_enjoy import EnjoyPaperDDPG, patch_enjoy

ALGO = "paper_ddpg"
COMMANDS = ("train", "enjoy", "optimize")
# Keys rl-zoo3 consumes itself before it builds the algorithm.
ZOO_KEYS = {
    "n_timesteps",
    "policy",
    "n_envs",
    "normalize",
    "env_wrapper",
    "vec_env_wrapper",
    "frame_stack",
    "callback",
    "env_kwargs",
    "noise_type",
    "noise_std",
}


def check_config(env_id: str, hyperparams: dict[str, Any]) -> dict[str, Any]:
    """Unknown keys, typos and values of the wrong type give one error naming the key (rl-zoo3 would fail later
    with a traceback). Returns the values read as the CLI reads them: ``1e-4`` (a string to YAML 1.1) is a number,
    ``lin_1e-4`` a linear schedule, ``replay_buffer_class: HerReplayBuffer`` the class."""
    where = f"{env_id} config"
    # rl-zoo3's Gaussian noise (noise_type: normal, the HER paper's) is fine; its OU noise is not the paper's process
    if "ornstein" in str(hyperparams.get("noise_type", "")):
        raise UserError(
            f"{env_id}: 'noise_type' builds rl-zoo3's OU noise with dt=0.01, not the paper's dt=1; "
            "use ou_sigma and ou_theta (and ou_sigma_final for a decay) instead"
        )
    # rl-zoo3 evaluates a policy_kwargs string itself (it may name torch classes, e.g. activation_fn=nn.Tanh)
    values = {k: v for k, v in hyperparams.items() if not (k == "policy_kwargs" and isinstance(v, str))}
    checked = read_config_values(values, where, extra=ZOO_KEYS)
    if isinstance(checked.get("action_noise"), str):
        raise UserError(
            f"{where}: action_noise: set ou_sigma (and ou_theta) for the paper's OU noise, or normal noise "
            "through the Python API"
        )
    return {**hyperparams, **checked}


class _TrialId(int):
    """rl-zoo3 checks ``if self.trial_id`` and so ignores ``--trial-id 0``; this id is truthy."""

    def __bool__(self) -> bool:
        return True


class PaperExperimentManager(ExperimentManager):
    """rl-zoo3's ExperimentManager, with config checks (names, types, lin_X schedules for both learning rates), an env
    missing from the config in one line, and ``--trial-id 0``."""

    interrupted: ClassVar[list[bool]] = []  # the Ctrl-C presses of the command that runs (:func:`noting_interrupts`)
    # What optimize samples (:func:`sample_paper_ddpg_params`): without ou_sigma when the config brings other noise.
    search_space: ClassVar[dict[str, Any]] = dict(DEFAULT_SEARCH_SPACE)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.algo == ALGO and self.trial_id is not None:
            self.trial_id = _TrialId(self.trial_id)

    def read_hyperparameters(self) -> tuple[dict[str, Any], dict[str, Any]]:
        try:
            hyperparams, saved_hyperparams = super().read_hyperparameters()
        except ValueError as e:
            if "Hyperparameters not found" not in str(e) or self.algo != ALGO:
                raise
            envs = ", ".join(configured_envs(self.config))
            raise UserError(f"{self.env_name.gym_id} has no entry in {self.config}; add one, or use one of: {envs}") from e
        if self.algo == ALGO:
            hyperparams = check_config(self.env_name.gym_id, hyperparams)
            # A config with its own noise (noise_type: normal, the HER preset's, with ou_sigma: 0): a sampled ou_sigma
            # would be refused next to it, or turn on an OU noise the config turned off.
            own_noise = "noise_type" in hyperparams or "action_noise" in hyperparams or hyperparams.get("ou_sigma") == 0
            type(self).search_space = {k: v for k, v in DEFAULT_SEARCH_SPACE.items() if not (own_noise and k == "ou_sigma")}
        return hyperparams, saved_hyperparams

    def _preprocess_hyperparams(self, hyperparams: dict[str, Any]) -> tuple[dict[str, Any], Any, Any, Any]:
        result = super()._preprocess_hyperparams(hyperparams)
        if self.algo == ALGO:  # before any folder or env is made: a run that cannot make a gradient step
            check_run_budget(result[0], self.n_timesteps, "n_timesteps (-n)", self.n_envs)
        if self._eval_env_kwargs_args is None:
            # rl-zoo3 gives a config's env_kwargs to the training envs only (unless --env-kwargs is also passed):
            # the evaluation env must render too (zoo_configs/paper_ddpg_pixels.yml).
            self.eval_env_kwargs = self.env_kwargs
        return result

    def learn(self, model: Any) -> None:
        """rl-zoo3's ``learn``; a run that ends without a gradient step is an error, as in ``sb3-ddpg train``."""
        with warnings.catch_warnings():
            warnings.simplefilter("error", NoGradientStep)
            try:
                super().learn(model)
            except NoGradientStep as e:
                raise UserError(str(e).removeprefix("PaperDDPG.learn: ")) from e

    def save_trained_model(self, model: Any) -> None:
        super().save_trained_model(model)  # rl-zoo3 saves a run ended by Ctrl-C: then exit as ``sb3-ddpg train`` does
        if self.interrupted:
            raise Interrupted(interrupted_message(model.num_timesteps, self.save_path))

    @staticmethod
    def is_robotics_env(env_id: str) -> bool:
        # rl-zoo3 looks for gym's old robotics module: gymnasium-robotics' goal envs get their success rate logged too
        entry_point = str(ExperimentManager.entry_point(env_id))
        return ExperimentManager.is_robotics_env(env_id) or entry_point.startswith("gymnasium_robotics.")


def configured_envs(config: str) -> list[str]:
    """The env ids of an rl-zoo3 YAML config."""
    with open(config) as f:
        return sorted(yaml.safe_load(f) or {})


def sample_paper_ddpg_params(trial: Any, n_actions: int, n_envs: int, additional_args: dict) -> dict[str, Any]:
    """rl-zoo3 sampler: tau, actor and critic learning rates and OU sigma (dt stays 1); not OU sigma where the config
    brings its own noise (``PaperExperimentManager.search_space``)."""
    return sample_params(trial, PaperExperimentManager.search_space)


def convert_paper_ddpg_params(params: dict[str, Any]) -> dict[str, Any]:
    """rl-zoo3 converter for ``--trial-id``: the trial's parameter names are PaperDDPG arguments already."""
    return dict(params)


class ZooEvalAfterUpdates(EvalAfterUpdates):
    """rl-zoo3's evaluations (``EvalCallback`` in train, ``TrialEvalCallback`` in optimize), taken after the updates
    of the steps they are labelled with. rl-zoo3 passes ``eval_freq`` in callback calls (per env), turned into env
    steps once the model's ``n_envs`` is known; with a ``trial``, each evaluation is reported and may prune."""

    def __init__(self, eval_env: Any, trial: Any = None, eval_freq: int = 10_000, **kwargs: Any) -> None:
        super().__init__(eval_env, eval_every=eval_freq, **kwargs)
        self.trial, self.eval_idx, self.is_pruned = trial, 0, False

    def _init_callback(self) -> None:
        super()._init_callback()
        self.eval_every = self.next_evaluation = self.eval_every * self.model.n_envs

    def evaluate_if_due(self) -> None:
        done = len(self.evaluations_timesteps)
        super().evaluate_if_due()
        if self.trial is not None and len(self.evaluations_timesteps) > done:
            self.eval_idx += 1
            self.trial.report(self.last_mean_reward, self.eval_idx)
            self.is_pruned = self.stop = self.stop or self.trial.should_prune()


@contextlib.contextmanager
def registered(argv: list[str], enjoy: bool = False, interrupted: list[bool] | None = None) -> Iterator[None]:
    """``paper_ddpg`` in rl-zoo3's registries and ``argv`` as ``sys.argv``, for the duration of the block only;
    ``interrupted`` is where Ctrl-C presses are noted."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(
            mock.patch.object(PaperExperimentManager, "interrupted", [] if interrupted is None else interrupted)
        )
        stack.enter_context(mock.patch.dict(ALGOS, {ALGO: EnjoyPaperDDPG if enjoy else PaperDDPG}))
        stack.enter_context(mock.patch.object(PaperExperimentManager, "search_space", dict(DEFAULT_SEARCH_SPACE)))
        stack.enter_context(mock.patch.dict(HYPERPARAMS_SAMPLER, {ALGO: sample_paper_ddpg_params}))
        stack.enter_context(mock.patch.dict(HYPERPARAMS_CONVERTER, {ALGO: convert_paper_ddpg_params}))
        stack.enter_context(mock.patch.object(rl_zoo3.train, "ExperimentManager", PaperExperimentManager))
        for name in ("EvalCallback", "TrialEvalCallback"):  # evaluations after the updates (callbacks.EvalAfterUpdates)
            stack.enter_context(mock.patch.object(rl_zoo3.exp_manager, name, ZooEvalAfterUpdates))
        stack.enter_context(mock.patch.object(sys, "argv", argv))
        if enjoy:
            patch_enjoy(stack)
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
        register_robotics_envs(_env_id(args))  # imported here first: rl-zoo3's import of it then prints nothing
        args += ["--gym-packages", "gymnasium_robotics"]
    return args


def check_params_flag(args: list[str]) -> None:
    """rl-zoo3's ``-params KEY:VALUE ...`` evaluates each VALUE as Python: a bare word (a typo, or an unquoted string)
    would end in a NameError traceback, and an unknown KEY in a TypeError. Both are one line here."""
    flags = {"-params", "--hyperparams"}
    i = next((k for k, a in enumerate(args) if a in flags), None)
    if i is None:
        return
    for pair in itertools.takewhile(lambda a: not a.startswith("-"), args[i + 1 :]):
        key, sep, value = pair.partition(":")
        if not sep:
            raise UserError(f"-params {pair!r} is not KEY:VALUE, e.g. -params tau:0.005")
        check_names([key], "-params", extra=ZOO_KEYS)
        if re.fullmatch(r"[A-Za-z_]\w*", value) and value not in ("True", "False", "None"):
            raise UserError(
                f"-params {pair}: rl-zoo3 reads {value!r} as Python code; quote a string ({key}:\"'{value}'\") "
                "or give a number"
            )


def flag_values(args: list[str], flag: str) -> list[str]:
    """The values of ``flag`` in rl-zoo3's arguments (``--env X`` or ``--env=X``; several after ``--gym-packages``)."""
    for i, arg in enumerate(args):
        if arg.startswith(f"{flag}="):
            return [arg.partition("=")[2]]
        if arg == flag:
            return list(itertools.takewhile(lambda a: not a.startswith("-"), args[i + 1 :]))
    return []


def check_env_flag(args: list[str]) -> None:
    """``--env``: a registered id (after importing ``--gym-packages``, as rl-zoo3 does), or one line with gymnasium's
    suggestion, instead of rl-zoo3's traceback."""
    for module in flag_values(args, "--gym-packages"):
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise UserError(f"--gym-packages {module}: cannot import it ({e})") from None
    for env_id in flag_values(args, "--env")[:1]:
        check_env_id(env_id)


USAGE = f"""usage: sb3-ddpg zoo {{{",".join(COMMANDS)}}} [rl-zoo3 flags]

rl-zoo3's train, enjoy and optimize with the paper_ddpg algorithm. --algo paper_ddpg and, for train and optimize,
-conf <the shipped zoo_configs/paper_ddpg.yml> are added when not given. 'sb3-ddpg zoo train --help' lists rl-zoo3's
flags. --threads N (default 1) sets torch's thread count.

  sb3-ddpg zoo train --env Pendulum-v1 -n 20000 -f logs
  sb3-ddpg zoo enjoy --env Pendulum-v1 -f logs --no-render
  sb3-ddpg zoo optimize --env Pendulum-v1 --n-trials 20 --storage logs/study.log"""


def check_config_file(args: list[str]) -> None:
    """``-conf FILE``: a YAML file that exists and parses to env entries, or a Python file or module rl-zoo3 can read."""
    flags = {"-conf", "--conf-file"}
    i = next((k for k, a in enumerate(args) if a in flags), None)
    if i is None:
        return
    if i + 1 >= len(args):
        raise UserError(f"{args[i]} needs a file: the paper's settings are {default_zoo_config()}")
    config = args[i + 1]
    if config.endswith((".yml", ".yaml", ".py")) and not Path(config).is_file():
        raise UserError(f"{args[i]} {config}: no such file (the paper's settings: {default_zoo_config()})")
    if config.endswith((".yml", ".yaml")):
        try:
            entries = yaml.safe_load(Path(config).read_text())
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(e, "problem", None) or str(e).splitlines()[0]
            raise UserError(f"{args[i]} {config} is not valid YAML{where}: {problem}") from None
        except OSError as e:
            raise UserError(f"{args[i]} {config} cannot be read: {e.strerror or e}") from None
        if not isinstance(entries, dict):
            raise UserError(
                f"{args[i]} {config} must map env ids to hyperparameters (Pendulum-v1: {{...}}), "
                f"got a {type(entries).__name__}"
            )
    elif Path(config).exists():
        raise UserError(f"{args[i]} {config}: rl-zoo3 reads a .yml/.yaml file or a Python module, not this file")
    elif not config.endswith(".py") and importlib.util.find_spec(config.split(".")[0]) is None:
        raise UserError(f"{args[i]} {config}: no such YAML file or Python module")


@contextlib.contextmanager
def noting_interrupts() -> Iterator[list[bool]]:
    """rl-zoo3 catches Ctrl-C (KeyboardInterrupt) in train, enjoy and optimize and carries on: note each one, so the
    command can exit with code 130 as every sb3-ddpg command does."""
    noted: list[bool] = []

    def interrupt(signum: int, frame: Any) -> None:
        noted.append(True)
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():  # only the main thread receives signals
        yield noted
        return
    previous = signal.signal(signal.SIGINT, interrupt)
    try:
        yield noted
    finally:
        signal.signal(signal.SIGINT, previous)


def main(argv: list[str]) -> int:
    """``sb3-ddpg zoo {train,enjoy,optimize} [rl-zoo3 flags]``; a UserError reaches the CLI, and so does Ctrl-C
    (Interrupted once a trained model is saved, KeyboardInterrupt otherwise)."""
    if argv[:1] in (["-h"], ["--help"]):
        print(USAGE)
        return 0
    if not argv or argv[0] not in COMMANDS:
        raise UserError(
            f"give one of {', '.join(COMMANDS)}, e.g. sb3-ddpg zoo train --env Pendulum-v1 (see sb3-ddpg zoo --help)"
        )
    command, rest = argv[0], argv[1:]
    check_params_flag(rest)
    check_config_file(rest)
    check_env_flag(rest)
    with noting_interrupts() as interrupted:
        try:
            if command == "enjoy":
                with registered(["sb3-ddpg zoo enjoy", *_with_defaults(rest, config=False)], True, interrupted):
                    rl_zoo3.enjoy.enjoy()
            else:
                extra = ["-optimize"] if command == "optimize" and "-optimize" not in rest else []
                with registered([f"sb3-ddpg zoo {command}", *_with_defaults(rest + extra, config=True)], False, interrupted):
                    rl_zoo3.train.train()
        except (Interrupted, UserError):
            raise
        except Exception:
            if not interrupted:
                raise
            # rl-zoo3 went on after Ctrl-C and failed on what it cut short (optimize: "No trials are completed yet")
    if interrupted:
        raise KeyboardInterrupt
    return 0


if __name__ == "__main__":
    print(
        "python -m sb3_ddpg_ext.zoo runs nothing: run sb3-ddpg zoo {train,enjoy,optimize} ... "
        "(or python -m sb3_ddpg_ext zoo ...)",
        file=sys.stderr,
    )
    sys.exit(2)
