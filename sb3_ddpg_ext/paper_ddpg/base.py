"""PaperDDPG's interface with SB3, apart from the algorithm: which arguments are the paper's, how they are checked,
one learning-rate schedule per network, and files saved and loaded atomically and checked.

``paper_ddpg.PaperDDPG`` subclasses :class:`PaperDDPGBase` and holds the algorithm itself (constructor, exploration,
Algorithm 1). Nothing here learns.
"""

import inspect
import io
import pathlib
from collections.abc import Iterable
from typing import Any, ClassVar, TypeVar

import torch as th
from gymnasium.envs.registration import EnvSpec
from stable_baselines3.common.type_aliases import GymEnv, Schedule
from stable_baselines3.common.utils import FloatSchedule, update_learning_rate
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.td3 import TD3

from sb3_ddpg_ext.paper_ddpg.checks import check_action_space, check_hyperparameters
from sb3_ddpg_ext.paper_ddpg.loading import (
    apply_load_overrides,
    load_replay_buffer_checked,
    prepare_load,
    set_parameters_checked,
)
from sb3_ddpg_ext.paper_ddpg.pixels import pixel_hyperparameters
from sb3_ddpg_ext.paper_ddpg.save_util import (
    normalization_state,
    read_saved_data,
    recorded_env_spec,
    save_atomically,
    shortest_time_limit,
    training_env_spec,
)

SelfPaperDDPG = TypeVar("SelfPaperDDPG", bound="PaperDDPGBase")


class PaperDDPGBase(TD3):
    """TD3 with PaperDDPG's argument introspection, two learning-rate schedules and checked, atomic files."""

    critic_learning_rate: float | Schedule
    critic_lr_schedule: Schedule
    observation_normalization: dict[str, Any] | None

    # The constructor arguments whose defaults are the paper's section 7 values. Their defaults are the single
    # source of those values: error messages, the tuning study's enqueued paper trial and zoo exports derive from them.
    PAPER_HYPERPARAMETERS: ClassVar[tuple[str, ...]] = (
        "actor_learning_rate",
        "critic_learning_rate",
        "critic_weight_decay",
        "buffer_size",
        "learning_starts",
        "batch_size",
        "tau",
        "gamma",
        "train_freq",
        "gradient_steps",
        "ou_sigma",
        "ou_theta",
    )

    @classmethod
    def hyperparameter_defaults(cls) -> dict[str, Any]:
        """Every constructor argument a config, CLI override or study may set, with its default."""
        parameters = inspect.signature(cls.__init__).parameters
        return {k: p.default for k, p in parameters.items() if k not in ("self", "policy", "env", "_init_setup_model")}

    @classmethod
    def paper_hyperparameters(cls) -> dict[str, Any]:
        """The paper's values (section 7), read from the constructor defaults."""
        defaults = cls.hyperparameter_defaults()
        return {name: defaults[name] for name in cls.PAPER_HYPERPARAMETERS}

    pixel_hyperparameters = staticmethod(pixel_hyperparameters)  # section 7's pixel settings (pixels.py)

    @classmethod
    def check_hyperparameters(cls, **hp: Any) -> dict[str, Any]:
        """Check the arguments given (any subset of the constructor's) without building anything: one TypeError or
        ValueError per mistake, naming the argument and the fix (``checks.py``). Returns them with integral floats of
        integer arguments as ints. The command line, zoo configs and study specs run it where their values enter."""
        return check_hyperparameters(hp, cls.paper_hyperparameters(), cls.hyperparameter_defaults())

    @staticmethod
    def _wrap_env(env: GymEnv, verbose: int = 0, monitor_wrapper: bool = True) -> VecEnv:
        # SB3 only asserts on the action space; check it first and say how to fix it (also on set_env).
        check_action_space(env.action_space)
        return TD3._wrap_env(env, verbose, monitor_wrapper)

    def _setup_lr_schedule(self) -> None:
        self.lr_schedule = FloatSchedule(self.learning_rate)
        self.critic_lr_schedule = FloatSchedule(self.critic_learning_rate)

    def _update_learning_rate(self, optimizers: list[th.optim.Optimizer] | th.optim.Optimizer) -> None:
        # TD3 sets one schedule on both optimizers; the paper has one learning rate per network.
        actor_lr = self.lr_schedule(self._current_progress_remaining)
        critic_lr = self.critic_lr_schedule(self._current_progress_remaining)
        update_learning_rate(self.actor.optimizer, actor_lr)
        update_learning_rate(self.critic.optimizer, critic_lr)
        self.logger.record("train/actor_learning_rate", actor_lr)
        self.logger.record("train/critic_learning_rate", critic_lr)

    def _record_env(self, env: GymEnv | str | None) -> None:
        """Saved with the model: the training env's gymnasium id (``env_id``; ``sb3-ddpg evaluate`` reads it) and,
        where the env was made with other kwargs, time limit or wrappers than its id gives, its spec (``env_spec``,
        gymnasium's JSON), so that :meth:`training_env_spec` remakes that env and not the id's default one."""
        self.env_spec: str | None = None
        self.env_spec_unsaved: str | None = None  # why the spec could not be saved, if so
        try:
            spec = self.env.get_attr("spec", [0])[0] if self.env is not None else None
        except AttributeError:
            spec = None
        self.env_id: str | None = env if isinstance(env, str) else getattr(spec, "id", None)
        if spec is not None and not isinstance(env, str):
            self.env_spec, self.env_spec_unsaved = recorded_env_spec(spec, shortest_time_limit(self.env))

    def training_env_spec(self) -> EnvSpec | None:
        """The spec of the env this model was trained on, for ``gym.make(model.training_env_spec())``: the recorded one
        where it was made with other kwargs, time limit or wrappers than its id gives, else the id's registered spec
        (None without an id). A ValueError says so when that env was made with values that could not be saved."""
        return training_env_spec(self.__dict__)

    read_saved_data = staticmethod(read_saved_data)

    def save(
        self,
        path: str | pathlib.Path | io.BufferedIOBase,
        exclude: Iterable[str] | None = None,
        include: Iterable[str] | None = None,
    ) -> None:
        """SB3's ``save``, atomic for a path: a kill or a full disk mid-save leaves the previous file, not a truncated one.

        The observation statistics of the env's VecNormalize (where there is one) are saved with the model
        (``observation_normalization``): ``sb3-ddpg evaluate`` normalizes with them when vecnormalize.pkl is missing.
        """
        if self.get_vec_normalize_env() is not None:  # else keep what a loaded model brought
            self.observation_normalization = normalization_state(self.get_vec_normalize_env())
        save = super().save
        save_atomically(path, lambda target: save(target, exclude, include), ".zip")

    def save_replay_buffer(self, path: str | pathlib.Path | io.BufferedIOBase) -> None:
        """SB3's ``save_replay_buffer``, atomic for a path (``.pkl`` appended when the name has no suffix)."""
        save_atomically(path, super().save_replay_buffer, ".pkl")

    @classmethod
    def load(
        cls: type[SelfPaperDDPG],
        path: str | pathlib.Path | io.BufferedIOBase,
        env: GymEnv | None = None,
        device: th.device | str = "auto",
        custom_objects: dict[str, Any] | None = None,
        print_system_info: bool = False,
        force_reset: bool = True,
        **kwargs: Any,
    ) -> SelfPaperDDPG:
        """SB3's ``load``, after checking that the file holds a PaperDDPG (not another algorithm's model) and that
        ``env`` has the spaces the model was trained on. Each mistake raises one ValueError naming it.

        Values given in ``custom_objects`` or as keywords take effect or are refused: they are checked as the
        constructor checks them, PaperDDPG's names are accepted (``actor_learning_rate``), and what the constructor
        derives from them (the OU noise, the critic's weight decay, the optimizers' learning rates) follows."""
        custom_objects, kwargs = dict(custom_objects or {}), dict(kwargs)
        paper, defaults = cls.paper_hyperparameters(), cls.hyperparameter_defaults()
        overrides = prepare_load(path, env, custom_objects, kwargs, paper, defaults)  # loading.py
        model = super().load(path, env, device, custom_objects, print_system_info, force_reset, **kwargs)
        apply_load_overrides(model, overrides)
        return model

    def set_parameters(
        self,
        load_path_or_dict: str | pathlib.Path | io.BufferedIOBase | dict[str, Any],
        exact_match: bool = True,
        device: th.device | str = "auto",
    ) -> None:
        """SB3's ``set_parameters``, all or nothing: a file saved by another algorithm, or parameters of other networks
        (another ``net_arch``, no batch norm), raise one ValueError and leave the model as it was."""
        set_parameters = super().set_parameters
        set_parameters_checked(self, load_path_or_dict, lambda source: set_parameters(source, exact_match, device))

    def load_replay_buffer(self, path: str | pathlib.Path | io.BufferedIOBase, truncate_last_traj: bool = True) -> None:
        """SB3's ``load_replay_buffer``; a file that holds no replay buffer, or one of another env (spaces or number
        of envs), is refused with one ValueError and the model keeps its buffer."""
        load = super().load_replay_buffer
        load_replay_buffer_checked(self, path, lambda: load(path, truncate_last_traj))
